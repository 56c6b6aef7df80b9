// S4: pick a cluster's model and how to serve it. Every candidate (the built-in model, GGUF
// files the caller lists, specialists train_specialist() produced) answers the same held-out
// calls greedily and with each strategy given (strategies.h: self-consistency, best-of-N with
// a verifier), through the reasoning layer as the gateway serves it. The best mean score wins;
// ties go to the fewer samples per call (a strategy must buy quality with its extra compute),
// then the faster p50, then the earlier pair. A candidate whose greedy answers score 0 is not
// tried with strategies: voting over its samples has no right answer to find, and the samples
// would cost five times its greedy evaluation. The teacher's score is 1.0 by definition: the
// held-out answers are its own. A pair "reaches the target" when its score is at least
// target x the teacher's (default 95%): the bar S6 deploys at.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "convert/evaluate.h"
#include "convert/strategies.h"

namespace rpu::convert {

struct Candidate {
  std::string name;          // shown in the result (a path, "builtin", "trained:lora")
  Backend* backend = nullptr;  // not owned
  int parallel = 1;          // its slots
};

struct SelectOptions {
  double target = 0.95;
  EvaluateOptions evaluate;  // parallel is taken from each candidate, reasoning from each strategy
  // What each candidate is evaluated with (strategies_for); empty: greedy only.
  std::vector<StrategyChoice> strategies;
};

// One (candidate, strategy) pair's evaluation.
struct CandidateResult {
  std::string name;                  // the candidate's
  std::string strategy = "greedy";   // the strategy table's name
  nlohmann::ordered_json reasoning;  // what the route sends the model (null: greedy)
  Evaluation evaluation;
  double share_of_teacher = 0;  // mean score / teacher score
  bool reaches_target = false;
};

struct Selection {
  int held_out_calls = 0;
  double teacher_score = 1.0;
  double target = 0.95;
  std::vector<CandidateResult> candidates;  // per candidate in the order given, its strategies in theirs
  std::vector<std::string> not_tried;       // strategies left out, and why ("builtin: sc5, bon5 (...)")
  int best = -1;                            // index into candidates; -1: none given
  bool best_reaches_target() const { return best >= 0 && candidates[static_cast<size_t>(best)].reaches_target; }
};

Selection select_model(const std::vector<const LoggedCall*>& held_out, const std::vector<Candidate>& candidates,
                       const SelectOptions& options,
                       const std::function<void(const CandidateResult&)>& on_result = {});

// The index of the best result by the rule above; -1 for none.
int pick_best(const std::vector<CandidateResult>& results);

// {"held_out_calls", "teacher_score", "target", "best", "best_strategy", "strategy_reason",
//  "best_reaches_target", "not_tried", "candidates": [candidate_json...]}
nlohmann::ordered_json selection_json(const Selection& selection);
// One pair's entry of that list: {name, strategy, reasoning, score, accuracy, share_of_teacher,
// reaches_target, latency_p50_ms, samples_per_call, completion_tokens_per_call, seconds, errors}.
nlohmann::ordered_json candidate_json(const CandidateResult& result);

// The model S5 fine-tunes, given S4's entries (candidate_json with "model": its path) and the
// model it would start from otherwise (`preferred`, e.g. the generalist): the model whose best
// entry, under any strategy, scores highest; ties keep `preferred`. Why: the generalist reads
// the cluster's text with a fitted vocabulary and knows its formats, so it is usually the
// start; but where a shipped model already does better it starts from that (the built-in
// model on arithmetic word problems, whose sums a 30-minute generalist got right on 4% to 46%
// of the held-out calls in two bench runs). -> (name, path).
std::pair<std::string, std::string> fine_tune_start(const nlohmann::ordered_json& entries, const std::string& preferred_name,
                                                    const std::string& preferred_path);

// Why `chosen` (an entry of `entries`, both as candidate_json writes them; entries without
// "strategy" are greedy) is served with its strategy: what it scores against the same model's
// greedy answers and what that costs, or that no strategy of that model scored higher.
std::string strategy_reason(const nlohmann::ordered_json& entries, const nlohmann::ordered_json& chosen);

}  // namespace rpu::convert
