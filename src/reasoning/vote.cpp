#include "reasoning/vote.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace rpu::reasoning {

double vote_weight(const Sample& sample, bool weighted_by_logprob) {
  if (!weighted_by_logprob) return 1.0;
  if (std::isnan(sample.mean_logprob)) return 0.0;
  return std::exp(std::min(sample.mean_logprob, 0.0));
}

VoteResult majority_vote(const std::vector<Sample>& samples, bool weighted_by_logprob) {
  std::vector<double> weights;
  double total = 0;
  for (const Sample& sample : samples) {
    weights.push_back(vote_weight(sample, weighted_by_logprob));
    total += weights.back();
  }
  return weighted_vote(samples, weights, total);
}

VoteResult weighted_vote(const std::vector<Sample>& samples, const std::vector<double>& weights, double total) {
  struct Tally {
    std::string answer;
    double weight = 0;
    int count = 0;
  };
  std::vector<Tally> tallies;  // in order of first appearance
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < samples.size(); ++i) {
    if (!samples[i].answer) continue;
    const auto [it, inserted] = index.try_emplace(*samples[i].answer, tallies.size());
    if (inserted) tallies.push_back({*samples[i].answer, 0, 0});
    tallies[it->second].weight += weights[i];
    tallies[it->second].count += 1;
  }
  // Stable: equal weights keep first-appearance order.
  std::stable_sort(tallies.begin(), tallies.end(), [](const Tally& a, const Tally& b) { return a.weight > b.weight; });

  VoteResult result;
  for (const Tally& t : tallies) {
    result.votes.emplace_back(t.answer, t.weight);
    result.counts.emplace_back(t.answer, t.count);
  }
  if (tallies.empty()) return result;
  result.answer = tallies[0].answer;
  result.confidence = total > 0 ? std::min(1.0, tallies[0].weight / total) : 0.0;
  // The winner's representative: the heaviest of its samples, then the higher log-probability
  // (a NaN one never beats a real one); equal ones keep the first sample.
  const auto better = [&](size_t a, size_t b) {
    if (weights[a] != weights[b]) return weights[a] > weights[b];
    const double la = samples[a].mean_logprob, lb = samples[b].mean_logprob;
    return !std::isnan(la) && (std::isnan(lb) || la > lb);
  };
  for (size_t i = 0; i < samples.size(); ++i) {
    if (samples[i].answer != result.answer) continue;
    if (result.chosen < 0 || better(i, static_cast<size_t>(result.chosen))) result.chosen = static_cast<int>(i);
  }
  return result;
}

bool adaptive_can_stop(const VoteResult& current, int drawn, int max_samples, double share_threshold) {
  const int remaining = std::max(0, max_samples - drawn);
  if (remaining == 0) return true;
  if (!current.answer) return false;
  int leader = 0;
  int runner_up = 0;
  for (const auto& [answer, count] : current.counts) {
    if (answer == *current.answer) leader = count;
    else runner_up = std::max(runner_up, count);
  }
  if (leader > runner_up + remaining) return true;
  return drawn >= kAdaptiveMinSamples && drawn > 0 &&
         static_cast<double>(leader) / static_cast<double>(drawn) >= share_threshold;
}

}  // namespace rpu::reasoning
