// S4: pick a cluster's model. Every candidate (the built-in model, GGUF files the caller
// lists, specialists train_specialist() produced) answers the same held-out calls; the best
// mean score wins (ties: the faster p50, then the earlier candidate). The teacher's score is
// 1.0 by definition: the held-out answers are its own. A candidate "reaches the target" when
// its score is at least target x the teacher's (default 95%): the bar S6 deploys at.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "convert/evaluate.h"

namespace rpu::convert {

struct Candidate {
  std::string name;          // shown in the result (a path, "builtin", "trained:lora")
  Backend* backend = nullptr;  // not owned
  int parallel = 1;          // its slots
};

struct SelectOptions {
  double target = 0.95;
  EvaluateOptions evaluate;  // parallel is taken from each candidate
};

struct CandidateResult {
  std::string name;
  Evaluation evaluation;
  double share_of_teacher = 0;  // mean score / teacher score
  bool reaches_target = false;
};

struct Selection {
  int held_out_calls = 0;
  double teacher_score = 1.0;
  double target = 0.95;
  std::vector<CandidateResult> candidates;  // in the order given
  int best = -1;                            // index into candidates; -1: none given
  bool best_reaches_target() const { return best >= 0 && candidates[static_cast<size_t>(best)].reaches_target; }
};

Selection select_model(const std::vector<const LoggedCall*>& held_out, const std::vector<Candidate>& candidates,
                       const SelectOptions& options,
                       const std::function<void(const CandidateResult&)>& on_result = {});

// {"held_out_calls", "teacher_score", "target", "best", "candidates": [{name, score, accuracy,
//  share_of_teacher, reaches_target, latency_p50_ms, seconds, errors}]}
nlohmann::ordered_json selection_json(const Selection& selection);
// One candidate's entry of that list: {name, score, accuracy, share_of_teacher, reaches_target,
// latency_p50_ms, seconds, errors}.
nlohmann::ordered_json candidate_json(const CandidateResult& result);

}  // namespace rpu::convert
