// Scores a candidate answer for best-of-N and step search: a rule verifier from verifiers.h
// (arithmetic, regex, json_schema, command), or one that needs the model:
//   logprob  the candidate's mean token log-probability, as exp(mean) in [0, 1];
//   judge    a second model asked "is this answer correct?", scored by the probability of
//            its "yes" token (normalised against "no" when both are among its top tokens; a
//            first token that can only begin one of the words counts for it, judge_word);
//            with "after": {rule}, only candidates that pass the rule are shown to the judge,
//            the others fail with score 0.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "pipeline/backend.h"
#include "reasoning/sampling.h"
#include "reasoning/verifiers.h"

namespace rpu::reasoning {

class Scorer {
 public:
  virtual ~Scorer() = default;
  virtual Verdict score(const DrawnSample& candidate) const = 0;
  virtual std::string name() const = 0;
};

// `question` is the caller's last user message (what the judge is shown); `judge` may be null,
// then a "judge" spec is an ApiError naming reasoning.verifier. `cancelled` is the caller's
// (ChatRequest::cancelled): the judge's calls carry it, so a client that goes away stops them.
std::unique_ptr<Scorer> make_scorer(const nlohmann::json& spec, Backend* judge, const std::string& question,
                                    std::function<bool()> cancelled = {});

// Which answer a judge's first token (lower-cased, spaces and SentencePiece's word mark
// removed) begins: "yes", "ye", "y" -> kYes; "no", "n" -> kNo; anything else -> kNeither.
enum class JudgeWord { kYes, kNo, kNeither };
JudgeWord judge_word(const std::string& word);

// The text of the last user message of an OpenAI messages array ("" when there is none).
std::string last_user_message(const nlohmann::ordered_json& messages);

}  // namespace rpu::reasoning
