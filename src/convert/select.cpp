#include "convert/select.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "reasoning/reasoning_backend.h"

namespace rpu::convert {
namespace {

using json = nlohmann::ordered_json;

constexpr double kTie = 1e-12;

// a before b: higher score; equal scores: fewer samples per call, then the faster p50.
bool better(const Evaluation& a, const Evaluation& b) {
  if (std::abs(a.mean_score - b.mean_score) > kTie) return a.mean_score > b.mean_score;
  if (std::abs(a.samples_per_call - b.samples_per_call) > kTie) return a.samples_per_call < b.samples_per_call;
  return a.latency_p50_ms < b.latency_p50_ms;
}

CandidateResult evaluate_pair(Backend& backend, const std::string& name, const StrategyChoice& strategy,
                              const std::vector<const LoggedCall*>& held_out, EvaluateOptions eo, const Selection& s,
                              double target) {
  eo.reasoning = strategy.reasoning;
  CandidateResult r;
  r.name = name;
  r.strategy = strategy.name;
  r.reasoning = strategy.reasoning;
  r.evaluation = evaluate(backend, held_out, eo);
  r.share_of_teacher = s.teacher_score > 0 ? r.evaluation.mean_score / s.teacher_score : 0;
  // With no held-out calls nothing is shown to be as good as the teacher.
  r.reaches_target = !held_out.empty() && r.share_of_teacher + kTie >= target;
  return r;
}

}  // namespace

int pick_best(const std::vector<CandidateResult>& results) {
  int best = -1;
  for (size_t i = 0; i < results.size(); ++i) {
    if (best < 0 || better(results[i].evaluation, results[static_cast<size_t>(best)].evaluation)) best = static_cast<int>(i);
  }
  return best;
}

Selection select_model(const std::vector<const LoggedCall*>& held_out, const std::vector<Candidate>& candidates,
                       const SelectOptions& options, const std::function<void(const CandidateResult&)>& on_result) {
  Selection s;
  s.held_out_calls = static_cast<int>(held_out.size());
  s.target = options.target;
  const std::vector<StrategyChoice> strategies =
      options.strategies.empty() ? std::vector<StrategyChoice>{{"greedy", nullptr}} : options.strategies;
  for (const Candidate& c : candidates) {
    EvaluateOptions eo = options.evaluate;
    eo.parallel = c.parallel;
    // As the gateway serves a local model (tools/rpu/cmd_gateway.cpp): the reasoning layer
    // around it, drawing as many samples together as the model has slots.
    reasoning::ReasoningBackend reasoned(*c.backend, reasoning::ReasoningOptions{c.parallel, nullptr});
    double greedy_score = -1;
    std::string skipped;
    for (const StrategyChoice& strategy : strategies) {
      if (!strategy.reasoning.is_null() && greedy_score == 0) {
        skipped += (skipped.empty() ? "" : ", ") + strategy.name;
        continue;
      }
      CandidateResult r = evaluate_pair(reasoned, c.name, strategy, held_out, eo, s, options.target);
      if (strategy.reasoning.is_null()) greedy_score = r.evaluation.mean_score;
      if (on_result) on_result(r);
      s.candidates.push_back(std::move(r));
    }
    if (!skipped.empty()) {
      s.not_tried.push_back(fmt::format("{}: {} (its greedy answers score 0: no right answer to vote for)", c.name, skipped));
    }
  }
  s.best = pick_best(s.candidates);
  return s;
}

json candidate_json(const CandidateResult& r) {
  int errors = 0;
  for (const CallScore& c : r.evaluation.calls) errors += c.error.empty() ? 0 : 1;
  return {{"name", r.name},
          {"strategy", r.strategy},
          {"reasoning", r.reasoning},
          {"score", r.evaluation.mean_score},
          {"accuracy", r.evaluation.accuracy},
          {"share_of_teacher", r.share_of_teacher},
          {"reaches_target", r.reaches_target},
          {"latency_p50_ms", r.evaluation.latency_p50_ms},
          {"samples_per_call", r.evaluation.samples_per_call},
          {"completion_tokens_per_call", r.evaluation.completion_tokens_per_call},
          {"seconds", r.evaluation.seconds},
          {"errors", errors}};
}

std::string strategy_reason(const json& entries, const json& chosen) {
  const std::string name = chosen.value("name", std::string());
  const std::string strategy = chosen.value("strategy", std::string("greedy"));
  const json* greedy = nullptr;
  std::string others;
  bool higher = false;  // another strategy of the same model scored higher than the chosen one
  for (const json& e : entries) {
    if (e.value("name", std::string()) != name) continue;
    const std::string s = e.value("strategy", std::string("greedy"));
    if (s == "greedy") {
      greedy = &e;
    } else if (s != strategy) {
      others += fmt::format("{}{} {:.3f} at {:.1f} samples per call", others.empty() ? "" : ", ", s,
                            e["score"].get<double>(), e.value("samples_per_call", 1.0));
      higher = higher || e["score"].get<double>() > chosen["score"].get<double>();
    }
  }
  if (strategy == "greedy") {
    if (others.empty()) return fmt::format("{} greedy (no strategy tried)", name);
    // A higher-scoring strategy loses when its route keeps fewer calls local (run.cpp best_deployable).
    return fmt::format("{} greedy {:.3f}: {} ({})", name, chosen["score"].get<double>(),
                       higher ? "other strategies" : "no strategy scored higher", others);
  }
  const std::string how = describe_strategy(chosen.value("reasoning", json()));
  const std::string cost = fmt::format("{:.1f} samples ({:.0f} tokens) per call, p50 {:.0f} ms",
                                       chosen.value("samples_per_call", 1.0),
                                       chosen.value("completion_tokens_per_call", 0.0), chosen["latency_p50_ms"].get<double>());
  if (greedy == nullptr) return fmt::format("{} with {} ({}): {:.3f}; {}", name, strategy, how, chosen["score"].get<double>(), cost);
  return fmt::format("{} with {} ({}): {:.3f} vs {:.3f} greedy, for {} (greedy: {:.0f} tokens per call, p50 {:.0f} ms)",
                     name, strategy, how, chosen["score"].get<double>(), (*greedy)["score"].get<double>(), cost,
                     greedy->value("completion_tokens_per_call", 0.0), (*greedy)["latency_p50_ms"].get<double>());
}

std::pair<std::string, std::string> fine_tune_start(const json& entries, const std::string& preferred_name,
                                                    const std::string& preferred_path) {
  double best = -1;
  for (const json& e : entries) {
    if (e.value("model", std::string()) == preferred_path) best = std::max(best, e.value("score", 0.0));
  }
  std::pair<std::string, std::string> start{preferred_name, preferred_path};
  for (const json& e : entries) {
    const std::string model = e.value("model", std::string());
    const double score = e.value("score", 0.0);
    if (model != preferred_path && !model.empty() && score > best) best = score, start = {e.value("name", model), model};
  }
  return start;
}

json selection_json(const Selection& s) {
  json list = json::array();
  for (const CandidateResult& r : s.candidates) list.push_back(candidate_json(r));
  const bool has_best = s.best >= 0;
  const json best = has_best ? list[static_cast<size_t>(s.best)] : json();
  return {{"held_out_calls", s.held_out_calls},
          {"teacher_score", s.teacher_score},
          {"target", s.target},
          {"best", has_best ? best["name"] : json()},
          {"best_strategy", has_best ? best["strategy"] : json()},
          {"strategy_reason", has_best ? json(strategy_reason(list, best)) : json()},
          {"best_reaches_target", s.best_reaches_target()},
          {"not_tried", s.not_tried},
          {"candidates", list}};
}

}  // namespace rpu::convert
