#include "decode/numbers.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace rpu {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

size_t skip_digits(std::string_view text, size_t i) {
  while (i < text.size() && is_digit(text[i])) ++i;
  return i;
}

}  // namespace

std::optional<NumberToken> read_number(std::string_view text, size_t pos, bool allow_sign) {
  size_t i = pos;
  if (allow_sign && i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
  if (i >= text.size() || !is_digit(text[i])) return std::nullopt;
  const size_t int_begin = i;
  i = skip_digits(text, i);
  if (i - int_begin <= 3) {
    while (i < text.size() && text[i] == ',') {
      const size_t g = i + 1;
      if (skip_digits(text, g) != g + 3) break;  // exactly three digits, then a non-digit
      i = g + 3;
    }
  }
  int decimals = 0;
  if (i + 1 < text.size() && text[i] == '.' && is_digit(text[i + 1])) {
    const size_t frac_end = skip_digits(text, i + 1);
    decimals = static_cast<int>(frac_end - i - 1);
    i = frac_end;
  }
  NumberToken token;
  token.begin = pos;
  token.end = i;
  token.normalized = normalize_number(text.substr(pos, i - pos));
  token.value = std::strtold(token.normalized.c_str(), nullptr);
  token.decimals = decimals;
  return token;
}

std::vector<NumberToken> find_numbers(std::string_view text) {
  std::vector<NumberToken> out;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    const bool sign = (c == '-' || c == '+') && i + 1 < text.size() && is_digit(text[i + 1]) &&
                      (i == 0 || (!is_alnum(text[i - 1]) && text[i - 1] != ')' && text[i - 1] != ']'));
    if (sign || is_digit(c)) {
      if (auto token = read_number(text, i, sign)) {
        i = token->end;
        out.push_back(std::move(*token));
        continue;
      }
    }
    ++i;
  }
  return out;
}

std::string normalize_number(std::string_view spelled) {
  bool negative = false;
  size_t i = 0;
  if (i < spelled.size() && (spelled[i] == '-' || spelled[i] == '+')) negative = spelled[i++] == '-';
  std::string int_part;
  std::string frac_part;
  bool in_frac = false;
  for (; i < spelled.size(); ++i) {
    const char c = spelled[i];
    if (c == ',') continue;
    if (c == '.') {
      in_frac = true;
      continue;
    }
    (in_frac ? frac_part : int_part) += c;
  }
  const size_t first = int_part.find_first_not_of('0');
  int_part = first == std::string::npos ? "0" : int_part.substr(first);
  while (!frac_part.empty() && frac_part.back() == '0') frac_part.pop_back();
  std::string out = int_part;
  if (!frac_part.empty()) out += "." + frac_part;
  if (negative && out != "0") out = "-" + out;
  return out;
}

std::string format_number(long double value) {
  if (!std::isfinite(value)) return std::isnan(value) ? "undefined" : (value > 0 ? "infinity" : "-infinity");
  const long double rounded = std::round(value);
  if (std::fabs(value - rounded) < 1e-9L * std::max<long double>(1, std::fabs(value)) && std::fabs(rounded) < 1e18L)
    return fmt::format("{}", static_cast<long long>(rounded));
  std::string s = fmt::format("{:.6f}", static_cast<double>(value));
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return normalize_number(s);
}

}  // namespace rpu
