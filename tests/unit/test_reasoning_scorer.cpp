// Scorers for best-of-N and step search: the grounded arithmetic check against the question's
// numbers, and the mean-probability score.
#include <gtest/gtest.h>

#include <cmath>

#include "reasoning/scorer.h"

namespace rpu::reasoning {
namespace {

DrawnSample sample(const std::string& text, double logprob_sum = 0, int tokens = 0) {
  DrawnSample s;
  s.text = text;
  s.logprob_sum = logprob_sum;
  s.tokens = tokens;
  return s;
}

TEST(ReasoningScorer, GroundedArithmeticNeedsOperandsFromTheQuestionOrEarlierSteps) {
  const std::string question = "Leo has 45 coins. He loses 18. He finds 26 more. How many coins does Leo have now?";
  auto scorer = make_scorer({{"type", "arithmetic"}, {"grounded", true}}, nullptr, question);
  const Verdict right = scorer->score(sample("45 - 18 = 27. 27 + 26 = 53. The answer is 53."));
  EXPECT_TRUE(right.pass) << right.reason;
  EXPECT_DOUBLE_EQ(right.score, 1.0);
  // Right arithmetic on a misread number: 48 is not in the question.
  const Verdict misread = scorer->score(sample("48 - 18 = 30. 30 + 26 = 56. The answer is 56."));
  EXPECT_FALSE(misread.pass);
  EXPECT_NE(misread.reason.find("48"), std::string::npos) << misread.reason;
  EXPECT_DOUBLE_EQ(misread.score, 3.0 / 4.0);
  // Wrong arithmetic fails as with the plain verifier.
  EXPECT_FALSE(scorer->score(sample("45 - 18 = 28. 28 + 26 = 54. The answer is 54.")).pass);
  // Without "grounded" the misread chain passes: it is internally consistent.
  auto plain = make_scorer({{"type", "arithmetic"}}, nullptr, question);
  EXPECT_TRUE(plain->score(sample("48 - 18 = 30. 30 + 26 = 56. The answer is 56.")).pass);
}

TEST(ReasoningScorer, CompleteArithmeticPrefersTheChainThatUsesEveryNumberOfTheQuestion) {
  const std::string question = "Leo has 45 coins. He loses 18. He finds 26 more. How many coins does Leo have now?";
  auto scorer = make_scorer({{"type", "arithmetic"}, {"grounded", true}, {"complete", true}}, nullptr, question);
  EXPECT_EQ(scorer->name(), "arithmetic (grounded, complete)");
  const Verdict right = scorer->score(sample("45 - 18 = 27. 27 + 26 = 53. The answer is 53."));
  EXPECT_TRUE(right.pass) << right.reason;
  EXPECT_DOUBLE_EQ(right.score, 1.0);
  // A dropped step: right and grounded, but 26 is never used. It still passes (a question may
  // state a number it does not need) and scores 2 of the question's 3 numbers.
  const Verdict dropped = scorer->score(sample("45 - 18 = 27. The answer is 27."));
  EXPECT_TRUE(dropped.pass) << dropped.reason;
  EXPECT_DOUBLE_EQ(dropped.score, 2.0 / 3.0);
  EXPECT_NE(dropped.reason.find("26 is not used"), std::string::npos) << dropped.reason;
  // Numbers are counted with repeats: "12 and 12" needs both.
  auto twice = make_scorer({{"type", "arithmetic"}, {"grounded", true}, {"complete", true}}, nullptr,
                           "Ana has 12 red and 12 blue beads. How many beads?");
  EXPECT_DOUBLE_EQ(twice->score(sample("12 + 12 = 24. The answer is 24.")).score, 1.0);
  EXPECT_DOUBLE_EQ(twice->score(sample("12 + 0 = 12. The answer is 12.")).score, 0.5 * 0.5);  // 0 is a stray
  // Without "complete" the dropped step scores as the full chain.
  auto grounded = make_scorer({{"type", "arithmetic"}, {"grounded", true}}, nullptr, question);
  EXPECT_DOUBLE_EQ(grounded->score(sample("45 - 18 = 27. The answer is 27.")).score, 1.0);
}

TEST(ReasoningScorer, LogprobScoresTheMeanTokenProbability) {
  auto scorer = make_scorer({{"type", "logprob"}}, nullptr, "");
  const Verdict v = scorer->score(sample("x", std::log(0.25) * 4, 4));
  EXPECT_TRUE(v.pass);
  EXPECT_NEAR(v.score, 0.25, 1e-12);
}

TEST(ReasoningScorer, JudgeWithoutAJudgeModelIsANamedError) {
  try {
    make_scorer({{"type", "judge"}}, nullptr, "q");
    FAIL() << "accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.param, "reasoning.verifier");
  }
}

TEST(ReasoningScorer, LastUserMessageReadsStringsAndTextParts) {
  const nlohmann::ordered_json messages = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "first"},
    {"role": "assistant", "content": "ok"},
    {"role": "user", "content": [{"type": "text", "text": "second "}, {"type": "text", "text": "question"}]}])");
  EXPECT_EQ(last_user_message(messages), "second question");
  EXPECT_EQ(last_user_message(nlohmann::ordered_json::array()), "");
}

}  // namespace
}  // namespace rpu::reasoning
