// Drawing samples of one chat call from the Backend a strategy wraps. Samples are drawn in
// batches of at most `parallel` (the inner backend decodes a batch together from one shared
// prefill), each with the token log-probabilities a strategy scores them by.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/backend.h"
#include "reasoning/vote.h"

namespace rpu::reasoning {

struct DrawnSample {
  std::string text;       // the answer (content); verifiers and extractors read it
  std::string reasoning;  // a "<think>" span before it (pipeline/think_split.h)
  nlohmann::ordered_json tool_calls;  // when the model called tools
  std::string finish_reason;
  bool stopped_by_string = false;
  // Natural log-probability of the sample's tokens, each read as the gateway's cascade reads it
  // (gateway/cascade.h): under its constraint when it had one, among the tokens the constraint
  // allowed; a forced token (the only one allowed: a brace the schema required, a digit the
  // calculator computed) is not the model's choice and is not counted.
  double logprob_sum = 0;
  int tokens = 0;         // generated
  int scored_tokens = 0;  // counted in logprob_sum
  // 0 (probability 1) when every token was forced.
  double mean_logprob() const { return scored_tokens > 0 ? logprob_sum / scored_tokens : 0.0; }
};

class SampleSource {
 public:
  // `request` is the caller's call; samples use `temperature` and the caller's other settings.
  SampleSource(Backend& inner, const ChatRequest& request, double temperature, int parallel);
  // Raw-text mode (`rpu run --reason`): samples continue the completion's single prompt.
  SampleSource(Backend& inner, const CompletionRequest& request, double temperature, int parallel);

  // k more samples of the chat call.
  std::vector<DrawnSample> draw(int k);
  // k continuations of raw `prompt` text (step search), ending at `stop` or after max_tokens.
  std::vector<DrawnSample> continue_text(const std::string& prompt, int k, const std::string& stop, int max_tokens);

  int drawn() const { return drawn_; }
  int completion_tokens() const { return completion_tokens_; }
  int reasoning_tokens() const { return reasoning_tokens_; }
  int prompt_tokens() const { return prompt_tokens_; }
  // Prompt tokens the first batch found cached from before this call (later batches reuse the
  // first one's prefill, which this call paid for, so they do not count).
  int cached_tokens() const { return cached_tokens_; }

 private:
  std::vector<DrawnSample> collect(const CallResult& result);
  template <typename RunBatch>
  std::vector<DrawnSample> in_batches(int k, RunBatch run_batch);
  uint64_t next_seed(int k);

  Backend& inner_;
  ChatRequest request_;
  std::optional<CompletionRequest> completion_;  // set in raw-text mode
  int parallel_;
  uint64_t seed_;
  int drawn_ = 0;
  int completion_tokens_ = 0;
  int reasoning_tokens_ = 0;
  int prompt_tokens_ = 0;
  int cached_tokens_ = 0;
};

// The votes of samples as {"answer": count} pairs for the response's "rpu" field.
nlohmann::ordered_json votes_json(const VoteResult& vote);

}  // namespace rpu::reasoning
