// Validators behind the scrubber's regexes: checksums (Luhn, IBAN mod-97), SSN number ranges,
// IP address syntax, and the entropy rule for unprefixed secrets.
#include <arpa/inet.h>

#include <array>
#include <cctype>
#include <cmath>

#include "gateway/scrub.h"

namespace rpu::gateway {
namespace {

std::string strip_separators(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != ' ' && c != '-') out += c;
  return out;
}

bool all_of_class(std::string_view s, int (*pred)(int)) {
  for (char c : s)
    if (!pred(static_cast<unsigned char>(c))) return false;
  return !s.empty();
}

}  // namespace

bool luhn_valid(std::string_view number) {
  const std::string digits = strip_separators(number);
  if (digits.size() < 12 || !all_of_class(digits, isdigit)) return false;
  int sum = 0;
  bool twice = false;
  for (size_t i = digits.size(); i-- > 0;) {
    int d = digits[i] - '0';
    if (twice) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

bool iban_valid(std::string_view iban) {
  const std::string s = strip_separators(iban);
  if (s.size() < 15 || s.size() > 34) return false;
  if (!isupper(static_cast<unsigned char>(s[0])) || !isupper(static_cast<unsigned char>(s[1])) ||
      !isdigit(static_cast<unsigned char>(s[2])) || !isdigit(static_cast<unsigned char>(s[3])))
    return false;
  // Move the first four characters to the end, letters become 10..35, the number mod 97 is 1.
  const std::string rotated = s.substr(4) + s.substr(0, 4);
  int remainder = 0;
  for (char c : rotated) {
    const auto u = static_cast<unsigned char>(c);
    if (isdigit(u)) {
      remainder = (remainder * 10 + (c - '0')) % 97;
    } else if (isupper(u)) {
      remainder = (remainder * 100 + (c - 'A' + 10)) % 97;
    } else {
      return false;
    }
  }
  return remainder == 1;
}

bool ssn_valid(std::string_view ssn) {
  if (ssn.size() != 11 || ssn[3] != '-' || ssn[6] != '-') return false;
  const std::string_view area = ssn.substr(0, 3), group = ssn.substr(4, 2), serial = ssn.substr(7, 4);
  if (!all_of_class(area, isdigit) || !all_of_class(group, isdigit) || !all_of_class(serial, isdigit)) return false;
  if (area == "000" || area == "666" || area[0] == '9') return false;
  return group != "00" && serial != "0000";
}

bool ipv4_valid(std::string_view address) {
  int octets = 0;
  size_t i = 0;
  while (i <= address.size()) {
    size_t j = address.find('.', i);
    if (j == std::string_view::npos) j = address.size();
    const std::string_view part = address.substr(i, j - i);
    if (part.empty() || part.size() > 3 || !all_of_class(part, isdigit)) return false;
    if (part.size() > 1 && part[0] == '0') return false;  // "01" is not how addresses are written
    if (std::stoi(std::string(part)) > 255) return false;
    ++octets;
    i = j + 1;
  }
  // Loopback, "any" and broadcast name no one.
  if (address.substr(0, 4) == "127." || address == "0.0.0.0" || address == "255.255.255.255") return false;
  return octets == 4;
}

bool ipv6_valid(std::string_view address) {
  if (address.size() < 3 || address.size() > 45) return false;
  std::array<unsigned char, 16> buffer{};
  if (inet_pton(AF_INET6, std::string(address).c_str(), buffer.data()) != 1) return false;
  // At least three non-empty groups: "a::b" in code, "::" and the loopback "::1" are not
  // personal addresses.
  int groups = 0;
  bool in_group = false;
  for (char c : address) {
    const bool hex = isxdigit(static_cast<unsigned char>(c)) || c == '.';
    if (hex && !in_group) ++groups;
    in_group = hex;
  }
  return groups >= 3;
}

double shannon_entropy(std::string_view text) {
  if (text.empty()) return 0;
  std::array<size_t, 256> counts{};
  for (char c : text) ++counts[static_cast<unsigned char>(c)];
  double bits = 0;
  for (size_t n : counts) {
    if (n == 0) continue;
    const double p = static_cast<double>(n) / static_cast<double>(text.size());
    bits -= p * std::log2(p);
  }
  return bits;
}

bool looks_like_secret_token(std::string_view token) {
  if (token.size() < 20) return false;
  size_t lower = 0, upper = 0, digit = 0, hex = 0;
  for (char c : token) {
    const auto u = static_cast<unsigned char>(c);
    lower += islower(u) ? 1 : 0;
    upper += isupper(u) ? 1 : 0;
    digit += isdigit(u) ? 1 : 0;
    hex += (isxdigit(u) || c == '-') ? 1 : 0;
  }
  // Hex digests (git SHAs, sha256), UUIDs and hex literals ("0xbf58476d1ce4e5b9ULL") are
  // identifiers and constants, not secrets.
  if (hex == token.size()) return false;
  std::string_view literal = token;
  if (literal.substr(0, 2) == "0x" || literal.substr(0, 2) == "0X") literal.remove_prefix(2);
  while (!literal.empty() && (literal.back() == 'U' || literal.back() == 'L' || literal.back() == 'u' || literal.back() == 'l'))
    literal.remove_suffix(1);
  if (literal.size() < token.size() && all_of_class(literal, isxdigit)) return false;
  if (lower < 2 || upper < 2 || digit < 2) return false;
  // Alphabets written out ("ABC...xyz0123456789") are constants, not keys.
  size_t ascending = 0;
  for (size_t i = 1; i < token.size(); ++i) ascending += token[i] == token[i - 1] + 1 ? 1 : 0;
  if (ascending * 3 > token.size()) return false;
  // CamelCase identifiers ("TwentyThousandPropertiesAreA400") are mostly runs of three or more
  // lowercase letters; in a random base62 key such runs cover about a fifth of the characters.
  size_t in_words = 0, run = 0;
  for (size_t i = 0; i <= token.size(); ++i) {
    if (i < token.size() && islower(static_cast<unsigned char>(token[i]))) {
      ++run;
    } else {
      in_words += run >= 3 ? run : 0;
      run = 0;
    }
  }
  if (in_words * 2 >= token.size()) return false;
  return shannon_entropy(token) >= 3.7;
}

}  // namespace rpu::gateway
