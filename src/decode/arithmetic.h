// Reading arithmetic out of a model's reasoning, for the arithmetic verifier (src/reasoning)
// and the calculator (calculator.h), so a step the calculator completes is one the verifier checks.
//
// A step is an expression with at least one operator, '=', and a written result:
// "45 - 18 = 27", "2 + 3 + 4 = 9", "(3 + 4) x 2 = 14", "$1,200 / 4 = $300", "-3 * 2 = -6".
// - Numbers as in numbers.h (thousands separators, decimals); a '$' before a number is
//   skipped. Operators: + - (also U+2212) * x × · / ÷ and parentheses; 'x' is an operator
//   only between a number or ')' and a number or '('. Usual precedence (* / before + -),
//   unary minus at the start or after an operator.
// - A step may not cross a line break or a word: in "3 apples + 4 = 7" only "4 = 7" could
//   be one, and it has no operator, so it is not. An expression starts after nothing, a
//   break, '=', '(' or a leading operator ("- 5 + 3 = 8" as a bullet is 5 + 3 = 8), never
//   right after a number ("2(3 + 4) = 14" is not read as "(3 + 4) = 14"). A '-' is a sign
//   only when glued to its operand.
// - The written result is a number, a glued negative number, or a fraction "3/4" followed
//   by nothing but a break or '=' ("1/2 + 1/4 = 3/4"; a fraction is compared exactly).
// - "a + b = c + d = e" (a run-on chain) is read as "a + b = c" and "c + d = e": the
//   result of one step may start the next.
// - "==", "<=", ">=", "!=" are not '='.
// Comparing a written result c (with d fraction digits) to the exact value v: when d = 0,
// c must equal v (7 / 2 = 3 is wrong); when d > 0, c may be v rounded or truncated to d
// digits (10 / 3 = 3.33 is right, 3.34 is wrong). Division by zero is always wrong.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rpu {

struct ArithmeticStep {
  size_t begin = 0;  // byte range of "a op b = c" in the text
  size_t end = 0;
  std::string text;          // that range
  long double expected = 0;  // value of the left side (NaN on division by zero)
  long double written = 0;   // c
  bool correct = false;
};

std::vector<ArithmeticStep> find_arithmetic_steps(std::string_view text);

// The value of the step whose '=' ends `text` (blanks after it aside), read exactly as
// find_arithmetic_steps would read it once a result is written: "Then 27 + 26 =" -> 53,
// "a + b = c + d =" -> c + d. nullopt when the text does not end with a step's '=', or the
// value is not finite (division by zero).
std::optional<long double> value_before_equals(std::string_view text);

// The number after the last "answer is", "answer is:", "answer:" or "answer =" (any case;
// blanks, '$' and '*' skipped): "The answer is 53." -> 53, with its byte offset. nullopt when absent.
struct FinalAnswer {
  size_t begin = 0;
  long double value = 0;
  std::string spelled;  // normalised, e.g. "53"
};
std::optional<FinalAnswer> find_final_answer(std::string_view text);

// Whether a written number (with `decimals` fraction digits) agrees with an exact value
// under the rule above.
bool agrees(long double written, int decimals, long double exact);

}  // namespace rpu
