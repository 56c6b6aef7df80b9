#include "gateway/cascade.h"

#include <algorithm>
#include <cmath>
#include <span>

#include "reasoning/pattern.h"
#include "reasoning/verifiers.h"

namespace rpu::gateway {

namespace {

// The tokens a choice's confidence is measured on: those after its reasoning span, which come
// first (pipeline/think_split.h); all of them when the span is all there is.
std::span<const TokenLogprob> answer_tokens(const ChoiceResult& choice) {
  const std::span<const TokenLogprob> all(choice.logprobs);
  const size_t reasoning = static_cast<size_t>(std::max(choice.reasoning_tokens, 0));
  return reasoning < all.size() ? all.subspan(reasoning) : all;
}

// A token's log-probability as the confidence reads it: among what the sample's constraint
// allowed when it had one (engine/request.h), else under the model's whole distribution.
double confidence_logprob(const TokenLogprob& t, TokenReading reading) {
  return reading == TokenReading::kModel ? t.chosen.logprob : t.constrained_logprob.value_or(t.chosen.logprob);
}

}  // namespace

double mean_token_probability(const ChoiceResult& choice, TokenReading reading) {
  const std::span<const TokenLogprob> tokens = answer_tokens(choice);
  if (tokens.empty()) return -1;
  double sum = 0;
  size_t chosen = 0;
  for (const TokenLogprob& t : tokens) {
    if (t.forced && reading == TokenReading::kUnderConstraint) continue;
    sum += confidence_logprob(t, reading);
    ++chosen;
  }
  return chosen == 0 ? 1.0 : std::exp(sum / static_cast<double>(chosen));
}

double answer_probability(const ChoiceResult& choice, TokenReading reading) {
  const std::span<const TokenLogprob> tokens = answer_tokens(choice);
  if (tokens.empty()) return -1;
  double sum = 0;
  for (const TokenLogprob& t : tokens) sum += confidence_logprob(t, reading);
  return std::exp(sum);
}

bool always_escalated(const ChoiceResult& choice) {
  return choice.finish_reason == "error" || choice.finish_reason == "length";
}

double choice_confidence(const ChoiceResult& choice, ConfidenceMeasure measure, TokenReading reading) {
  const nlohmann::ordered_json& x = choice.extension;
  if (x.is_object() && x.contains("confidence") && x["confidence"].is_number()) return x["confidence"].get<double>();
  return measure == ConfidenceMeasure::kAnswer ? answer_probability(choice, reading) : mean_token_probability(choice, reading);
}

CascadeJudge::CascadeJudge(const CascadeConfig& config)
    : min_confidence_(config.min_confidence), measure_(config.confidence) {
  if (!config.refusal_regex.empty()) refusal_ = std::make_unique<reasoning::Pattern>(config.refusal_regex, "cascade.refusal");
  if (!config.verifier.is_null()) verifier_ = reasoning::make_verifier(config.verifier);
}

CascadeJudge::~CascadeJudge() = default;

CascadeDecision CascadeJudge::judge(const CallResult& answer) const {
  CascadeDecision d;
  if (answer.choices.empty()) return {true, "error", -1};
  double confidence = 2;
  for (const ChoiceResult& c : answer.choices) {
    if (c.finish_reason == "error") return {true, "error", -1};
    confidence = std::min(confidence, choice_confidence(c, measure_));
  }
  d.confidence = confidence > 1 ? -1 : confidence;
  for (const ChoiceResult& c : answer.choices) {
    if (always_escalated(c)) {  // here only "length": errors returned above
      d.escalate = true;
      d.reason = c.finish_reason;
      return d;
    }
    const bool tool_call = c.tool_calls.is_array() && !c.tool_calls.empty();
    if (refusal_ && refusal_->search(c.text) == reasoning::Pattern::Status::kMatch) {
      d.escalate = true;
      d.reason = "refusal";
      return d;
    }
    if (verifier_ && !tool_call && !verifier_->check(c.text).pass) {
      d.escalate = true;
      d.reason = "verifier";
      return d;
    }
  }
  if (min_confidence_ > 0 && d.confidence < min_confidence_) {
    d.escalate = true;
    d.reason = "confidence";
  }
  return d;
}

}  // namespace rpu::gateway
