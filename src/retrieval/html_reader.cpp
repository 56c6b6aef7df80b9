// .html / .htm through libxml2's HTML parser (recovering from broken markup, no network, no
// messages): <title> (or the first <h1>) is the title, h1-h6 build the heading path, block
// elements (p, li, pre, blockquote, table rows, ...) end paragraphs, and script, style, nav and
// other non-content elements are skipped. Entities are decoded by the parser; text it produces
// is UTF-8, sanitised in case the input lied about its encoding. Source offsets are approximate:
// the start of the line libxml2 records for a node.
#include <libxml/HTMLparser.h>
#include <libxml/tree.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/text.h"
#include "retrieval/readers.h"
#include "retrieval/section_builder.h"
#include "retrieval/utf8.h"

namespace rpu::retrieval {
namespace {

bool name_is(const xmlNode* node, const char* name) {
  return node->name != nullptr && std::strcmp(reinterpret_cast<const char*>(node->name), name) == 0;
}

bool name_in(const xmlNode* node, std::initializer_list<const char*> names) {
  return std::any_of(names.begin(), names.end(), [&](const char* n) { return name_is(node, n); });
}

bool skipped(const xmlNode* node) {
  return name_in(node, {"script", "style", "nav", "noscript", "template", "head", "svg", "math", "canvas", "iframe",
                        "object", "select", "button"});
}

bool block(const xmlNode* node) {
  return name_in(node, {"p", "div", "li", "ul", "ol", "dl", "dt", "dd", "pre", "blockquote", "table", "tr", "thead",
                        "tbody", "tfoot", "caption", "figure", "figcaption", "section", "article", "main", "aside",
                        "header", "footer", "address", "details", "summary", "form", "fieldset", "hr", "body"});
}

int heading_level(const xmlNode* node) {
  const char* n = reinterpret_cast<const char*>(node->name);
  if (n != nullptr && (n[0] == 'h' || n[0] == 'H') && n[1] >= '1' && n[1] <= '6' && n[2] == '\0') return n[1] - '0';
  return 0;
}

// All text under `node` with whitespace collapsed (for headings and the title).
std::string node_text(xmlNode* node) {
  xmlChar* content = xmlNodeGetContent(node);
  if (content == nullptr) return "";
  std::string text = collapse_whitespace(reinterpret_cast<const char*>(content));
  xmlFree(content);
  return utf8_sanitize(text);
}

xmlNode* find_element(xmlNode* node, const char* name) {
  for (; node != nullptr; node = node->next) {
    if (node->type != XML_ELEMENT_NODE) continue;
    if (name_is(node, name)) return node;
    if (xmlNode* found = find_element(node->children, name)) return found;
  }
  return nullptr;
}

// Walks the tree in document order without recursion (a hostile file can nest deeply),
// collecting paragraphs into the section builder.
class HtmlWalker {
 public:
  HtmlWalker(SectionBuilder& builder, std::string_view source, std::size_t max_heading_bytes)
      : builder_(builder), max_heading_bytes_(max_heading_bytes) {
    line_starts_.push_back(0);
    for (std::size_t i = 0; i < source.size(); ++i) {
      if (source[i] == '\n') line_starts_.push_back(i + 1);
    }
    source_size_ = source.size();
  }

  void walk(xmlNode* root);

 private:
  bool enter(xmlNode* node);  // true for an element whose children are walked (and which is left)
  void leave(xmlNode* node);
  void text(xmlNode* node);
  void end_paragraph();
  uint64_t offset_of(const xmlNode* node) const;

  SectionBuilder& builder_;
  std::size_t max_heading_bytes_;
  std::vector<uint64_t> line_starts_;
  uint64_t source_size_ = 0;
  std::string paragraph_;
  uint64_t paragraph_begin_ = 0, paragraph_end_ = 0;
  uint64_t last_begin_ = 0;  // the previous paragraph's begin
  int pre_depth_ = 0;
  std::vector<std::pair<int, std::string>> headings_;
};

uint64_t HtmlWalker::offset_of(const xmlNode* node) const {
  const long line = xmlGetLineNo(node);
  if (line <= 0) return paragraph_end_;
  const auto index = std::min<std::size_t>(static_cast<std::size_t>(line - 1), line_starts_.size() - 1);
  return line_starts_[index];
}

void HtmlWalker::walk(xmlNode* root) {
  xmlNode* node = root;
  while (true) {
    const bool entered = enter(node);
    if (entered && node->children != nullptr) {
      node = node->children;
      continue;
    }
    if (entered) leave(node);
    // Up until there is a next sibling, leaving each element on the way.
    while (node != root && node->next == nullptr) {
      node = node->parent;
      leave(node);
    }
    if (node == root) return end_paragraph();
    node = node->next;
  }
}

bool HtmlWalker::enter(xmlNode* node) {
  if (node->type == XML_TEXT_NODE || node->type == XML_CDATA_SECTION_NODE) {
    text(node);
    return false;
  }
  if (node->type != XML_ELEMENT_NODE || skipped(node)) return false;  // comments, scripts, ...
  if (const int level = heading_level(node)) {
    end_paragraph();
    const std::string name(utf8_truncate(node_text(node), max_heading_bytes_));
    if (name.empty()) return false;
    while (!headings_.empty() && headings_.back().first >= level) headings_.pop_back();
    headings_.emplace_back(level, name);
    std::string path;
    for (const auto& [_, h] : headings_) {
    if (!path.empty()) path += " > ";
    path += h;
  }
    builder_.start(std::move(path));
    return false;
  }
  if (block(node)) end_paragraph();
  if (name_is(node, "br")) paragraph_ += '\n';
  if (name_is(node, "pre")) ++pre_depth_;
  if ((name_is(node, "td") || name_is(node, "th")) && !paragraph_.empty()) paragraph_ += " | ";
  return true;
}

void HtmlWalker::leave(xmlNode* node) {
  if (name_is(node, "pre")) --pre_depth_;
  if (block(node)) end_paragraph();
}

void HtmlWalker::text(xmlNode* node) {
  if (node->content == nullptr) return;
  const std::string_view raw(reinterpret_cast<const char*>(node->content));
  const uint64_t at = offset_of(node);
  if (paragraph_.empty()) paragraph_begin_ = at;
  paragraph_end_ = std::max(paragraph_end_, at);
  if (pre_depth_ > 0) {
    paragraph_ += raw;  // preformatted: line breaks are meaningful
    return;
  }
  // Outside <pre>, any whitespace run is one space (what a browser shows).
  const bool lead_space = !raw.empty() && (raw.front() == ' ' || raw.front() == '\n' || raw.front() == '\t' || raw.front() == '\r');
  const std::string collapsed = collapse_whitespace(raw);
  if (collapsed.empty()) {
    if (!paragraph_.empty() && paragraph_.back() != ' ' && paragraph_.back() != '\n') paragraph_ += ' ';
    return;
  }
  if (lead_space && !paragraph_.empty() && paragraph_.back() != ' ' && paragraph_.back() != '\n') paragraph_ += ' ';
  paragraph_ += collapsed;
  const char last = raw.back();
  if (last == ' ' || last == '\n' || last == '\t' || last == '\r') paragraph_ += ' ';
}

void HtmlWalker::end_paragraph() {
  if (paragraph_.empty()) return;
  const std::string text = utf8_sanitize(trim_ascii(paragraph_));
  paragraph_.clear();
  if (text.empty()) return;
  // End of the paragraph: the line after its last text node starts (its own line's end).
  const auto next = std::upper_bound(line_starts_.begin(), line_starts_.end(), paragraph_end_);
  const uint64_t end = next == line_starts_.end() ? source_size_ : *next;
  // libxml2's line numbers are those at the end of a text run and stop at 65535: keep the
  // spans in document order whatever they say.
  const uint64_t begin = std::max(paragraph_begin_, last_begin_);
  last_begin_ = begin;
  builder_.add_text(text, begin, std::max(end, begin));
}

}  // namespace

void read_html(ReaderContext& ctx) {
  const std::string source = read_whole_file(ctx.file, ctx.options.max_whole_file_bytes, "HTML");
  ctx.hash.update(source);
  if (source.size() > static_cast<std::size_t>(INT_MAX)) throw DocumentError(ctx.file.name() + ": HTML file too big");
  static std::once_flag init;
  std::call_once(init, [] { xmlInitParser(); });
  // Valid UTF-8 is read as UTF-8 whatever a <meta> says (libxml2 would otherwise guess); anything
  // else is left to libxml2's own detection (a declared charset, else Latin-1).
  const char* encoding = utf8_valid_prefix(source) == source.size() ? "UTF-8" : nullptr;
  const int options = HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET;
  std::unique_ptr<xmlDoc, void (*)(xmlDoc*)> doc(
      htmlReadMemory(source.data(), static_cast<int>(source.size()), nullptr, encoding, options), &xmlFreeDoc);
  if (!doc) throw DocumentError(ctx.file.name() + ": not readable as HTML");
  xmlNode* root = xmlDocGetRootElement(doc.get());
  std::string title;
  if (xmlNode* node = find_element(root, "title")) title = node_text(node);
  if (title.empty()) {
    if (xmlNode* h1 = find_element(root, "h1")) title = node_text(h1);
  }
  if (!title.empty()) ctx.info.title = std::string(utf8_truncate(title, ctx.options.max_title_bytes));
  ctx.started();
  SectionBuilder builder(ctx.options.max_section_bytes, ctx.emit);
  builder.start("");
  if (root != nullptr) HtmlWalker(builder, source, ctx.options.max_title_bytes).walk(root);
  builder.finish();
}

}  // namespace rpu::retrieval

