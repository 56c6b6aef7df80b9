#include "convert/deploy.h"

#include <fmt/format.h>

#include <filesystem>
#include <map>
#include <set>
#include <string_view>

#include "convert/classifier_file.h"
#include "convert/select.h"
#include "gateway/router.h"

namespace rpu::convert {
namespace {

using json = nlohmann::ordered_json;
namespace fs = std::filesystem;

// The route's calibration on the candidate's samples ([confidence, correct, weight, answer
// confidence, then both read as the model's own probabilities (CallScore), for comparison only];
// states written before the answer's probability have three): on the measure that keeps more
// calls local (calibrate_measures).
RouteCalibration calibrate(const json& candidate, double target, double margin_z) {
  std::vector<CalibrationSample> by_mean, by_answer;
  for (const json& s : candidate["samples"]) {
    const double weight = s.size() > 2 ? s[2].get<double>() : 1.0;
    by_mean.push_back({s[0].get<double>(), s[1].get<bool>(), weight});
    if (s.size() > 3) by_answer.push_back({s[3].get<double>(), s[1].get<bool>(), weight});
  }
  if (by_answer.size() != by_mean.size()) by_answer.clear();
  return calibrate_measures(std::move(by_mean), std::move(by_answer), target, margin_z);
}

// Every evaluated pair of the cluster: S4's, then the trained specialist's (older states kept
// only its best pair, as "candidate").
std::vector<json> evaluated_pairs(const json& state) {
  std::vector<json> pairs;
  if (state.contains("evaluated")) {
    for (const json& c : state["evaluated"]) pairs.push_back(c);
  }
  if (state.contains("trained")) {
    const json& t = state["trained"];
    if (t.contains("candidates")) {
      for (const json& c : t["candidates"]) pairs.push_back(c);
    } else {
      pairs.push_back(t["candidate"]);
    }
  }
  return pairs;
}

// The teacher's logged p50 latency on the cluster (0: unknown). A route slower than the teacher
// it replaces costs its users time: a pair whose p50 on the held-out calls is not below it is
// not deployed (the eighth bench run's arithmetic specialist with best-of-16 took 794 ms against
// the teacher's 595 ms).
double teacher_p50_ms(const json& state) { return state.value("teacher_latency_p50_ms", 0.0); }

// The system prompt as the gateway sees it, cut before the first scrub placeholder: live calls
// carry real values where the log has <EMAIL_1>, so only the text before it is safe to match.
std::string prompt_prefix(const LoggedCall& call) {
  const std::string text = gateway::system_text(call.messages);
  return text.substr(0, std::min<size_t>(text.find('<'), 160));
}

std::string escape_regex(const std::string& text) {
  std::string out;
  for (char ch : text) {
    if (std::string_view("\\^$.|?*+()[]{}/").find(ch) != std::string_view::npos) out += '\\';
    out += ch;
  }
  return out;
}

}  // namespace

Deployable best_deployable(const json& state, const RunOptions& o, bool by_cascade) {
  Deployable best;
  double best_key = -1;
  const double teacher_p50 = teacher_p50_ms(state);
  auto consider = [&](const json& c) {
    if (teacher_p50 > 0 && c.value("latency_p50_ms", 0.0) >= teacher_p50) return;
    const RouteCalibration measured = calibrate(c, o.target, o.calibration_margin);
    const Calibration& cal = measured.calibration;
    // Whatever its score, a pair is deployed only where its calibrated route holds the
    // cluster's quality at the target. Why: in the seventeenth bench run extraction's
    // self-consistency pair scored 0.963 (field matches) and was deployed by score, but 89% of
    // its held-out calls had a vote share of exactly 1, above any threshold, and 14% of those
    // were wrong: its route's expected quality was 0.897, and on new calls 89.5% of its local
    // answers were right.
    if (!cal.feasible || cal.local_share <= 0) return;
    if (!c["reaches_target"].get<bool>() && !(by_cascade && cal.local_share >= o.min_local_share)) return;
    // The pair that keeps the most calls local wins; then the higher score; then the cheaper
    // one: a strategy's samples must buy something (local shares and scores differ by at least
    // 1/held-out calls, far above these terms).
    const double key = cal.local_share + 1e-6 * c["score"].get<double>() - 1e-9 * c.value("samples_per_call", 1.0);
    if (key > best_key) {
      best_key = key;
      best = {c, measured};
    }
  };
  for (const json& c : evaluated_pairs(state)) consider(c);
  return best;
}

std::string teacher_upstream(const RunOptions& o) {
  if (!o.teacher_upstream.empty()) return o.teacher_upstream;
  return o.teachers.empty() ? "teacher" : o.teachers.front();
}

// S6: deploy the best passing candidate with a calibrated threshold, held to `constraints` as it
// was evaluated, or say why not.
json deploy_step(const RunOptions& o, const std::vector<LoggedCall>& calls, const ClusterRecord& record, const json& state,
                 const OutputConstraints& constraints) {
  const Deployable deployable = best_deployable(state, o, o.deploy_by_cascade);
  const json& best = deployable.candidate;
  if (best.is_null()) {
    const double teacher_p50 = teacher_p50_ms(state);
    const std::string which =
        teacher_p50 > 0 ? fmt::format("no candidate faster than the teacher (p50 {:.0f} ms)", teacher_p50) : "no candidate";
    return {{"deployed", false},
            {"reason", o.deploy_by_cascade
                           ? fmt::format("{} reaches {:.0f}% of the teacher's score, alone or keeping {:.0f}% of "
                                         "calls local with escalation below a calibrated confidence",
                                         which, 100 * o.target, 100 * o.min_local_share)
                           : fmt::format("{} reaches {:.0f}% of the teacher's score", which, 100 * o.target)}};
  }
  const Calibration& cal = deployable.calibration.calibration;
  const gateway::ConfidenceMeasure measure = deployable.calibration.measure;
  json out{{"candidate", best["name"]}, {"model", best["model"]}, {"score", best["score"]},
           {"min_confidence", cal.threshold}, {"local_share", cal.local_share},
           {"expected_quality", cal.expected_quality}};
  const std::string classifier = classifier_path_for(o.work_dir + "/clusters.json");
  const RouteSelector selector =
      fs::exists(classifier) ? classifier_selector(record, classifier) : route_selector(record, calls);
  if (!selector.reason.empty() || o.routes_file.empty()) {
    out["deployed"] = false;
    out["reason"] = o.routes_file.empty() ? "no --routes-file" : selector.reason;
    return out;
  }
  SpecialistRoute route;
  route.name = fmt::format("convert-cluster-{}", record.id);
  route.model_path = best["model"];
  route.match_system = selector.match_system;
  route.aliases = selector.aliases;
  route.cluster = selector.cluster;
  route.classifier_file = selector.classifier_file;
  route.parallel = o.parallel;
  route.reasoning = best.value("reasoning", json());
  route.teacher = teacher_upstream(o);
  route.min_confidence = cal.threshold;
  route.confidence = measure;
  route.shadow_share = o.shadow_share;
  route.scrub_input = o.scrub_input;
  route.copy_fields = constraints.copy_fields;
  route.force_tool_call = constraints.force_tool_call;
  route.answer_schema = constraints.answer_schema;
  route.calculator = constraints.calculator;
  route.calculator_decimals = constraints.calculator_decimals;
  route.thinking_tokens = constraints.thinking_tokens;
  deploy_route(o.routes_file, route, o.gateway_config);  // throws before writing when the gateway would refuse it
  out["deployed"] = true;
  out["route"] = route.name;
  out["match_system"] = route.match_system;
  if (selector.cluster >= 0) out["classifier"] = selector.classifier_file;
  // The route only sees calls whose system prompt it recognises: the rest stay on the teacher.
  out["routable_share"] = selector.covered_share;
  out["local_share"] = cal.local_share * selector.covered_share;
  out["deployed_by"] = best["reaches_target"].get<bool>() ? "score" : "cascade";
  out["strategy"] = best.value("strategy", std::string("greedy"));
  out["reasoning"] = route.reasoning;
  out["samples_per_call"] = best.value("samples_per_call", 1.0);
  out["strategy_reason"] = strategy_reason(json(evaluated_pairs(state)), best);
  // min_confidence is a threshold on this (the cascade reads the same: gateway/cascade.h).
  out["confidence"] = route.reasoning.is_object()                    ? "the strategy's"
                      : measure == gateway::ConfidenceMeasure::kAnswer ? "exp(sum of token log-probabilities): the answer's probability"
                                                                       : "exp(mean token log-probability)";
  out["reason"] = fmt::format("{} ({}) {} {:.0f}% of the teacher; keeps {:.0f}% of held-out calls at min_confidence {:.3f}",
                              best["name"].get<std::string>(), out["strategy"].get<std::string>(),
                              best["reaches_target"].get<bool>() ? "reaches" : "scores",
                              100 * best["share_of_teacher"].get<double>(), 100 * cal.local_share, cal.threshold);
  return out;
}

RouteSelector classifier_selector(const ClusterRecord& cluster, const std::string& classifier_file) {
  RouteSelector r;
  r.aliases = {fmt::format("convert-cluster-{}", cluster.id)};
  r.cluster = cluster.id;
  r.classifier_file = classifier_file;
  // The classifier sends the cluster's calls to the route whatever their system prompt (99.6%
  // of held-out workload calls reach their cluster: tests/e2e/test_convert_cluster.cpp).
  r.covered_share = 1.0;
  return r;
}

RouteSelector route_selector(const ClusterRecord& cluster, const std::vector<LoggedCall>& calls) {
  const std::set<int64_t> members(cluster.call_ids.begin(), cluster.call_ids.end());
  std::map<std::string, int64_t> inside, outside;
  for (const LoggedCall& c : calls) (members.count(c.id) ? inside : outside)[prompt_prefix(c)]++;
  RouteSelector r;
  r.aliases = {fmt::format("convert-cluster-{}", cluster.id)};
  // Every prompt (an agent framework's paraphrase) seen at least twice in the cluster and never
  // outside it selects the cluster's calls; a prompt other clusters share (a generic "You are a
  // helpful assistant.") cannot, and those calls stay on the teacher.
  std::string alternatives;
  int64_t covered = 0;
  for (const auto& [prefix, n] : inside) {
    if (prefix.size() < 12 || n < 2) continue;
    bool shared = false;
    for (const auto& [other, m] : outside) shared = shared || other.rfind(prefix, 0) == 0 || prefix.rfind(other, 0) == 0;
    if (shared) continue;
    alternatives += (alternatives.empty() ? "" : "|") + escape_regex(prefix);
    covered += n;
  }
  if (alternatives.empty()) {
    r.reason = "no system prompt is the cluster's own to route its calls by (needs the task classifier)";
    return r;
  }
  r.match_system = "^(?:" + alternatives + ")";
  r.covered_share = static_cast<double>(covered) / static_cast<double>(std::max<int64_t>(1, cluster.size));
  return r;
}

}  // namespace rpu::convert
