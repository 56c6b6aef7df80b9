#include "core/json_text.h"

#include <algorithm>

namespace rpu {
namespace {

// Where the nesting first exceeds `limit`, or npos; `deepest` gets the deepest level seen.
std::size_t scan(std::string_view text, std::size_t limit, std::size_t& deepest) {
  std::size_t depth = 0;
  deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (depth > limit) return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;  // unbalanced closers are the parser's to report
    }
  }
  return std::string_view::npos;
}

}  // namespace

std::size_t json_nesting_depth(std::string_view text, std::size_t limit) {
  std::size_t deepest = 0;
  scan(text, limit, deepest);
  return deepest;
}

void check_json_nesting(std::string_view text, std::string_view name, std::size_t max_depth) {
  std::size_t deepest = 0;
  const std::size_t at = scan(text, max_depth, deepest);
  if (at != std::string_view::npos) fail("{}: JSON nested deeper than {} levels (at byte {})", name, max_depth, at);
}

}  // namespace rpu
