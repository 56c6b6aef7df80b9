#include "convert/strategies.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <string_view>

#include "core/error.h"

namespace rpu::convert {
namespace {

using json = nlohmann::ordered_json;

struct StrategyRow {
  std::string_view name;
  std::string_view reasoning;  // the "reasoning" object as JSON text, without "extract"; "": greedy
  bool numbers_only;           // only for clusters whose answers are final_number
};

// The one place S4's strategies are listed. n = 5 keeps the extra compute at 5x a greedy
// answer; temperature 0.7 is the reasoning layer's default (spec.h). bon16 spends 16x for
// arithmetic, where more samples keep finding a verified chain (issue 10: best-of-16 with the
// complete verifier +13.9 points over greedy on the built-in model's reworded set; the
// conversion run's arithmetic cluster 0.750 -> 0.827 over bon5, bench/RESULTS.md).
constexpr std::array<StrategyRow, 4> kStrategyTable{{
    {"greedy", "", false},
    {"sc5", R"({"strategy": "self_consistency", "n": 5, "temperature": 0.7})", false},
    {"bon5",
     R"({"strategy": "best_of_n", "n": 5, "temperature": 0.7, "verifier": {"type": "arithmetic", "grounded": true}})",
     true},
    {"bon16",
     R"({"strategy": "best_of_n", "n": 16, "temperature": 0.7, "verifier": {"type": "arithmetic", "grounded": true, "complete": true}})",
     true},
}};

// What the samples vote on: the part of the answer the cluster's metric scores.
json extract_for(MetricKind metric) {
  if (metric == MetricKind::kFinalNumber) return nullptr;  // the reasoning layer's default: last number
  return {{"type", "text"}};
}

}  // namespace

std::vector<std::string> strategy_names() {
  std::vector<std::string> names;
  for (const StrategyRow& row : kStrategyTable) names.emplace_back(row.name);
  return names;
}

std::vector<StrategyChoice> strategies_for(MetricKind metric, const std::vector<std::string>& only) {
  for (const std::string& name : only) {
    const auto names = strategy_names();
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      fail("unknown strategy '{}' (one of: {})", name, fmt::join(names, ", "));
    }
  }
  std::vector<StrategyChoice> out;
  for (const StrategyRow& row : kStrategyTable) {
    const bool greedy = row.reasoning.empty();
    const bool named = only.empty() || std::find(only.begin(), only.end(), row.name) != only.end();
    if (!greedy && (!named || (row.numbers_only && metric != MetricKind::kFinalNumber))) continue;
    StrategyChoice choice{std::string(row.name), nullptr};
    if (!greedy) {
      choice.reasoning = json::parse(std::string(row.reasoning));
      if (const json extract = extract_for(metric); !extract.is_null()) choice.reasoning["extract"] = extract;
    }
    out.push_back(std::move(choice));
  }
  return out;
}

MetricKind dominant_metric(const std::vector<const LoggedCall*>& calls) {
  const std::array<MetricKind, 4> kinds{MetricKind::kExact, MetricKind::kJsonFields, MetricKind::kToolCall,
                                        MetricKind::kFinalNumber};
  std::array<int, 4> counts{};
  for (const LoggedCall* c : calls) {
    const MetricKind k = metric_for_answer(c->answer);
    counts[static_cast<size_t>(std::find(kinds.begin(), kinds.end(), k) - kinds.begin())]++;
  }
  return kinds[static_cast<size_t>(std::max_element(counts.begin(), counts.end()) - counts.begin())];
}

std::string describe_strategy(const json& reasoning) {
  if (!reasoning.is_object()) return "greedy";
  const std::string strategy = reasoning.value("strategy", std::string("self_consistency"));
  const int n = reasoning.value("n", 8);
  if (strategy == "self_consistency") return fmt::format("self-consistency over {} samples", n);
  if (strategy == "best_of_n") {
    const json verifier = reasoning.value("verifier", json::object());
    const std::string type = verifier.value("type", std::string("logprob"));
    const char* kind = !verifier.value("grounded", false)  ? ""
                       : verifier.value("complete", false) ? "grounded and complete "
                                                           : "grounded ";
    return fmt::format("best-of-{}, {}{} verifier", n, kind, type);
  }
  return fmt::format("{}, n = {}", strategy, n);
}

}  // namespace rpu::convert
