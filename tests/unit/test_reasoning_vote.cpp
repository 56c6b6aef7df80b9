// Majority voting and adaptive stopping against hand-computed oracles, plus AUROC on
// cases small enough to count by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "reasoning/auroc.h"
#include "reasoning/vote.h"
#include "reasoning_samples.h"

namespace rpu::reasoning {
namespace {

using test_support::sample;

using Votes = std::vector<std::pair<std::string, double>>;
using Counts = std::vector<std::pair<std::string, int>>;

TEST(ReasoningVote, UnweightedMajority) {
  const std::vector<Sample> samples = {sample("53", -0.5), sample("52", -0.1), sample("53", -0.2),
                                       sample(std::nullopt, -0.3), sample("53", -0.9)};
  const VoteResult r = majority_vote(samples, false);
  EXPECT_EQ(r.answer, "53");
  EXPECT_EQ(r.chosen, 2);  // the "53" sample with the highest mean log-probability
  EXPECT_DOUBLE_EQ(r.confidence, 3.0 / 5.0);  // the answerless sample counts in the total
  EXPECT_EQ(r.votes, (Votes{{"53", 3.0}, {"52", 1.0}}));
  EXPECT_EQ(r.counts, (Counts{{"53", 3}, {"52", 1}}));
}

TEST(ReasoningVote, TiesKeepFirstAppearance) {
  const std::vector<Sample> samples = {sample("7"), sample("9"), sample("9"), sample("7"), sample("1")};
  const VoteResult r = majority_vote(samples, false);
  EXPECT_EQ(r.answer, "7");
  EXPECT_EQ(r.chosen, 0);  // equal log-probabilities: the first sample
  EXPECT_DOUBLE_EQ(r.confidence, 0.4);
  EXPECT_EQ(r.votes, (Votes{{"7", 2.0}, {"9", 2.0}, {"1", 1.0}}));
}

TEST(ReasoningVote, WeightedByLogprob) {
  // Two unsure "10"s against one confident "12": exp(-2) * 2 = 0.271 < exp(-0.1) = 0.905.
  const std::vector<Sample> samples = {sample("10", -2.0), sample("12", -0.1), sample("10", -2.0),
                                       sample(std::nullopt, -1.0)};
  const VoteResult weighted = majority_vote(samples, true);
  EXPECT_EQ(weighted.answer, "12");
  EXPECT_EQ(weighted.chosen, 1);
  const double total = 2 * std::exp(-2.0) + std::exp(-0.1) + std::exp(-1.0);
  EXPECT_NEAR(weighted.confidence, std::exp(-0.1) / total, 1e-12);
  ASSERT_EQ(weighted.votes.size(), 2u);
  EXPECT_EQ(weighted.votes[0].first, "12");
  EXPECT_NEAR(weighted.votes[1].second, 2 * std::exp(-2.0), 1e-12);
  EXPECT_EQ(weighted.counts, (Counts{{"12", 1}, {"10", 2}}));
  const VoteResult plain = majority_vote(samples, false);
  EXPECT_EQ(plain.answer, "10");
  EXPECT_DOUBLE_EQ(plain.confidence, 0.5);
}

TEST(ReasoningVote, NoAnswers) {
  const VoteResult none = majority_vote({sample(std::nullopt), sample(std::nullopt)}, false);
  EXPECT_EQ(none.answer, std::nullopt);
  EXPECT_EQ(none.chosen, -1);
  EXPECT_EQ(none.confidence, 0.0);
  EXPECT_TRUE(none.votes.empty());
  const VoteResult empty = majority_vote({}, true);
  EXPECT_EQ(empty.answer, std::nullopt);
  EXPECT_EQ(empty.chosen, -1);
}

TEST(ReasoningVote, WeightEdgeCases) {
  EXPECT_EQ(vote_weight(sample("1", -1.0), false), 1.0);
  EXPECT_DOUBLE_EQ(vote_weight(sample("1", -1.0), true), std::exp(-1.0));
  EXPECT_EQ(vote_weight(sample("1", NAN), true), 0.0);
  EXPECT_EQ(vote_weight(sample("1", -INFINITY), true), 0.0);
  EXPECT_EQ(vote_weight(sample("1", 0.5), true), 1.0);
  // A NaN log-probability never represents the winner over a real one.
  const VoteResult r = majority_vote({sample("4", NAN), sample("4", -3.0)}, false);
  EXPECT_EQ(r.chosen, 1);
}

VoteResult vote_of(const std::vector<std::optional<std::string>>& answers) {
  std::vector<Sample> samples;
  for (const auto& a : answers) samples.push_back(sample(a));
  return majority_vote(samples, false);
}

TEST(ReasoningAdaptive, CannotBeOvertaken) {
  // 4 x "53", 1 x "52", 3 of 8 still to draw: "52" could still tie at 4, so sampling goes
  // on (the rule needs L > S + R); with 2 left it cannot.
  const VoteResult r = vote_of({"53", "53", "52", "53", "53"});
  EXPECT_FALSE(adaptive_can_stop(r, 5, 8, 2.0));   // 4 > 1 + 3 is false
  EXPECT_TRUE(adaptive_can_stop(r, 5, 7, 2.0));    // 4 > 1 + 2
  const VoteResult unanimous = vote_of({"5", "5", "5"});
  EXPECT_TRUE(adaptive_can_stop(unanimous, 3, 5, 2.0));   // 3 > 0 + 2
  EXPECT_FALSE(adaptive_can_stop(unanimous, 3, 6, 2.0));  // 3 > 0 + 3 is false
}

TEST(ReasoningAdaptive, ShareThreshold) {
  const VoteResult r = vote_of({"53", "53", "52", "53"});
  EXPECT_TRUE(adaptive_can_stop(r, 4, 16, 0.75));   // 3 / 4 >= 0.75
  EXPECT_FALSE(adaptive_can_stop(r, 4, 16, 0.8));
  // Answerless samples count in the share.
  const VoteResult with_none = vote_of({"53", "53", std::nullopt, "53"});
  EXPECT_FALSE(adaptive_can_stop(with_none, 4, 16, 0.8));
  EXPECT_TRUE(adaptive_can_stop(with_none, 4, 16, 0.75));
  // Fewer than kAdaptiveMinSamples samples never stop on the share alone.
  const VoteResult two = vote_of({"1", "1"});
  EXPECT_FALSE(adaptive_can_stop(two, 2, 16, 0.5));
  EXPECT_TRUE(adaptive_can_stop(vote_of({"1", "1", "1"}), 3, 16, 1.0));
}

TEST(ReasoningAdaptive, NotYet) {
  const VoteResult split = vote_of({"1", "2", "1", "2"});
  EXPECT_FALSE(adaptive_can_stop(split, 4, 8, 0.7));
  EXPECT_TRUE(adaptive_can_stop(split, 8, 8, 0.7));  // budget spent
  EXPECT_TRUE(adaptive_can_stop(split, 9, 8, 0.7));
  const VoteResult none = vote_of({std::nullopt, std::nullopt, std::nullopt});
  EXPECT_FALSE(adaptive_can_stop(none, 3, 8, 0.1));
  EXPECT_TRUE(adaptive_can_stop(none, 8, 8, 0.1));
  EXPECT_FALSE(adaptive_can_stop(vote_of({}), 0, 8, 0.5));
}

TEST(ReasoningAdaptive, WeightedLeaderUsesCounts) {
  // The weighted winner "12" has 1 sample against 2 for "10": never "cannot be overtaken".
  std::vector<Sample> samples = {sample("10", -3.0), sample("12", -0.01), sample("10", -3.0)};
  const VoteResult r = majority_vote(samples, true);
  ASSERT_EQ(r.answer, "12");
  EXPECT_FALSE(adaptive_can_stop(r, 3, 4, 2.0));
  EXPECT_FALSE(adaptive_can_stop(r, 3, 4, 0.5));  // share 1/3
}

TEST(ReasoningAuroc, KnownCases) {
  EXPECT_DOUBLE_EQ(auroc({{0.9, true}, {0.8, true}, {0.3, false}, {0.1, false}}), 1.0);
  EXPECT_DOUBLE_EQ(auroc({{0.1, true}, {0.2, true}, {0.8, false}, {0.9, false}}), 0.0);
  EXPECT_DOUBLE_EQ(auroc({{0.5, true}, {0.5, false}, {0.5, true}, {0.5, false}}), 0.5);
  // Positives 0.9, 0.6, 0.4; negatives 0.6, 0.2. Pairs: 0.9 beats both (2), 0.6 ties 0.6
  // (0.5) and beats 0.2 (1), 0.4 loses to 0.6 (0) and beats 0.2 (1): 4.5 / 6 = 0.75.
  EXPECT_DOUBLE_EQ(auroc({{0.9, true}, {0.6, false}, {0.6, true}, {0.2, false}, {0.4, true}}), 0.75);
  EXPECT_TRUE(std::isnan(auroc({{0.9, true}, {0.1, true}})));
  EXPECT_TRUE(std::isnan(auroc({{0.9, false}})));
  EXPECT_TRUE(std::isnan(auroc({})));
  EXPECT_DOUBLE_EQ(auroc({{0.9, true}, {NAN, false}, {0.1, false}}), 1.0);  // NaN scores left out
}

}  // namespace
}  // namespace rpu::reasoning
