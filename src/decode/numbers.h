// Numbers as models write them in prose: "53", "-7", "1,234", "3.50", "+2". Shared by
// last-number extraction, the arithmetic verifier (src/reasoning) and the calculator
// (calculator.h), so all read a text the same way.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rpu {

struct NumberToken {
  size_t begin = 0;  // byte range in the text, sign included
  size_t end = 0;
  std::string normalized;  // canonical spelling: "53", "-0.5", "1234" (see normalize_number)
  long double value = 0;
  int decimals = 0;  // fraction digits as written ("3.50" -> 2)
};

// Reads a number starting exactly at `pos` (a digit, or '-' / '+' followed by a digit when
// allow_sign). Grammar: [sign] digits [, ddd]* [. digits]. Thousands groups are taken only
// after 1-3 leading digits and only as exactly three digits not followed by another digit,
// so "1,234" is one number but "1,2,3" and "12,3456" are lists. A '.' is a decimal point
// only when a digit follows ("53." ends a sentence).
std::optional<NumberToken> read_number(std::string_view text, size_t pos, bool allow_sign);

// Every number in the text, left to right. A '-' or '+' counts as a sign only when it
// touches the digit and does not follow a letter, digit or closing bracket, so "45-18" is
// 45 and 18, while "is -5" and "(-5)" are negative.
std::vector<NumberToken> find_numbers(std::string_view text);

// Canonical spelling so equal values vote together: no '+' or commas, no leading zeros,
// no trailing fraction zeros (no '.' when the fraction is empty), no "-0".
// "053" -> "53", "53.0" -> "53", "+1,234.50" -> "1234.5", "-0.0" -> "0".
std::string normalize_number(std::string_view spelled);

// A value for messages: integers without a fraction, others with up to 6 decimals
// (trailing zeros dropped).
std::string format_number(long double value);

}  // namespace rpu
