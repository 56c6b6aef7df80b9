// The cascade's decision: does the small model's answer stand, or does the call go to the
// upstream? It escalates when, in this order:
//   "error"       the answer ended in an error (or the small model could not run the call);
//   "length"      the answer was cut at max_tokens (or the context's end). The client's budget
//                 counts the upstream's tokens, and a small model's vocabulary spends more on
//                 the same text (a 1,024-piece vocabulary writes "technical" in 5 tokens, so
//                 max_tokens 5 cut 40 of 234 local answers to "technic" in the ninth bench
//                 run): the upstream's answer under that budget is the one the client expects;
//   "refusal"     the text matches the route's refusal pattern (the specialist's "not mine");
//   "verifier"    the route's verifier (reasoning/verifiers.h) fails the text;
//   "confidence"  the confidence is below the route's min_confidence;
//   "placeholder" (a scrub_input route, decided in gateway_backend.cpp) the answer holds a
//                 scrub placeholder the call did not have (unscrub.h).
// The confidence is the reasoning strategy's when the route has one (vote share, verifier
// score: reasoning/strategies.h); otherwise the route's measure (config.h ConfidenceMeasure):
// exp(mean token log-probability) of the answer, the geometric mean of the chosen tokens'
// probabilities, or exp(sum), the whole answer's probability; with several choices, the lowest.
// A token decoded under a constraint (grammar, schema, copy, calculator) is measured among the
// tokens the constraint allowed (engine/request.h TokenLogprob::constrained_logprob): a digit the
// calculator computed, or a brace the schema required, is not the model's guess, and its
// unconstrained probability says nothing about the answer. The mean skips forced tokens.
#pragma once

#include <memory>
#include <string>

#include "gateway/config.h"
#include "pipeline/backend.h"

namespace rpu::reasoning {
class Pattern;
class Verifier;
}  // namespace rpu::reasoning

namespace rpu::gateway {

struct CascadeDecision {
  bool escalate = false;
  std::string reason;       // why it escalates (one of the above), empty otherwise
  double confidence = -1;   // -1: none could be computed
};

class CascadeJudge {
 public:
  explicit CascadeJudge(const CascadeConfig& config);
  ~CascadeJudge();
  CascadeDecision judge(const CallResult& answer) const;

 private:
  double min_confidence_;
  ConfidenceMeasure measure_;
  std::unique_ptr<reasoning::Pattern> refusal_;
  std::unique_ptr<reasoning::Verifier> verifier_;
};

// Whether the cascade escalates this choice whatever the route's threshold: it ended in an
// error or was cut at the token limit ("error", "length" above). The conversion loop scores such
// an answer as never kept local (convert/evaluate.h).
bool always_escalated(const ChoiceResult& choice);
// Both measures read the answer's tokens, after a reasoning span (reasoning_tokens, which
// come first): a specialist's working is partly written by the calculator, whose digits the
// model's own distribution does not predict, so counting them made every computed answer look
// unsure (the fifteenth conversion run's unit conversions: mean 0.70 when right, against a
// threshold of 0.98). A choice that is all reasoning is measured on all of it.
// How a token's probability is read: under its constraint (the cascade's reading), or as the
// model's own, unconstrained, every token counted (the reading before; the conversion loop's
// details report both, to compare).
enum class TokenReading { kUnderConstraint, kModel };
// exp(mean log-probability) of a choice's answer tokens, forced ones aside (1 when all were);
// -1 when it has none.
double mean_token_probability(const ChoiceResult& choice, TokenReading reading = TokenReading::kUnderConstraint);
// exp(sum of log-probabilities) of them: the answer's probability; -1 when it has none.
double answer_probability(const ChoiceResult& choice, TokenReading reading = TokenReading::kUnderConstraint);
// The confidence the cascade judges one choice by: a reasoning strategy's ("confidence" in
// the choice's extension) when it has one, else the measure's. The conversion loop
// calibrates a route's min_confidence on the same number (convert/evaluate.h).
double choice_confidence(const ChoiceResult& choice, ConfidenceMeasure measure = ConfidenceMeasure::kMeanToken,
                         TokenReading reading = TokenReading::kUnderConstraint);

}  // namespace rpu::gateway
