#include "reasoning/spec.h"

#include <charconv>

#include "core/error.h"
#include "core/json_text.h"
#include "pipeline/call.h"
#include "reasoning/verifiers.h"

namespace rpu::reasoning {
namespace {

[[noreturn]] void bad(const std::string& field, const std::string& message) {
  throw ApiError(400, "reasoning." + field + ": " + message, "invalid_request_error", "reasoning." + field, "");
}

int int_field(const nlohmann::ordered_json& j, const char* name, int fallback, int low, int high) {
  if (!j.contains(name)) return fallback;
  const auto& v = j.at(name);
  const std::optional<int64_t> whole = json_whole_number(v);  // 8 and 8.0, as the request's own fields
  if (!whole) bad(name, "must be an integer");
  const int64_t value = *whole;
  if (value < low || value > high) bad(name, fmt::format("must be between {} and {}, got {}", low, high, value));
  return static_cast<int>(value);
}

double number_field(const nlohmann::ordered_json& j, const char* name, double fallback, double low, double high) {
  if (!j.contains(name)) return fallback;
  const auto& v = j.at(name);
  if (!v.is_number()) bad(name, "must be a number");
  const double value = v.get<double>();
  if (!(value >= low && value <= high)) bad(name, fmt::format("must be between {} and {}, got {}", low, high, value));
  return value;
}

Strategy parse_strategy(const nlohmann::ordered_json& j) {
  if (!j.contains("strategy")) return Strategy::kSelfConsistency;
  if (!j.at("strategy").is_string()) bad("strategy", "must be a string");
  const std::string s = j.at("strategy").get<std::string>();
  if (s == "self_consistency") return Strategy::kSelfConsistency;
  if (s == "adaptive") return Strategy::kAdaptive;
  if (s == "best_of_n") return Strategy::kBestOfN;
  if (s == "step_search") return Strategy::kStepSearch;
  bad("strategy", "unknown strategy '" + s + "' (self_consistency, adaptive, best_of_n, step_search)");
}

// Builds the verifier once so a bad spec (unknown type, a program that does not exist, a
// schema that does not convert) is refused before sampling.
void check_verifier(const nlohmann::json& spec) {
  if (!spec.is_object()) bad("verifier", "must be an object such as {\"type\": \"arithmetic\"}");
  const std::string type = spec.contains("type") && spec["type"].is_string() ? spec["type"].get<std::string>() : "";
  if (spec.contains("grounded") && (!spec["grounded"].is_boolean() || type != "arithmetic")) {
    bad("verifier", "'grounded' is true or false, and only for the arithmetic verifier");
  }
  if (spec.contains("complete") && (!spec["complete"].is_boolean() || !spec.value("grounded", false))) {
    bad("verifier", "'complete' is true or false, and only for the arithmetic verifier with \"grounded\": true");
  }
  if (spec.contains("after")) {
    if (type != "judge") bad("verifier", "'after' is only for the judge verifier");
    const nlohmann::json& after = spec["after"];
    if (after.is_object() && after.contains("type") && after["type"] == "judge") {
      bad("verifier", "'after' is the rule checked before the judge (arithmetic, regex, json_schema, command or logprob), not a judge");
    }
    check_verifier(after);
  }
  if (type == "logprob") return;
  if (type == "judge") return;  // needs a judge model: checked where the backend is known
  try {
    make_verifier(spec);
  } catch (const Error& e) {
    const std::string message = e.what();
    const std::string prefix = "reasoning.verifier";
    throw ApiError(400, message.rfind(prefix, 0) == 0 ? message : "reasoning.verifier: " + message,
                   "invalid_request_error", "reasoning.verifier", "");
  }
}

}  // namespace

std::string_view strategy_name(Strategy strategy) {
  switch (strategy) {
    case Strategy::kSelfConsistency: return "self_consistency";
    case Strategy::kAdaptive: return "adaptive";
    case Strategy::kBestOfN: return "best_of_n";
    case Strategy::kStepSearch: return "step_search";
  }
  return "?";
}

ReasoningSpec parse_reasoning_spec(const nlohmann::ordered_json& j) {
  if (!j.is_object()) throw ApiError(400, "'reasoning' must be an object", "invalid_request_error", "reasoning", "");
  static const char* const kKnown[] = {"strategy", "n", "temperature", "extract", "verifier", "weighted", "threshold",
                                       "select", "round", "expand", "step_delimiter", "max_steps", "token_budget"};
  for (const auto& [key, value] : j.items()) {
    if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown)) bad(key, "unknown field");
  }
  ReasoningSpec s;
  s.strategy = parse_strategy(j);
  const int max_n = s.strategy == Strategy::kStepSearch ? 16 : kMaxSamples;
  s.n = int_field(j, "n", s.strategy == Strategy::kStepSearch ? 3 : 8, 1, max_n);
  s.temperature = number_field(j, "temperature", s.temperature, 0.0, 2.0);
  try {
    s.extract = parse_extract_spec(j.contains("extract") ? nlohmann::json::parse(j.at("extract").dump()) : nlohmann::json());
  } catch (const Error& e) {
    throw ApiError(400, e.what(), "invalid_request_error", "reasoning.extract", "");
  }
  if (j.contains("weighted")) {
    if (!j.at("weighted").is_boolean()) bad("weighted", "must be true or false");
    s.weighted = j.at("weighted").get<bool>();
  }
  if (j.contains("select")) {
    const auto& v = j.at("select");
    if (!v.is_string() || (v != "best" && v != "vote")) bad("select", "must be \"best\" or \"vote\"");
    if (s.strategy != Strategy::kBestOfN) bad("select", "only for the best_of_n strategy");
    s.verified_vote = v == "vote";
  }
  s.threshold = number_field(j, "threshold", s.threshold, 0.0, 1.0);
  s.round = int_field(j, "round", s.round, 1, kMaxSamples);
  s.expand = int_field(j, "expand", s.expand, 1, 16);
  if (s.strategy == Strategy::kStepSearch && s.n * s.expand > kMaxSamples) {
    bad("expand", fmt::format("n x expand must be at most {}, got {} x {}", kMaxSamples, s.n, s.expand));
  }
  if (j.contains("step_delimiter")) {
    if (!j.at("step_delimiter").is_string() || j.at("step_delimiter").get<std::string>().empty()) {
      bad("step_delimiter", "must be a non-empty string");
    }
    s.step_delimiter = j.at("step_delimiter").get<std::string>();
  }
  s.max_steps = int_field(j, "max_steps", s.max_steps, 1, 256);
  s.token_budget = int_field(j, "token_budget", s.token_budget, 1, 1 << 20);
  const bool needs_verifier = s.strategy == Strategy::kBestOfN || s.strategy == Strategy::kStepSearch;
  if (j.contains("verifier")) {
    s.verifier = nlohmann::json::parse(j.at("verifier").dump());
    check_verifier(s.verifier);
  } else if (needs_verifier) {
    s.verifier = {{"type", "logprob"}};
  }
  return s;
}

std::optional<ReasoningSpec> parse_model_suffix(std::string_view suffix) {
  const std::optional<nlohmann::ordered_json> j = model_suffix_json(suffix);
  if (!j) return std::nullopt;
  return parse_reasoning_spec(*j);  // range errors become ApiErrors naming reasoning.n
}

std::optional<nlohmann::ordered_json> model_suffix_json(std::string_view suffix) {
  struct Form {
    std::string_view prefix;
    Strategy strategy;
  };
  // Longest prefixes first: "wsc" before "sc", "bonv" before "bon".
  static const Form kForms[] = {{"wsc", Strategy::kSelfConsistency}, {"asc", Strategy::kAdaptive},
                                {"bonv", Strategy::kBestOfN},        {"bon", Strategy::kBestOfN},         {"step", Strategy::kStepSearch},
                                {"sc", Strategy::kSelfConsistency}};
  for (const Form& form : kForms) {
    if (suffix.substr(0, form.prefix.size()) != form.prefix) continue;
    std::string_view rest = suffix.substr(form.prefix.size());
    const bool logprob = form.prefix == "bon" && rest.size() > 2 && rest.substr(rest.size() - 2) == "lp";
    if (logprob) rest.remove_suffix(2);
    int n = 0;
    const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
    if (rest.empty() || rest[0] < '0' || rest[0] > '9') return std::nullopt;
    if (ec != std::errc() || end != rest.data() + rest.size()) return std::nullopt;
    nlohmann::ordered_json j = {{"strategy", strategy_name(form.strategy)}, {"n", n}};
    if (form.prefix == "wsc") j["weighted"] = true;
    if (form.prefix == "bonv") j["select"] = "vote";
    const nlohmann::ordered_json arithmetic = {{"type", "arithmetic"}, {"grounded", true}};
    // Best-of-N also prefers the chain that uses every number of the question ("complete");
    // step search ranks partial chains, which have not used them all yet, so it does not.
    const nlohmann::ordered_json complete = {{"type", "arithmetic"}, {"grounded", true}, {"complete", true}};
    if (form.strategy == Strategy::kBestOfN) j["verifier"] = logprob ? nlohmann::ordered_json{{"type", "logprob"}} : complete;
    if (form.strategy == Strategy::kStepSearch) j["verifier"] = arithmetic;
    return j;
  }
  return std::nullopt;
}

}  // namespace rpu::reasoning
