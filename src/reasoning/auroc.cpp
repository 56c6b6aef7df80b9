#include "reasoning/auroc.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace rpu::reasoning {

double auroc(const std::vector<std::pair<double, bool>>& score_correct) {
  std::vector<std::pair<double, bool>> sorted;
  sorted.reserve(score_correct.size());
  for (const auto& p : score_correct)
    if (!std::isnan(p.first)) sorted.push_back(p);
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  // Walk groups of equal scores upwards: each positive beats every negative below its
  // group and ties with the negatives inside it.
  double wins = 0;
  double negatives_below = 0;
  double positives = 0;
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i;
    double pos = 0;
    double neg = 0;
    for (; j < sorted.size() && sorted[j].first == sorted[i].first; ++j) (sorted[j].second ? pos : neg) += 1;
    wins += pos * (negatives_below + 0.5 * neg);
    negatives_below += neg;
    positives += pos;
    i = j;
  }
  if (positives == 0 || negatives_below == 0) return std::numeric_limits<double>::quiet_NaN();
  return wins / (positives * negatives_below);
}

}  // namespace rpu::reasoning
