// Best-of-N's verified vote (strategies.h) and the explicit-weight vote under it (vote.h),
// on crafted samples and verdicts whose winners are counted by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "reasoning/strategies.h"
#include "reasoning/vote.h"
#include "reasoning_samples.h"

namespace rpu::reasoning {
namespace {

using test_support::sample;

Verdict verdict(bool pass, double score) { return Verdict{pass, score, ""}; }

DrawnSample drawn(double mean_logprob) {
  DrawnSample d;
  d.tokens = 10;
  d.scored_tokens = 10;
  d.logprob_sum = 10 * mean_logprob;
  return d;
}

// Passing beats failing, then the higher score, then the higher mean log-probability; how many
// samples share an answer does not enter (the indices are counted by hand).
TEST(ReasoningBestVerdict, PassThenScoreThenLogprob) {
  const std::vector<DrawnSample> d = {drawn(-0.1), drawn(-0.5), drawn(-0.2), drawn(-0.3)};
  EXPECT_EQ(best_verdict(d, {verdict(false, 1), verdict(true, 0.5), verdict(true, 0.5), verdict(false, 1)}), 2u);
  EXPECT_EQ(best_verdict(d, {verdict(false, 1), verdict(true, 0.5), verdict(true, 0.4), verdict(false, 1)}), 1u);
  EXPECT_EQ(best_verdict(d, {verdict(false, 0.2), verdict(false, 0.9), verdict(false, 0.9), verdict(false, 0.1)}), 2u);
  EXPECT_EQ(best_verdict(d, {verdict(true, 1), verdict(true, 1), verdict(true, 1), verdict(true, 1)}), 0u);
}

TEST(ReasoningWeightedVote, SumsExplicitWeightsAndPicksTheHeaviestVoter) {
  const std::vector<Sample> samples = {sample("7", -0.1), sample("9", -0.2), sample("7", -0.3), sample("9", -0.9)};
  // "9": 0.5 + 0.9 = 1.4 beats "7": 0.6 + 0.2 = 0.8 although "7"'s first voter is likelier.
  const VoteResult r = weighted_vote(samples, {0.6, 0.5, 0.2, 0.9}, 4.0);
  EXPECT_EQ(r.answer, "9");
  EXPECT_EQ(r.chosen, 3);  // the heavier "9" voter, not the likelier one
  EXPECT_DOUBLE_EQ(r.confidence, 1.4 / 4.0);
  ASSERT_EQ(r.votes.size(), 2u);
  EXPECT_DOUBLE_EQ(r.votes[1].second, 0.8);
  EXPECT_EQ(r.counts[0].second, 2);
}

TEST(ReasoningWeightedVote, MajorityVoteIsTheSameWithVoteWeights) {
  const std::vector<Sample> samples = {sample("53", -0.5), sample("52", -0.1), sample("53", -0.2),
                                       sample(std::nullopt, -0.3)};
  for (bool weighted : {false, true}) {
    std::vector<double> weights;
    double total = 0;
    for (const Sample& s : samples) total += weights.emplace_back(vote_weight(s, weighted));
    const VoteResult a = majority_vote(samples, weighted);
    const VoteResult b = weighted_vote(samples, weights, total);
    EXPECT_EQ(a.answer, b.answer);
    EXPECT_EQ(a.chosen, b.chosen);
    EXPECT_DOUBLE_EQ(a.confidence, b.confidence);
  }
}

TEST(ReasoningVerifiedVote, OnlyPassingSamplesVote) {
  // Three samples say 12 but fail the verifier; two pass with 18: plain majority would say 12.
  const std::vector<Sample> samples = {sample("12", -0.1), sample("18", -0.5), sample("12", -0.1),
                                       sample("18", -0.3), sample("12", -0.2)};
  const std::vector<Verdict> verdicts = {verdict(false, 0.5), verdict(true, 1.0), verdict(false, 0.5),
                                         verdict(true, 1.0), verdict(false, 0.0)};
  EXPECT_EQ(majority_vote(samples, false).answer, "12");
  const std::optional<size_t> winner = verified_vote_winner(samples, verdicts, false);
  ASSERT_TRUE(winner);
  EXPECT_EQ(*winner, 3u);  // the likelier of the two passing "18" samples
}

TEST(ReasoningVerifiedVote, AgreementAmongPassersBeatsOneBetterScore) {
  // One passing "40" with score 1.0 against two passing "45" with 0.75 each: 1.5 > 1.0. The
  // best-verdict rule would take the single 1.0; the vote takes the agreement.
  const std::vector<Sample> samples = {sample("40", -0.1), sample("45", -0.4), sample("45", -0.2)};
  const std::vector<Verdict> verdicts = {verdict(true, 1.0), verdict(true, 0.75), verdict(true, 0.75)};
  const std::optional<size_t> winner = verified_vote_winner(samples, verdicts, false);
  ASSERT_TRUE(winner);
  EXPECT_EQ(*winner, 2u);
}

TEST(ReasoningVerifiedVote, WeightedByLogprobCanTurnTheVote) {
  // Equal scores; "40" is one confident sample (p = 0.9), "45" two unlikely ones (p = 0.3 each):
  // unweighted 2 > 1 picks 45, weighted 0.9 > 0.6 picks 40.
  const std::vector<Sample> samples = {sample("40", std::log(0.9)), sample("45", std::log(0.3)),
                                       sample("45", std::log(0.3))};
  const std::vector<Verdict> verdicts = {verdict(true, 1.0), verdict(true, 1.0), verdict(true, 1.0)};
  EXPECT_EQ(verified_vote_winner(samples, verdicts, false), std::optional<size_t>(1));
  EXPECT_EQ(verified_vote_winner(samples, verdicts, true), std::optional<size_t>(0));
}

TEST(ReasoningVerifiedVote, NothingPassesWithAnAnswer) {
  const std::vector<Sample> samples = {sample("12"), sample(std::nullopt)};
  const std::vector<Verdict> verdicts = {verdict(false, 0.9), verdict(true, 1.0)};
  EXPECT_FALSE(verified_vote_winner(samples, verdicts, false));
  EXPECT_FALSE(verified_vote_winner({}, {}, false));
}

}  // namespace
}  // namespace rpu::reasoning
