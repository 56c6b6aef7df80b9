// Area under the ROC curve: how well a confidence score separates right answers from wrong
// ones (1 = every right answer scores above every wrong one, 0.5 = no better than chance).
#pragma once

#include <utility>
#include <vector>

namespace rpu::reasoning {

// score_correct: (confidence, was the answer right). The probability that a random right
// answer scores above a random wrong one, equal scores counting one half (Mann-Whitney U /
// (positives * negatives)). NaN when there are no right or no wrong answers. Pairs whose
// score is NaN are left out.
double auroc(const std::vector<std::pair<double, bool>>& score_correct);

}  // namespace rpu::reasoning
