// The scheduler's private state (scheduler.h): a request and its samples, shared by the
// scheduler's source files (scheduler.cpp: the generation loop; scheduler_prefix.cpp: prefixes
// shared between requests admitted together).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/sample_output.h"
#include "engine/scheduler.h"

namespace rpu {

struct Scheduler::Sample {
  Request* request = nullptr;
  int index = 0;
  int slot = -1;
  std::vector<int32_t> tokens;  // prompt, then generated tokens (the last not yet evaluated)
  int evaluated = 0;            // tokens whose KV the slot holds (== forward.n_past(slot))
  int prompt_size = 0;
  int generated = 0;
  bool waits_for_leader = false;  // n > 1: samples after the first copy the prompt's KV
  // A leader whose prompt shares more than it could reuse with a prompt another
  // slot is prefilling waits for those rows instead of computing them again (scheduler_prefix.cpp):
  // that slot and the prefix length awaited; -1 when not waiting.
  int prefix_from = -1;
  int prefix_len = 0;
  bool finished = false;
  bool hit_stop_string = false;
  std::unique_ptr<Sampler> sampler;
  std::unique_ptr<TokenConstraint> constraint;
  std::unique_ptr<SampleOutput> output;
  std::vector<double> pooled;  // embeddings: sum of final hidden states
  // Speculation: whether this sample may guess (no constraint, no log-probabilities), this
  // step's guesses, the chunk's input (its last token, then the guesses) and running counts.
  bool speculates = false;
  std::vector<DraftToken> draft;
  std::vector<int32_t> step_tokens;
  DraftBudget budget;  // how many tokens it may guess next, from how its guesses fared
  int drafted = 0, accepted = 0;
  bool prompt_logprobs_sent = false;  // its first event carried the request's prompt_logprobs
};

struct Scheduler::Request {
  uint64_t id = 0;
  GenerationRequest params;
  EventCallback on_event;
  EmbeddingCallback on_embedding;  // set for embedding requests
  // Pair scoring (a cross-encoder): every pair of the call [n_pairs][tokens], how many a step
  // has taken, their scores and the tokens read so far.
  std::vector<std::vector<int32_t>> pairs;
  size_t pairs_taken = 0;
  std::vector<float> scores;
  int pair_tokens = 0;
  ScoreCallback on_scores;
  std::vector<std::unique_ptr<Sample>> samples;
  int cached_tokens = 0;
  int unfinished = 0;
  // GenerationRequest::prompt_logprobs: the entries scored so far (the leader's prefill
  // chunks ask for every position's logits), one per prompt token once the prompt is in.
  std::vector<TokenLogprob> prompt_logprobs;
};

// Tokens a and b have in common from the start.
inline size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

}  // namespace rpu
