// A crafted reasoning sample for the voting and selection tests: the text a model would write
// for `answer` (or "no idea" when it gives none) and the mean token log-probability to weigh it by.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "reasoning/vote.h"

namespace rpu::reasoning::test_support {

inline Sample sample(std::optional<std::string> answer, double mean_logprob = 0) {
  Sample s;
  s.text = answer ? "The answer is " + *answer : "no idea";
  s.answer = std::move(answer);
  s.mean_logprob = mean_logprob;
  return s;
}

}  // namespace rpu::reasoning::test_support
