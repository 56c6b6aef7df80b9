#include "core/text.h"

namespace rpu {
namespace {

constexpr std::string_view kAsciiSpace = " \t\r\n\f\v";

}  // namespace

std::string_view trim_ascii(std::string_view s) {
  const size_t a = s.find_first_not_of(kAsciiSpace);
  if (a == std::string_view::npos) return {};
  return s.substr(a, s.find_last_not_of(kAsciiSpace) - a + 1);
}

std::string collapse_whitespace(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (kAsciiSpace.find(c) != std::string_view::npos) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace rpu
