#include "retrieval/chunker.h"

#include <algorithm>
#include <deque>
#include <optional>
#include <vector>

#include "core/error.h"
#include "retrieval/text_units.h"
#include "retrieval/utf8.h"

namespace rpu::retrieval {
namespace {

// A paragraph of a section, shared by the units cut from it until the last of them is emitted.
struct Paragraph {
  std::string text;
  SourceSpan span;

  // The source offset of text position `pos`: exact when the paragraph is its source bytes
  // verbatim (same length), else interpolated over its span.
  uint64_t source_offset(std::size_t pos) const {
    if (span.end - span.begin == text.size()) return span.begin + pos;
    if (text.empty()) return span.begin;
    return span.begin + static_cast<uint64_t>(static_cast<double>(span.end - span.begin) * pos / text.size());
  }
};

// A piece of a paragraph that goes into a chunk whole: the paragraph itself, a sentence, a
// word or a few characters.
struct Unit {
  std::shared_ptr<const Paragraph> paragraph;
  TextRange range;
  int tokens = 0;
};

// The paragraphs of a section's text (split at "\n\n") with their source spans: the reader's,
// when it gave one per paragraph, else interpolated over the section's byte range.
std::vector<std::shared_ptr<const Paragraph>> paragraphs_of(Section&& section) {
  std::vector<TextRange> ranges;
  const std::string& text = section.text;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find("\n\n", pos);
    if (end == std::string::npos) end = text.size();
    std::size_t b = pos, e = end;
    while (b < e && (text[b] == '\n' || text[b] == '\r')) ++b;
    if (b < e) ranges.push_back({b, e});
    pos = end + 2;
  }
  const bool spans_given = section.paragraph_spans.size() == ranges.size();
  const uint64_t length = section.byte_end > section.byte_begin ? section.byte_end - section.byte_begin : 0;
  std::vector<std::shared_ptr<const Paragraph>> out;
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    auto p = std::make_shared<Paragraph>();
    p->text = text.substr(ranges[i].begin, ranges[i].size());
    if (spans_given) {
      p->span = section.paragraph_spans[i];
    } else {
      const auto at = [&](std::size_t k) {
        return section.byte_begin + (text.empty() ? 0 : static_cast<uint64_t>(static_cast<double>(length) * k / text.size()));
      };
      p->span = {at(ranges[i].begin), at(ranges[i].end)};
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

struct Chunker::Impl {
  DocumentInfo info;
  ChunkOptions options;
  TokenCounter count;
  std::function<void(Chunk&&)> emit;

  bool in_run = false;
  std::string heading_path;
  int page = 0;
  std::vector<Unit> units;  // the chunk being filled: `carried` units of overlap, then new ones
  std::size_t carried = 0;
  int estimate = 0;         // tokens of the units and the gaps between them, counted one by one
  int ordinal = 0;
  int paragraph_gap_tokens = 0;  // count("\n\n")

  int tokens(const std::shared_ptr<const Paragraph>& p, TextRange r) const {
    return count(std::string_view(p->text).substr(r.begin, r.size()));
  }
  int gap_tokens(const Unit& before, const Unit& after) const;
  void start_run(const Section& section);
  void add_paragraph(const std::shared_ptr<const Paragraph>& p);
  void split(const std::shared_ptr<const Paragraph>& p, TextRange range, int level);
  void hard_split(const std::shared_ptr<const Paragraph>& p, TextRange range);
  void push(Unit unit);
  void drop_front();
  void emit_chunk();
  std::string text_of(std::size_t n) const;
  std::vector<Unit> tail(const std::vector<Unit>& from, int budget) const;
  void recount();
};

int Chunker::Impl::gap_tokens(const Unit& before, const Unit& after) const {
  if (before.paragraph != after.paragraph) return paragraph_gap_tokens;
  return count(std::string_view(after.paragraph->text).substr(before.range.end, after.range.begin - before.range.end));
}

void Chunker::Impl::start_run(const Section& section) {
  while (units.size() > carried) emit_chunk();  // units given back by a full chunk come out too
  units.clear();
  carried = 0;
  estimate = 0;
  in_run = true;
  heading_path = section.heading_path;
  page = section.page;
}

void Chunker::Impl::add_paragraph(const std::shared_ptr<const Paragraph>& p) {
  const TextRange all{0, p->text.size()};
  const int n = tokens(p, all);
  if (n <= options.max_tokens) return push({p, all, n});
  split(p, all, 0);
}

// level 0: sentences, 1: words, 2: characters. A level that does not divide the range at all
// goes straight to the next one.
void Chunker::Impl::split(const std::shared_ptr<const Paragraph>& p, TextRange range, int level) {
  if (level >= 2) return hard_split(p, range);
  const std::vector<TextRange> pieces = level == 0 ? sentence_ranges(p->text, range) : word_ranges(p->text, range);
  if (pieces.size() <= 1) return split(p, pieces.empty() ? range : pieces[0], level + 1);
  for (const TextRange& piece : pieces) {
    const int n = tokens(p, piece);
    if (n <= options.max_tokens) {
      push({p, piece, n});
    } else {
      split(p, piece, level + 1);
    }
  }
}

// The longest run of whole characters that fits, by binary search over character ends (a
// counter is monotonic enough for this), then the same for the rest. The search looks at a
// window that starts at a few bytes per token and doubles while all of it fits, so a long
// paragraph with no spaces costs a few counts of about a chunk's length per piece, not of the
// whole paragraph.
void Chunker::Impl::hard_split(const std::shared_ptr<const Paragraph>& p, TextRange range) {
  while (range.begin < range.end) {
    std::size_t window = static_cast<std::size_t>(options.max_tokens) * 4;
    std::size_t best = 0;
    while (true) {
      TextRange span{range.begin, range.end};
      if (range.begin + window < range.end) {  // a window ending on a character boundary, at least one character
        span.end = std::max(utf8_floor(p->text, range.begin + window), range.begin + utf8_char_length(p->text, range.begin));
      }
      const std::vector<std::size_t> ends = char_ends(p->text, span);
      std::size_t lo = 0, hi = ends.size() - 1;  // ends[lo] always taken, even if it alone is too big
      while (lo < hi) {
        const std::size_t mid = (lo + hi + 1) / 2;
        if (tokens(p, {range.begin, ends[mid]}) <= options.max_tokens) {
          lo = mid;
        } else {
          hi = mid - 1;
        }
      }
      best = ends[lo];
      if (lo + 1 < ends.size() || span.end == range.end) break;  // found the edge, or nothing more to try
      window *= 2;
    }
    const TextRange piece{range.begin, best};
    push({p, piece, tokens(p, piece)});
    range.begin = best;
  }
}

void Chunker::Impl::drop_front() {
  units.erase(units.begin());
  --carried;
  recount();
}

void Chunker::Impl::recount() {
  estimate = 0;
  for (std::size_t i = 0; i < units.size(); ++i) estimate += units[i].tokens + (i > 0 ? gap_tokens(units[i - 1], units[i]) : 0);
}

void Chunker::Impl::push(Unit unit) {
  const auto cost = [&] { return units.empty() ? unit.tokens : estimate + gap_tokens(units.back(), unit) + unit.tokens; };
  // Emit while there is new text in the way; the overlap then gives way (from its front) until
  // the unit fits. Each step emits a unit or drops one, so this ends.
  while (!units.empty() && cost() > options.max_tokens) {
    if (units.size() > carried) {
      emit_chunk();
    } else {
      drop_front();
    }
  }
  estimate = cost();
  units.push_back(std::move(unit));
}

// The text of the first n units: a paragraph's units as its own bytes from the first to the
// last, paragraphs joined by "\n\n".
std::string Chunker::Impl::text_of(std::size_t n) const {
  std::string out;
  std::size_t i = 0;
  while (i < n) {
    std::size_t j = i;
    while (j + 1 < n && units[j + 1].paragraph == units[i].paragraph) ++j;
    if (!out.empty()) out += "\n\n";
    const std::string_view text = units[i].paragraph->text;
    out += text.substr(units[i].range.begin, units[j].range.end - units[i].range.begin);
    i = j + 1;
  }
  return out;
}

void Chunker::Impl::emit_chunk() {
  // The estimate adds counts piece by piece; a real tokenizer may merge across a join, so check
  // the whole text and give back units (to the next chunk) or overlap until it fits.
  std::size_t n = units.size();
  std::string text = text_of(n);
  int total = count(text);
  while (total > options.max_tokens && (n > carried + 1 || carried > 0)) {
    if (n > carried + 1) {
      --n;
    } else {
      units.erase(units.begin());
      --carried;
      --n;
    }
    text = text_of(n);
    total = count(text);
  }
  std::vector<Unit> spill(units.begin() + static_cast<std::ptrdiff_t>(n), units.end());
  units.resize(n);
  Chunk chunk;
  chunk.text = std::move(text);
  chunk.title = info.title;
  chunk.heading_path = heading_path;
  chunk.byte_begin = units.front().paragraph->source_offset(units.front().range.begin);
  // Approximate spans (HTML line numbers) need not be in order; a chunk's range is never inverted.
  chunk.byte_end = std::max(chunk.byte_begin, units.back().paragraph->source_offset(units.back().range.end));
  chunk.page_begin = chunk.page_end = page;
  chunk.n_tokens = total;
  chunk.ordinal = ordinal++;
  emit(std::move(chunk));

  units = tail(units, options.overlap_tokens);
  carried = units.size();
  recount();
  for (Unit& u : spill) push(std::move(u));
}

// The last units of `from` worth at most `budget` tokens: whole units while they fit, then the
// last sentences of the first unit that does not, then the last words of the first sentence
// that does not.
std::vector<Unit> Chunker::Impl::tail(const std::vector<Unit>& from, int budget) const {
  std::deque<Unit> taken;
  int used = 0;
  const auto take = [&](const Unit& u) {
    const int gap = taken.empty() ? 0 : gap_tokens(u, taken.front());
    if (used + gap + u.tokens > budget) return false;
    taken.push_front(u);
    used += gap + u.tokens;
    return true;
  };
  const auto piece = [&](const Unit& of, TextRange r) { return Unit{of.paragraph, r, tokens(of.paragraph, r)}; };
  for (auto it = from.rbegin(); it != from.rend() && budget > 0; ++it) {
    if (take(*it)) continue;
    const std::vector<TextRange> sentences = sentence_ranges(it->paragraph->text, it->range);
    for (auto s = sentences.rbegin(); s != sentences.rend(); ++s) {
      if (take(piece(*it, *s))) continue;
      const std::vector<TextRange> words = word_ranges(it->paragraph->text, *s);
      for (auto w = words.rbegin(); w != words.rend() && take(piece(*it, *w)); ++w) {
      }
      break;
    }
    break;
  }
  return {taken.begin(), taken.end()};
}

Chunker::Chunker(const DocumentInfo& info, ChunkOptions options, TokenCounter count, std::function<void(Chunk&&)> emit)
    : impl_(std::make_unique<Impl>()) {
  if (options.max_tokens < 1) fail("chunker: max_tokens must be at least 1, got {}", options.max_tokens);
  options.overlap_tokens = std::clamp(options.overlap_tokens, 0, options.max_tokens / 2);
  impl_->info = info;
  impl_->options = options;
  impl_->count = std::move(count);
  impl_->emit = std::move(emit);
  impl_->paragraph_gap_tokens = impl_->count("\n\n");
}

Chunker::~Chunker() = default;

void Chunker::add(Section&& section) {
  Impl& s = *impl_;
  const bool same_run = s.in_run && section.continues && section.heading_path == s.heading_path && section.page == s.page;
  if (!same_run) s.start_run(section);
  for (const auto& p : paragraphs_of(std::move(section))) s.add_paragraph(p);
}

void Chunker::finish() {
  Impl& s = *impl_;
  while (s.units.size() > s.carried) s.emit_chunk();  // units given back by a full chunk come out too
  s.units.clear();
  s.carried = 0;
  s.in_run = false;
}

DocumentInfo chunk_document(const std::filesystem::path& path, ReadOptions read_options, ChunkOptions chunk_options,
                            const TokenCounter& count, const std::function<void(Chunk&&)>& emit) {
  std::optional<Chunker> chunker;
  auto on_start = read_options.on_start;
  read_options.on_start = [&](const DocumentInfo& info) {
    if (on_start) on_start(info);
    chunker.emplace(info, chunk_options, count, emit);
  };
  DocumentInfo info = read_document(path, read_options, [&](Section&& section) { chunker->add(std::move(section)); });
  if (chunker) chunker->finish();
  return info;
}

}  // namespace rpu::retrieval
