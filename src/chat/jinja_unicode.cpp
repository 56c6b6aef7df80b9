#include "chat/jinja_unicode.h"
#include "tokenizer/unicode.h"

#include <algorithm>

#include "chat/jinja_case_table.h"

namespace rpu::jinja {

char32_t next_code_point(std::string_view s, std::size_t& i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  int extra = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    extra = 1, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    extra = 2, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    extra = 3, cp = b0 & 0x07, min = 0x10000;
  } else {
    ++i;
    return 0xFFFD;
  }
  if (i + extra >= s.size()) {  // truncated sequence
    ++i;
    return 0xFFFD;
  }
  for (int k = 1; k <= extra; ++k) {
    const unsigned char b = byte(i + k);
    if ((b & 0xC0) != 0x80) {
      ++i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return 0xFFFD;
  }
  i += extra + 1;
  return cp;
}

void append_utf8(std::string& out, char32_t cp) { unicode::append_utf8(out, cp); }

std::vector<char32_t> code_points(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) out.push_back(next_code_point(s, i));
  return out;
}

bool is_js_space(char32_t cp) {
  switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0xA0: case 0x1680:
    case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000: case 0xFEFF:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

std::size_t js_space_prefix(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t next = i;
    if (!is_js_space(next_code_point(s, next))) break;
    i = next;
  }
  return i;
}

std::size_t js_space_suffix(std::string_view s) {
  // Walk forward (UTF-8 cannot be decoded backwards safely when malformed) and remember where
  // the last non-space code point ended.
  std::size_t end_of_content = 0;
  for (std::size_t i = 0; i < s.size();) {
    if (!is_js_space(next_code_point(s, i))) end_of_content = i;
  }
  return s.size() - end_of_content;
}

std::string_view js_trim_start(std::string_view s) { return s.substr(js_space_prefix(s)); }
std::string_view js_trim_end(std::string_view s) { return s.substr(0, s.size() - js_space_suffix(s)); }
std::string_view js_trim(std::string_view s) { return js_trim_end(js_trim_start(s)); }

std::size_t utf16_length(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size();) n += next_code_point(s, i) >= 0x10000 ? 2 : 1;
  return n;
}

bool utf16_at(std::string_view s, long long index, std::string& out) {
  const long long length = static_cast<long long>(utf16_length(s));
  if (index < 0) index += length;
  if (index < 0 || index >= length) return false;
  long long unit = 0;
  for (std::size_t i = 0; i < s.size();) {
    const char32_t cp = next_code_point(s, i);
    const long long width = cp >= 0x10000 ? 2 : 1;
    if (index < unit + width) {
      out.clear();
      append_utf8(out, width == 2 ? char32_t{0xFFFD} : cp);
      return true;
    }
    unit += width;
  }
  return false;
}

int utf16_compare(std::string_view a, std::string_view b) {
  // Map a code point to a key that orders like its first UTF-16 unit (then the second).
  const auto key = [](char32_t cp) -> std::uint64_t {
    if (cp < 0x10000) return static_cast<std::uint64_t>(cp) << 16;
    const std::uint64_t v = cp - 0x10000;
    return ((0xD800 + (v >> 10)) << 16) | (0xDC00 + (v & 0x3FF));
  };
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const std::uint64_t ka = key(next_code_point(a, i));
    const std::uint64_t kb = key(next_code_point(b, j));
    if (ka != kb) {
      // A BMP unit compared with a surrogate pair only looks at the first unit; when equal, the
      // shorter (the BMP one) sorts first.
      const std::uint64_t ha = ka >> 16, hb = kb >> 16;
      if (ha != hb) return ha < hb ? -1 : 1;
      return (ka & 0xFFFF) < (kb & 0xFFFF) ? -1 : 1;
    }
  }
  if (i < a.size()) return 1;
  if (j < b.size()) return -1;
  return 0;
}

namespace {

using namespace unicode_data;

bool in_ranges(const CodeRange* ranges, std::size_t count, char32_t cp) {
  const CodeRange* end = ranges + count;
  const CodeRange* it = std::upper_bound(ranges, end, cp, [](char32_t c, const CodeRange& r) { return c < r.first; });
  return it != ranges && cp <= (it - 1)->last;
}

// Appends the mapping of cp from the given tables; returns false when cp maps to itself.
bool map_case(char32_t cp, const CaseRun* runs, std::size_t run_count, const CaseMulti* multi, std::size_t multi_count,
              std::string& out) {
  const CaseMulti* mend = multi + multi_count;
  const CaseMulti* m = std::lower_bound(multi, mend, cp, [](const CaseMulti& e, char32_t c) { return e.from < c; });
  if (m != mend && m->from == cp) {
    for (char32_t to : m->to)
      if (to != 0) append_utf8(out, to);
    return true;
  }
  const CaseRun* rend = runs + run_count;
  const CaseRun* r = std::upper_bound(runs, rend, cp, [](char32_t c, const CaseRun& e) { return c < e.start; });
  if (r == runs) return false;
  --r;
  const std::uint32_t offset = cp - r->start;
  if (offset % r->stride != 0 || offset / r->stride >= r->count) return false;
  append_utf8(out, static_cast<char32_t>(static_cast<std::int64_t>(cp) + r->delta));
  return true;
}

bool is_cased(char32_t cp) { return in_ranges(kCased, kCasedCount, cp); }
bool is_case_ignorable(char32_t cp) { return in_ranges(kCaseIgnorable, kCaseIgnorableCount, cp); }

// Unicode's Final_Sigma condition, which V8 applies when lowercasing U+03A3.
bool final_sigma(const std::vector<char32_t>& cps, std::size_t at) {
  bool cased_before = false;
  for (std::size_t k = at; k-- > 0;) {
    if (is_case_ignorable(cps[k])) continue;
    cased_before = is_cased(cps[k]);
    break;
  }
  if (!cased_before) return false;
  for (std::size_t k = at + 1; k < cps.size(); ++k) {
    if (is_case_ignorable(cps[k])) continue;
    return !is_cased(cps[k]);
  }
  return true;
}

}  // namespace

std::string js_to_upper(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const char32_t cp = next_code_point(s, i);
    if (cp < 0x80) {
      out += static_cast<char>(cp >= 'a' && cp <= 'z' ? cp - 32 : cp);
    } else if (!map_case(cp, kUpperRuns, kUpperRunCount, kUpperMulti, kUpperMultiCount, out)) {
      append_utf8(out, cp);
    }
  }
  return out;
}

std::string js_to_lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::vector<char32_t> cps;  // decoded lazily: only Final_Sigma needs context
  std::size_t index = 0;
  for (std::size_t i = 0; i < s.size(); ++index) {
    const char32_t cp = next_code_point(s, i);
    if (cp < 0x80) {
      out += static_cast<char>(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
    } else if (cp == 0x03A3) {
      if (cps.empty()) cps = code_points(s);
      append_utf8(out, final_sigma(cps, index) ? 0x03C2 : 0x03C3);
    } else if (!map_case(cp, kLowerRuns, kLowerRunCount, kLowerMulti, kLowerMultiCount, out)) {
      append_utf8(out, cp);
    }
  }
  return out;
}

}  // namespace rpu::jinja
