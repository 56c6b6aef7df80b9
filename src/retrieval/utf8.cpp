#include "retrieval/utf8.h"

namespace rpu::retrieval {
namespace {

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// The length of the well-formed sequence at s[i], or 0 when it is ill-formed or truncated.
std::size_t sequence_length(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte (RFC 3629 table)
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  const auto second = static_cast<unsigned char>(s[i + 1]);
  if (second < lo || second > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (!is_continuation(static_cast<unsigned char>(s[i + k]))) return 0;
  }
  return n;
}

}  // namespace

std::size_t utf8_valid_prefix(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    // Fast path over ASCII, which is most of most documents.
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const std::size_t n = sequence_length(s, i);
    if (n == 0) return i;
    i += n;
  }
  return i;
}

std::string utf8_sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t n = sequence_length(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
      while (i < s.size() && is_continuation(static_cast<unsigned char>(s[i]))) ++i;
      continue;
    }
    out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

std::size_t utf8_floor(std::string_view s, std::size_t pos) {
  if (pos >= s.size()) return s.size();
  // At most three continuation bytes precede a lead byte in valid text; stop there either way.
  for (int k = 0; k < 3 && pos > 0 && is_continuation(static_cast<unsigned char>(s[pos])); ++k) --pos;
  return pos;
}

std::size_t utf8_char_length(std::string_view s, std::size_t pos) {
  const std::size_t n = sequence_length(s, pos);
  return n == 0 ? 1 : n;
}

std::string_view utf8_truncate(std::string_view s, std::size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  return s.substr(0, utf8_floor(s, max_bytes));
}

}  // namespace rpu::retrieval
