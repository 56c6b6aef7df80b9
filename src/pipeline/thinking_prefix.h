// Thinking under a constraint: a grammar (response_format, a required tool call, a route's
// answer_schema) or copied values hold the answer to a form, and a thinking model (Qwen3,
// DeepSeek-R1, a specialist trained on its teacher's working) writes "<think>...</think>" before
// the answer. Held to the form from its first token, such a model cannot think at all: the span
// is not in the grammar. Like llama.cpp's reasoning prefix, the constraint here applies to the
// answer only, and the span before it is free (think_split.h's reading: the output's first
// non-blank bytes open it, or the prompt already did; the blanks after "</think>" are dropped).
//
//   lead      either the constraint's first tokens, or the start of "<think>" after optional
//             blanks (blanks alone only when the constraint allows them; the constraint is fed
//             the tokens it allows, and is dropped on one it refuses;
//             one that follows the lead to its end holds the whole output, so a grammar that
//             writes the span itself keeps it);
//   inside    any token but the end of generation, and no token that closes the span and goes
//             on with the answer in the same piece (the constraint must see the answer's tokens);
//   after     blanks, or the first tokens of the answer under a fresh constraint;
//   answer    the constraint alone, which also decides when the output may end.
// The reasoning is as long as max_tokens lets it be; an output cut inside the span has no answer,
// and ends with finish_reason "length".
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "engine/request.h"
#include "pipeline/think_split.h"

namespace rpu {

class GrammarVocab;

class ThinkingPrefixConstraint : public TokenConstraint {
 public:
  using Factory = std::function<std::unique_ptr<TokenConstraint>()>;
  // starts_inside: the prompt left the span open (prompt_opens_reasoning).
  ThinkingPrefixConstraint(Factory make_answer_constraint, std::shared_ptr<const GrammarVocab> vocab, bool starts_inside);

  void mask_logits(std::span<float> logits) const override;
  bool accept(int32_t token) override;
  bool can_continue() const override;
  const ThinkScan& scan() const { return scan_; }

 private:
  void mask_inside(std::span<float> logits) const;
  // kLead, kAfterSpan: what the span allows, or what the answer's constraint allows.
  void mask_either(std::span<float> logits) const;

  Factory make_answer_;
  std::shared_ptr<const GrammarVocab> vocab_;
  ThinkScan scan_;
  std::unique_ptr<TokenConstraint> answer_;  // null in the lead once it refused a token
};

}  // namespace rpu
