#include "retrieval/text_units.h"

#include "retrieval/utf8.h"

namespace rpu::retrieval {
namespace {

bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// The length of a sentence terminator at text[i] (0 if none): ASCII . ! ? or the full-width
// forms a CJK text ends sentences with, which need no space after them.
std::size_t terminator(std::string_view text, std::size_t i, bool& needs_space) {
  const char c = text[i];
  if (c == '.' || c == '!' || c == '?') {
    needs_space = true;
    return 1;
  }
  needs_space = false;
  for (std::string_view t : {"\xE3\x80\x82", "\xEF\xBC\x81", "\xEF\xBC\x9F"}) {  // 。！？
    if (text.substr(i).starts_with(t)) return t.size();
  }
  return 0;
}

// The length of a closing quote or bracket at text[i] (0 if none).
std::size_t closer(std::string_view text, std::size_t i) {
  const char c = text[i];
  if (c == '"' || c == '\'' || c == ')' || c == ']') return 1;
  for (std::string_view t : {"\xE2\x80\x9D", "\xE2\x80\x99", "\xE3\x80\x8D"}) {  // ” ’ 」
    if (text.substr(i).starts_with(t)) return t.size();
  }
  return 0;
}

}  // namespace

std::vector<TextRange> sentence_ranges(std::string_view text, TextRange range) {
  std::vector<TextRange> out;
  std::size_t i = range.begin;
  while (i < range.end && space(text[i])) ++i;
  std::size_t start = i;
  while (i < range.end) {
    bool needs_space = false;
    const std::size_t t = terminator(text, i, needs_space);
    if (t == 0) {
      i += utf8_char_length(text, i);
      continue;
    }
    std::size_t end = i + t;
    while (end < range.end && text[end] == text[i] && t == 1) ++end;  // "...", "?!"-style runs of one kind
    while (end < range.end) {
      const std::size_t k = closer(text, end);
      if (k == 0) break;
      end += k;
    }
    if (end >= range.end || !needs_space || space(text[end])) {
      out.push_back({start, std::min(end, range.end)});
      i = end;
      while (i < range.end && space(text[i])) ++i;
      start = i;
    } else {
      i = end;  // "3.14", "e.g.x": not an end
    }
  }
  if (start < range.end) {
    std::size_t end = range.end;
    while (end > start && space(text[end - 1])) --end;
    if (end > start) out.push_back({start, end});
  }
  return out;
}

std::vector<TextRange> word_ranges(std::string_view text, TextRange range) {
  std::vector<TextRange> out;
  std::size_t i = range.begin;
  while (i < range.end) {
    while (i < range.end && space(text[i])) ++i;
    const std::size_t start = i;
    while (i < range.end && !space(text[i])) ++i;
    if (i > start) out.push_back({start, i});
  }
  return out;
}

std::vector<std::size_t> char_ends(std::string_view text, TextRange range) {
  std::vector<std::size_t> out;
  std::size_t i = range.begin;
  while (i < range.end) {
    i = std::min(i + utf8_char_length(text, i), range.end);
    out.push_back(i);
  }
  return out;
}

}  // namespace rpu::retrieval
