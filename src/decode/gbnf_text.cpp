// GBNF text helpers for the JSON Schema converter (see gbnf_text.h).
#include "decode/gbnf_text.h"

#include <fmt/core.h>

namespace rpu::gbnf_text {
namespace {

using json = nlohmann::ordered_json;

// --- decimal ranges: GBNF for the digit strings of integers in [lo, hi] (no sign) ---

std::string digits_range_same_length(const std::string& lo, const std::string& hi) {
  if (lo.empty()) return "";
  if (lo == hi) return literal(lo);
  if (lo.size() == 1) return fmt::format("[{}-{}]", lo[0], hi[0]);
  const std::string lo_rest = lo.substr(1), hi_rest = hi.substr(1);
  if (lo[0] == hi[0]) return literal(lo.substr(0, 1)) + " " + digits_range_same_length(lo_rest, hi_rest);
  const std::string zeros(lo_rest.size(), '0'), nines(lo_rest.size(), '9');
  const std::string any = fmt::format("[0-9]{{{}}}", lo_rest.size());
  std::vector<std::string> parts;
  char mid_lo = lo[0], mid_hi = hi[0];
  if (lo_rest == zeros) {
    // lo's first digit can take any tail: part of the middle range.
  } else {
    parts.push_back(literal(lo.substr(0, 1)) + " " + digits_range_same_length(lo_rest, nines));
    ++mid_lo;
  }
  const bool hi_full = hi_rest == nines;
  if (!hi_full) --mid_hi;
  if (mid_lo <= mid_hi) parts.push_back(fmt::format("[{}-{}] {}", mid_lo, mid_hi, any));
  if (!hi_full) parts.push_back(literal(hi.substr(0, 1)) + " " + digits_range_same_length(zeros, hi_rest));
  return alternatives(parts);
}

}  // namespace

// A GBNF string literal for raw bytes.
std::string literal(std::string_view bytes) {
  std::string out = "\"";
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7F) out += fmt::format("\\x{:02X}", c);
    else out += ch;
  }
  return out + "\"";
}

std::string json_literal(const json& value) { return literal(value.dump()); }

std::string pointer_child(const std::string& path, const std::string& key) {
  std::string escaped;
  for (char c : key) {
    if (c == '~') escaped += "~0";
    else if (c == '/') escaped += "~1";
    else escaped += c;
  }
  return path + "/" + escaped;
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? std::string(sep) : "") + parts[i];
  return out;
}

std::string alternatives(const std::vector<std::string>& parts) {
  if (parts.size() == 1) return parts[0];
  return fmt::format("({})", join(parts, " | "));  // (gcc 12 -O3 reports a false -Wstringop-overflow on "literal" + std::string&&)
}

// hi < 0 means unbounded (up to kMaxDigits digits).
std::string digits_range(int64_t lo, int64_t hi) {
  const std::string a = std::to_string(lo);
  std::vector<std::string> parts;
  const size_t top = hi < 0 ? kMaxDigits : std::to_string(hi).size();
  if (hi >= 0 && top == a.size()) return digits_range_same_length(a, std::to_string(hi));
  parts.push_back(digits_range_same_length(a, std::string(a.size(), '9')));
  if (hi < 0) {
    if (a.size() < static_cast<size_t>(kMaxDigits)) parts.push_back(fmt::format("[1-9] [0-9]{{{},{}}}", a.size(), kMaxDigits - 1));
  } else {
    for (size_t len = a.size() + 1; len < top; ++len) parts.push_back(fmt::format("[1-9] [0-9]{{{}}}", len - 1));
    std::string lowest(top, '0');  // 10^(top-1), built in place (gcc 12 -O3 reports a false -Wstringop-overflow on "literal" + std::string&&)
    lowest[0] = '1';
    parts.push_back(digits_range_same_length(lowest, std::to_string(hi)));
  }
  return alternatives(parts);
}

}  // namespace rpu::gbnf_text
