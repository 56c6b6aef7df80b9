#include "convert/select.h"

#include <cmath>

namespace rpu::convert {

Selection select_model(const std::vector<const LoggedCall*>& held_out, const std::vector<Candidate>& candidates,
                       const SelectOptions& options, const std::function<void(const CandidateResult&)>& on_result) {
  Selection s;
  s.held_out_calls = static_cast<int>(held_out.size());
  s.target = options.target;
  for (const Candidate& c : candidates) {
    EvaluateOptions eo = options.evaluate;
    eo.parallel = c.parallel;
    CandidateResult r;
    r.name = c.name;
    r.evaluation = evaluate(*c.backend, held_out, eo);
    r.share_of_teacher = s.teacher_score > 0 ? r.evaluation.mean_score / s.teacher_score : 0;
    // With no held-out calls nothing is shown to be as good as the teacher.
    r.reaches_target = !held_out.empty() && r.share_of_teacher + 1e-12 >= options.target;
    if (on_result) on_result(r);
    s.candidates.push_back(std::move(r));
  }
  for (size_t i = 0; i < s.candidates.size(); ++i) {
    if (s.best < 0) {
      s.best = static_cast<int>(i);
      continue;
    }
    const Evaluation& a = s.candidates[i].evaluation;
    const Evaluation& b = s.candidates[static_cast<size_t>(s.best)].evaluation;
    if (a.mean_score > b.mean_score + 1e-12 ||
        (std::abs(a.mean_score - b.mean_score) <= 1e-12 && a.latency_p50_ms < b.latency_p50_ms)) {
      s.best = static_cast<int>(i);
    }
  }
  return s;
}

nlohmann::ordered_json candidate_json(const CandidateResult& r) {
  int errors = 0;
  for (const CallScore& c : r.evaluation.calls) errors += c.error.empty() ? 0 : 1;
  return {{"name", r.name},
          {"score", r.evaluation.mean_score},
          {"accuracy", r.evaluation.accuracy},
          {"share_of_teacher", r.share_of_teacher},
          {"reaches_target", r.reaches_target},
          {"latency_p50_ms", r.evaluation.latency_p50_ms},
          {"seconds", r.evaluation.seconds},
          {"errors", errors}};
}

nlohmann::ordered_json selection_json(const Selection& s) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const CandidateResult& r : s.candidates) list.push_back(candidate_json(r));
  return {{"held_out_calls", s.held_out_calls},
          {"teacher_score", s.teacher_score},
          {"target", s.target},
          {"best", s.best >= 0 ? nlohmann::ordered_json(s.candidates[static_cast<size_t>(s.best)].name) : nullptr},
          {"best_reaches_target", s.best_reaches_target()},
          {"candidates", list}};
}

}  // namespace rpu::convert
