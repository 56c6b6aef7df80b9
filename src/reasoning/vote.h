// Majority voting over sampled answers (self-consistency) and the stopping rule of adaptive
// self-consistency.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rpu::reasoning {

struct Sample {
  std::string text;
  std::optional<std::string> answer;  // extract_answer(text); nullopt: no vote
  double mean_logprob = 0;            // mean log-probability of the sample's tokens
};

struct VoteResult {
  std::optional<std::string> answer;  // the winner; nullopt when no sample has an answer
  // Index of the sample that represents the winner: among the samples with the winning
  // answer, the one with the highest mean_logprob (the first one on ties); -1 without winner.
  int chosen = -1;
  // Winner's weight / total weight of ALL samples (those without an answer count in the
  // denominator, so "3 of 8 answered 53, the rest nothing" is 0.375, not 1). 0 without winner.
  double confidence = 0;
  // answer -> total weight, highest first; equal weights keep the order in which the
  // answers first appeared. votes[0] is the winner.
  std::vector<std::pair<std::string, double>> votes;
  // answer -> number of samples, in the same order as `votes` (differs from the weights
  // only when weighted). Adaptive stopping reasons about these counts.
  std::vector<std::pair<std::string, int>> counts;
};

// Weight of one vote: 1, or when weighted exp(mean_logprob), the per-token geometric mean
// probability (in [0, 1]; a NaN log-probability weighs 0, a positive one is capped at 1).
double vote_weight(const Sample& sample, bool weighted_by_logprob);

VoteResult majority_vote(const std::vector<Sample>& samples, bool weighted_by_logprob);

// The vote with explicit weights (weights[i] >= 0 for samples[i]): answer -> summed weight,
// confidence = winner's weight / `total` (capped at 1), and the winner's representative is
// its heaviest voter (then the higher mean_logprob). majority_vote is this with vote_weight()
// and total = the sum of all weights. Best-of-N's verified vote runs it over the samples that
// pass the verifier, weight = verifier score (x vote_weight), total = all samples drawn.
VoteResult weighted_vote(const std::vector<Sample>& samples, const std::vector<double>& weights, double total);

// Minimum samples drawn before the share threshold may stop sampling: a share from one or
// two samples says little (1 of 1 is 100%).
inline constexpr int kAdaptiveMinSamples = 3;

// Whether adaptive self-consistency may stop after `drawn` samples (of at most
// `max_samples`), given the vote so far. With L = samples whose answer is the current
// winner (current.answer), S = the largest sample count of any other answer, and
// R = max(0, max_samples - drawn) samples still to come, it stops when
//   1. R == 0 (the budget is spent), or
//   2. L > S + R: even if every remaining sample went to the runner-up it would end
//      strictly below the leader (a possible tie is not enough), or
//   3. drawn >= kAdaptiveMinSamples and L / drawn >= share_threshold (samples without
//      an answer count in `drawn`; a threshold above 1 disables this rule).
// Counts are unweighted even when the vote was weighted. Without a winner (no sample has
// an answer yet) only rule 1 applies.
bool adaptive_can_stop(const VoteResult& current, int drawn, int max_samples, double share_threshold);

}  // namespace rpu::reasoning
