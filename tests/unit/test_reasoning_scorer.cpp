// Scorers for best-of-N and step search: the grounded arithmetic check against the question's
// numbers, and the mean-probability score.
#include <gtest/gtest.h>

#include <functional>

#include <cmath>

#include "chat_only_backend.h"
#include "core/error.h"
#include "reasoning/sampling.h"
#include "reasoning/scorer.h"

namespace rpu::reasoning {
namespace {

// A judge whose first answer token is " y" with probability p_yes and " n" otherwise, spelt as
// the built-in model's 512-piece vocabulary spells them; it counts the questions it is asked.
class ScriptedJudge : public test::ChatOnlyBackend {
 public:
  explicit ScriptedJudge(double p_yes) : ChatOnlyBackend("judge"), p_yes_(p_yes) {}
  std::unique_ptr<CallHandle> chat(const ChatRequest& request, ChatEventSink sink) override {
    asked.push_back(request.messages.back().value("content", ""));
    cancelled.push_back(request.cancelled);
    ChatEvent e;
    e.text = p_yes_ >= 0.5 ? " y" : " n";
    TokenLogprob lp;
    lp.top = {{1, " y", static_cast<float>(std::log(p_yes_))}, {2, " n", static_cast<float>(std::log(1 - p_yes_))},
              {3, " ", -9.0f}};
    lp.chosen = lp.top[p_yes_ >= 0.5 ? 0 : 1];
    e.logprobs = {lp};
    e.finish_reason = "length";
    e.completion_tokens = 1;
    sink(e);
    return nullptr;
  }
  std::vector<std::string> asked;
  std::vector<std::function<bool()>> cancelled;  // each call's ChatRequest::cancelled

 private:
  double p_yes_;
};

DrawnSample sample(const std::string& text, double logprob_sum = 0, int tokens = 0) {
  DrawnSample s;
  s.text = text;
  s.logprob_sum = logprob_sum;
  s.tokens = tokens;
  s.scored_tokens = tokens;
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

// A backend whose every sample is the same three tokens: one sampled freely (p 0.5), one under a
// constraint that allowed it with p 0.8 among the allowed tokens (0.1 in the whole vocabulary),
// and one the constraint forced (0.01 in the whole vocabulary).
class ConstrainedSamples : public test::ChatOnlyBackend {
 public:
  ConstrainedSamples() : ChatOnlyBackend("constrained") {}
  std::unique_ptr<CallHandle> chat(const ChatRequest& request, ChatEventSink sink) override {
    for (int i = 0; i < request.n; ++i) {
      ChatEvent e;
      e.index = i;
      e.text = "{7}";
      TokenLogprob free, allowed, forced;
      free.chosen = {1, "{", std::log(0.5f)};
      allowed.chosen = {2, "7", std::log(0.1f)};
      allowed.constrained_logprob = std::log(0.8f);
      forced.chosen = {3, "}", std::log(0.01f)};
      forced.constrained_logprob = 0.0f;
      forced.forced = true;
      e.logprobs = {free, allowed, forced};
      e.finish_reason = "stop";
      e.completion_tokens = 3;
      sink(e);
    }
    return nullptr;
  }
};

// Samples are scored as the cascade reads a token (gateway/cascade.h): among what its constraint
// allowed, forced tokens aside; so a weighted vote or the logprob verifier does not count a
// brace the schema required as the model's doubt.
TEST(ReasoningScorer, SamplesReadTokensUnderTheirConstraint) {
  ConstrainedSamples backend;
  ChatRequest request;
  request.messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", "seven"}}});
  SampleSource source(backend, request, 0.7, 4);
  const std::vector<DrawnSample> drawn = source.draw(2);
  ASSERT_EQ(drawn.size(), 2u);
  for (const DrawnSample& d : drawn) {
    EXPECT_EQ(d.tokens, 3);
    EXPECT_EQ(d.scored_tokens, 2);
    EXPECT_NEAR(std::exp(d.mean_logprob()), std::sqrt(0.5 * 0.8), 1e-6);
    EXPECT_NEAR(make_scorer({{"type", "logprob"}}, nullptr, "")->score(d).score, std::sqrt(0.5 * 0.8), 1e-6);
  }
}

TEST(ReasoningScorer, JudgeWithoutAJudgeModelIsANamedError) {
  try {
    make_scorer({{"type", "judge"}}, nullptr, "q");
    FAIL() << "accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.param, "reasoning.verifier");
  }
}

TEST(ReasoningScorer, JudgeWordCountsAFirstTokenThatCanOnlyBeginOneAnswer) {
  // Large vocabularies have whole words; the built-in model's 512 pieces spell " y" + "es".
  for (const char* w : {"yes", "ye", "y"}) EXPECT_EQ(judge_word(w), JudgeWord::kYes) << w;
  for (const char* w : {"no", "n"}) EXPECT_EQ(judge_word(w), JudgeWord::kNo) << w;
  for (const char* w : {"", "yess", "nope", "not", "maybe", "e", "o"}) EXPECT_EQ(judge_word(w), JudgeWord::kNeither) << w;
}

TEST(ReasoningScorer, JudgeScoresTheProbabilityOfYesSpeltInPieces) {
  ScriptedJudge judge(0.8);
  auto scorer = make_scorer({{"type", "judge"}}, &judge, "Mia has 12 apples. She buys 7 more. How many?");
  const Verdict v = scorer->score(sample("12 + 7 = 19. The answer is 19."));
  EXPECT_NEAR(v.score, 0.8, 1e-6);
  EXPECT_TRUE(v.pass);
  ASSERT_EQ(judge.asked.size(), 1u);
  EXPECT_NE(judge.asked[0].find("Question: Mia has 12 apples."), std::string::npos) << judge.asked[0];
  EXPECT_NE(judge.asked[0].find("Proposed answer: 12 + 7 = 19."), std::string::npos) << judge.asked[0];
  // The same text again (samples that agree) is not asked twice; another text is.
  EXPECT_NEAR(scorer->score(sample("12 + 7 = 19. The answer is 19.")).score, 0.8, 1e-6);
  EXPECT_EQ(judge.asked.size(), 1u);
  scorer->score(sample("7 + 12 = 19. The answer is 19."));
  EXPECT_EQ(judge.asked.size(), 2u);
}

// A client that goes away while its best-of-N call waits on the judge stops the judge's calls too:
// they carry the caller's cancel, not a request of their own that nothing cancels.
TEST(ReasoningScorer, JudgeCallsCarryTheCallersCancel) {
  ScriptedJudge judge(0.8);
  bool gone = false;
  auto scorer = make_scorer({{"type", "judge"}}, &judge, "q", [&gone] { return gone; });
  scorer->score(sample("12 + 7 = 19. The answer is 19."));
  ASSERT_EQ(judge.cancelled.size(), 1u);
  ASSERT_TRUE(judge.cancelled[0]);
  EXPECT_FALSE(judge.cancelled[0]());
  gone = true;
  EXPECT_TRUE(judge.cancelled[0]());
}

TEST(ReasoningScorer, JudgeAfterARuleIsNotAskedAboutWhatTheRuleFails) {
  ScriptedJudge judge(0.3);
  const nlohmann::json spec = {{"type", "judge"}, {"after", {{"type", "arithmetic"}, {"grounded", true}}}};
  auto scorer = make_scorer(spec, &judge, "Mia has 12 apples. She buys 7 more. How many?");
  EXPECT_EQ(scorer->name(), "judge after arithmetic (grounded)");
  const Verdict wrong_step = scorer->score(sample("12 + 7 = 29. The answer is 29."));
  EXPECT_FALSE(wrong_step.pass);
  EXPECT_EQ(wrong_step.score, 0.0);
  EXPECT_TRUE(judge.asked.empty());
  const Verdict right_steps = scorer->score(sample("12 + 7 = 19. The answer is 19."));
  EXPECT_EQ(judge.asked.size(), 1u);
  EXPECT_NEAR(right_steps.score, 0.3, 1e-6);  // the judge's verdict, above the rule's failures
  EXPECT_FALSE(right_steps.pass);
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
