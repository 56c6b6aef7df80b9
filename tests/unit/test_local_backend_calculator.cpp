// The "calculator" extension through the LocalBackend (decode/calculator.h wired into the
// scheduler as a token constraint) on the built-in model. Oracle: the arithmetic verifier's
// reading (find_arithmetic_steps). Sampled at temperature 1 on three-digit problems, the model
// writes wrong steps; with the calculator every step of every sample checks out, and the
// replies still end with the model's own "The answer is N.".
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "builtin_backend.h"
#include "decode/arithmetic.h"

namespace rpu {
namespace {

using json = nlohmann::ordered_json;

const char* kProblems[] = {
    "Mia has 754 stickers. She gets 256 more from Nora. How many stickers does she have now?",
    "Leo has 903 coins. He gives 478 to Sam. He finds 199 more. How many coins does he have left?",
    "Omar has 615 marbles. He sells 287. Then he buys 368 more. How many marbles does Omar have now?",
    "Zoe has 488 beads. She receives 379 more. She uses 96. How many beads does she have in the end?",
};

struct StepCount {
  int steps = 0;
  int wrong = 0;
  int replies = 0;
  int answered = 0;  // replies with a final "The answer is N"
};

StepCount sample_steps(LocalBackend& backend, bool calculator) {
  StepCount count;
  for (const char* problem : kProblems) {
    for (uint64_t seed = 1; seed <= 4; ++seed) {
      ChatRequest r = BuiltinBackend::greedy(96);
      r.sampling.temperature = 1.0f;
      r.sampling.seed = seed;
      r.n = 2;
      r.calculator = calculator;
      r.messages = json::array({{{"role", "user"}, {"content", problem}}});
      for (const ChoiceResult& c : run_chat(backend, r).choices) {
        ++count.replies;
        count.answered += find_final_answer(c.text).has_value();
        for (const ArithmeticStep& s : find_arithmetic_steps(c.text)) {
          ++count.steps;
          if (!s.correct) {
            ++count.wrong;
            if (calculator) ADD_FAILURE() << "a wrong step with the calculator: " << s.text << " in: " << c.text;
          }
        }
      }
    }
  }
  return count;
}

TEST(LocalBackendCalculator, EveryStepOfEverySampleChecksOut) {
  BuiltinBackend b;
  const StepCount free = sample_steps(b.backend, false);
  const StepCount held = sample_steps(b.backend, true);
  EXPECT_GT(free.wrong, 0) << "the model alone never slips here: the test shows nothing";
  EXPECT_EQ(held.wrong, 0);
  EXPECT_GE(held.steps, held.replies) << "the replies still write their steps";
  EXPECT_GE(held.answered, held.replies * 9 / 10) << "and still end with the answer";
}

// Off by default, and refused by nothing: a reply without arithmetic is left as it was.
TEST(LocalBackendCalculator, AReplyWithoutStepsIsLeftAsItWas) {
  BuiltinBackend b;
  ChatRequest r = BuiltinBackend::greedy(40);
  r.messages = json::array({{{"role", "user"}, {"content", "Hello, who are you?"}}});
  const std::string free = run_chat(b.backend, r).choices.at(0).text;
  r.calculator = true;
  EXPECT_EQ(run_chat(b.backend, r).choices.at(0).text, free);
}

}  // namespace
}  // namespace rpu
