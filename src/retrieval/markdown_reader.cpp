// .md: ATX (`# A`) and setext (`A` over `===` / `---`) headings make the heading path
// ("A > B > C"); everything else is text, kept verbatim (code fences included), and a heading
// inside a fenced code block is code, not a heading. Only what shapes sections is parsed:
// inline markup stays as written, since it is what a reader of the source sees. The title is
// the front matter's `title:`, else the first level-1 heading.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "core/text.h"
#include "retrieval/line_reader.h"
#include "retrieval/readers.h"
#include "retrieval/section_builder.h"
#include "retrieval/utf8.h"

namespace rpu::retrieval {
namespace {

// Leading spaces up to `max` (more means an indented code block, never a heading or a fence).
std::size_t indent(std::string_view line) {
  std::size_t n = 0;
  while (n < line.size() && line[n] == ' ') ++n;
  return n;
}

// "# Title #" -> level 1, "Title"; 0 when the line is not an ATX heading.
int atx_heading(std::string_view line, std::string& text) {
  const std::size_t lead = indent(line);
  if (lead > 3) return 0;
  line.remove_prefix(lead);
  std::size_t level = 0;
  while (level < line.size() && line[level] == '#') ++level;
  if (level == 0 || level > 6) return 0;
  if (level < line.size() && line[level] != ' ' && line[level] != '\t') return 0;  // "#tag"
  std::string_view rest = trim_ascii(line.substr(level));
  // An optional closing run of '#' preceded by a space ("## A ##"); a lone run is an empty heading.
  const std::size_t closing = rest.find_last_not_of('#');
  if (closing == std::string_view::npos) {
    rest = {};
  } else if (closing + 1 < rest.size() && (rest[closing] == ' ' || rest[closing] == '\t')) {
    rest = trim_ascii(rest.substr(0, closing));
  }
  text.assign(rest);
  return static_cast<int>(level);
}

// A line of one repeated character (`c`), at least `min` long, spaces allowed between when
// `spaced` (thematic breaks) and only after otherwise (setext underlines).
bool rule_of(std::string_view line, char c, std::size_t min, bool spaced) {
  if (indent(line) > 3) return false;
  line = trim_ascii(line);
  std::size_t count = 0;
  bool seen_space = false;
  for (char ch : line) {
    if (ch == c) {
      if (seen_space && !spaced) return false;
      ++count;
    } else if (ch == ' ' || ch == '\t') {
      seen_space = true;
    } else {
      return false;
    }
  }
  return count >= min;
}

// A list item or block quote line, which a following `---` does not turn into a heading.
bool list_or_quote(std::string_view line) {
  line = trim_ascii(line);
  if (line.starts_with("- ") || line.starts_with("* ") || line.starts_with("+ ") || line.starts_with(">")) return true;
  std::size_t digits = 0;
  while (digits < line.size() && line[digits] >= '0' && line[digits] <= '9') ++digits;
  return digits > 0 && digits + 1 < line.size() && (line[digits] == '.' || line[digits] == ')') && line[digits + 1] == ' ';
}

struct PendingLine {
  std::string text;
  uint64_t begin;
};

class MarkdownParser {
 public:
  MarkdownParser(SectionBuilder* builder, std::size_t max_heading_bytes, uint64_t max_paragraph_bytes)
      : builder_(builder), max_heading_bytes_(max_heading_bytes), max_paragraph_bytes_(max_paragraph_bytes) {}

  void line(const Line& line);
  void finish() { flush_paragraph(); }
  const std::string& first_h1() const { return first_h1_; }
  bool have_h1() const { return have_h1_; }

 private:
  void code_line(const Line& line);
  void heading(int level, std::string_view text);
  void flush_paragraph();

  SectionBuilder* builder_;  // null when only looking for the title
  std::size_t max_heading_bytes_;
  uint64_t max_paragraph_bytes_;
  // The open fence ("```" or "~~~", at least this long), or none.
  char fence_char_ = 0;
  std::size_t fence_length_ = 0;
  // The paragraph so far, held back because a setext underline may yet make it a heading.
  std::vector<PendingLine> pending_;
  uint64_t pending_bytes_ = 0;
  std::vector<std::pair<int, std::string>> headings_;  // the open headings, by level
  std::string first_h1_;
  bool have_h1_ = false;
};

void MarkdownParser::line(const Line& line) {
  if (line.cut || line.continued) {  // a piece of an over-long line is text, whatever it starts with
    flush_paragraph();
    if (builder_ != nullptr) {
      builder_->add_line(line.text, line.begin);
      builder_->end_paragraph();
    }
    return;
  }
  const std::string_view text = line.text;
  if (fence_char_ != 0) return code_line(line);
  if (is_blank(text)) return flush_paragraph();
  const std::size_t lead = indent(text);
  if (lead <= 3 && (text.substr(lead).starts_with("```") || text.substr(lead).starts_with("~~~"))) {
    flush_paragraph();
    fence_char_ = text[lead];
    fence_length_ = text.find_first_not_of(fence_char_, lead) == std::string_view::npos
                        ? text.size() - lead
                        : text.find_first_not_of(fence_char_, lead) - lead;
    if (builder_ != nullptr) builder_->add_line(text, line.begin);
    return;
  }
  std::string heading_text;
  if (const int level = atx_heading(text, heading_text)) {
    flush_paragraph();
    return heading(level, heading_text);
  }
  if (!pending_.empty() && !list_or_quote(pending_.back().text) &&
      (rule_of(text, '=', 1, false) || rule_of(text, '-', 1, false))) {
    std::string joined;  // CommonMark: every line of the paragraph is the heading
    for (const PendingLine& p : pending_) {
      if (!joined.empty()) joined += ' ';
      joined += trim_ascii(p.text);
    }
    pending_.clear();
    pending_bytes_ = 0;
    return heading(text.find('=') != std::string_view::npos ? 1 : 2, joined);
  }
  if (rule_of(text, '-', 3, true) || rule_of(text, '*', 3, true) || rule_of(text, '_', 3, true)) {
    return flush_paragraph();  // a thematic break (not a setext underline, checked above) separates, it says nothing
  }
  if (pending_bytes_ + text.size() > max_paragraph_bytes_) flush_paragraph();
  pending_.push_back({std::string(text), line.begin});
  pending_bytes_ += text.size() + 1;
}

void MarkdownParser::code_line(const Line& line) {
  const std::string_view text = line.text;
  const std::size_t lead = indent(text);
  const std::string_view body = text.substr(std::min(lead, text.size()));
  const bool closes = lead <= 3 && body.size() >= fence_length_ &&
                      body.find_first_not_of(fence_char_) >= fence_length_ &&
                      is_blank(body.substr(std::min(body.find_first_not_of(fence_char_), body.size())));
  if (builder_ != nullptr) {
    // A blank line inside code ends a paragraph like anywhere else, so paragraphs stay free of "\n\n".
    if (is_blank(text)) {
      builder_->end_paragraph();
    } else {
      builder_->add_line(text, line.begin);
    }
    if (closes) builder_->end_paragraph();
  }
  if (closes) fence_char_ = 0;
}

void MarkdownParser::heading(int level, std::string_view text) {
  const std::string name(utf8_truncate(text, max_heading_bytes_));
  if (name.empty()) return;
  if (level == 1 && !have_h1_) {
    first_h1_ = name;
    have_h1_ = true;
  }
  while (!headings_.empty() && headings_.back().first >= level) headings_.pop_back();
  headings_.emplace_back(level, name);
  if (builder_ == nullptr) return;
  std::string path;
  for (const auto& [_, h] : headings_) {
    if (!path.empty()) path += " > ";
    path += h;
  }
  builder_->start(std::move(path));
}

void MarkdownParser::flush_paragraph() {
  if (builder_ != nullptr) {
    for (const PendingLine& p : pending_) builder_->add_line(p.text, p.begin);
    builder_->end_paragraph();
  }
  pending_.clear();
  pending_bytes_ = 0;
}

// YAML front matter ("---" as the first line, up to a closing "---" or "..."), as static site
// generators use it: metadata, not text (its closing "---" would otherwise make the lines above
// it a setext heading). Its `title:` is the document's title. When no closing line comes within
// 64 KiB, the lines held back were text after all and are replayed.
class FrontMatter {
 public:
  // True when the line was taken (held as front matter); false when the parser should have it.
  bool take(const Line& line, MarkdownParser& parser);
  void finish(MarkdownParser& parser) { replay(parser); }
  const std::string& title() const { return title_; }

 private:
  void replay(MarkdownParser& parser);

  enum class State { kFirstLine, kInside, kDone } state_ = State::kFirstLine;
  std::vector<PendingLine> held_;
  uint64_t held_bytes_ = 0;
  std::string title_;
};

bool FrontMatter::take(const Line& line, MarkdownParser& parser) {
  if (state_ == State::kDone) return false;
  const std::string_view text = trim_ascii(line.text);
  if (state_ == State::kFirstLine) {
    state_ = !line.cut && text == "---" && line.text.starts_with("---") ? State::kInside : State::kDone;
    if (state_ == State::kDone) return false;
  } else if (line.cut || line.continued || held_bytes_ + line.text.size() > (64 << 10)) {
    replay(parser);
    return false;
  } else if (text == "---" || text == "...") {
    held_.clear();
    state_ = State::kDone;
    return true;
  } else if (line.text.starts_with("title:") && title_.empty()) {
    std::string_view value = trim_ascii(line.text.substr(6));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    title_ = value;
  }
  held_.push_back({std::string(line.text), line.begin});
  held_bytes_ += line.text.size() + 1;
  return true;
}

void FrontMatter::replay(MarkdownParser& parser) {
  if (state_ != State::kInside) return;
  state_ = State::kDone;
  title_.clear();
  uint64_t number = 1;
  for (const PendingLine& p : held_) {
    Line line;
    line.text = p.text;
    line.begin = p.begin;
    line.number = number++;
    parser.line(line);
  }
  held_.clear();
}

}  // namespace

void read_markdown(ReaderContext& ctx) {
  ctx.started();
  LineReader lines(ctx.file, &ctx.hash, ctx.options.buffer_bytes, ctx.options.max_section_bytes);
  SectionBuilder builder(ctx.options.max_section_bytes, ctx.emit);
  MarkdownParser parser(&builder, ctx.options.max_title_bytes, ctx.options.max_section_bytes);
  builder.start("");
  FrontMatter front_matter;
  Line line;
  while (lines.next(line)) {
    if (!front_matter.take(line, parser)) parser.line(line);
  }
  front_matter.finish(parser);
  parser.finish();
  builder.finish();
}

std::string markdown_title(std::string_view head) {
  MarkdownParser parser(nullptr, head.size(), head.size() + 1);
  FrontMatter front_matter;
  std::size_t pos = 0;
  uint64_t number = 0;
  // Only whole lines: the head may end in the middle of one.
  while (pos < head.size() && !parser.have_h1()) {
    const std::size_t eol = head.find('\n', pos);
    if (eol == std::string_view::npos) break;
    Line line;
    line.text = head.substr(pos, eol - pos);
    if (line.text.ends_with('\r')) line.text.remove_suffix(1);
    line.begin = pos;
    line.number = ++number;
    if (!front_matter.take(line, parser)) parser.line(line);
    pos = eol + 1;
  }
  front_matter.finish(parser);
  return front_matter.title().empty() ? parser.first_h1() : front_matter.title();
}

}  // namespace rpu::retrieval
