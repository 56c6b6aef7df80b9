// What a caller asks the reasoning layer for: the request extension
//   "reasoning": {"strategy": "self_consistency" | "adaptive" | "best_of_n" | "step_search",
//                 "n": 8, "temperature": 0.7, "extract": {...}, "verifier": {...}, ...}
// or the same through the model name, so unmodified OpenAI clients can use it:
//   NAME+sc8 (self-consistency, 8 samples), NAME+wsc8 (weighted by log-probability),
//   NAME+asc16 (adaptive, at most 16), NAME+bon8 (best-of-8, grounded and complete arithmetic
//   verifier: scorer.cpp), NAME+bon8lp (best-of-8 scored by mean log-probability), NAME+bonv8
//   (the same verifier, verified vote), NAME+step4 (step search, beam 4, grounded arithmetic).
// Every bad field is an ApiError 400 naming it ("reasoning.n"), before any sampling.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "reasoning/extract.h"

namespace rpu::reasoning {

enum class Strategy { kSelfConsistency, kAdaptive, kBestOfN, kStepSearch };

inline constexpr int kMaxSamples = 64;  // most samples (or beam x expansions) one call may draw

struct ReasoningSpec {
  Strategy strategy = Strategy::kSelfConsistency;
  int n = 8;                  // samples; adaptive: the most it may draw; step search: the beam width
  double temperature = 0.7;   // sampling temperature of the samples
  ExtractSpec extract;        // how an answer is read out of a sample (voting, agreement)
  // best_of_n / step_search: {"type": "arithmetic" | ... | "logprob" | "judge"}; a judge may
  // have "after": a rule verifier its candidates must pass first (scorer.h).
  nlohmann::json verifier;
  bool weighted = false;      // self-consistency, verified vote: votes weighted by exp(mean token log-probability)
  // best_of_n: how the answer is selected among the samples. false ("select": "best"): the
  // best verifier verdict wins. true ("select": "vote"): a verified vote, the samples that pass
  // the verifier vote with weight = score (strategies.h).
  bool verified_vote = false;
  double threshold = 0.75;    // adaptive: stop once the leader's share of samples reaches this
  int round = 4;              // adaptive: samples drawn per round
  // Step search (beam search over reasoning steps).
  int expand = 3;             // continuations sampled per beam entry and step
  std::string step_delimiter = "\n";  // a step ends after this string
  int max_steps = 12;
  int token_budget = 4096;    // tokens generated over the whole search
};

// Parses the "reasoning" object (throws ApiError 400 naming the field).
ReasoningSpec parse_reasoning_spec(const nlohmann::ordered_json& json);
// "sc8" and the other suffixes above; nullopt when `suffix` is not one.
std::optional<ReasoningSpec> parse_model_suffix(std::string_view suffix);
// The "reasoning" object a suffix stands for (unchecked); nullopt when it is not one.
std::optional<nlohmann::ordered_json> model_suffix_json(std::string_view suffix);
std::string_view strategy_name(Strategy strategy);

}  // namespace rpu::reasoning
