// ArithmeticVerifier: every step the arithmetic reader (decode/arithmetic.h) finds, and the
// final answer against the last step.
#include "decode/arithmetic.h"
#include "decode/numbers.h"
#include "reasoning/verifiers.h"

namespace rpu::reasoning {

Verdict ArithmeticVerifier::check(std::string_view candidate) const {
  const std::vector<ArithmeticStep> steps = find_arithmetic_steps(candidate);
  if (steps.empty()) return {true, 0.5, "no steps to check"};
  std::vector<std::string> wrong;
  for (const ArithmeticStep& s : steps)
    if (!s.correct) wrong.push_back(s.text + ": expected " + format_number(s.expected));
  int checks = static_cast<int>(steps.size());
  if (const auto final = find_final_answer(candidate)) {
    const ArithmeticStep* last = nullptr;
    for (const ArithmeticStep& s : steps)
      if (s.end <= final->begin) last = &s;
    if (last != nullptr) {
      ++checks;
      if (!agrees(final->value, 0, last->written))
        wrong.push_back("final answer " + final->spelled + " does not match the last step (" + last->text + ")");
    }
  }
  const int correct = checks - static_cast<int>(wrong.size());
  Verdict v;
  v.pass = wrong.empty();
  v.score = static_cast<double>(correct) / checks;
  if (v.pass) {
    v.reason = std::to_string(checks) + (checks == 1 ? " check" : " checks") + " correct";
  } else {
    for (size_t k = 0; k < wrong.size(); ++k) v.reason += (k ? "; " : "") + wrong[k];
  }
  return v;
}

}  // namespace rpu::reasoning
