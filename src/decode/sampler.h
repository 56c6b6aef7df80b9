// Next-token selection from logits. Order of operations (as llama.cpp applies them):
// penalties on recent tokens and logit bias -> top-k -> top-p -> min-p -> temperature -> random draw.
// Temperature <= 0 means greedy (argmax after penalties). A seed reproduces a run.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "core/rng.h"

namespace rpu {

struct SamplingParams {
  float temperature = 0.8f;
  int top_k = 40;             // <= 0: off
  float top_p = 0.95f;        // >= 1: off
  float min_p = 0.05f;        // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off; >1 discourages tokens seen in the last repeat_last_n
  int repeat_last_n = 64;
  float frequency_penalty = 0.0f;  // subtracts count * f (OpenAI semantics)
  float presence_penalty = 0.0f;   // subtracts p once a token has appeared
  uint64_t seed = 0;
  // Added to a token's logit before sampling, as OpenAI's logit_bias (-100 in effect bans it).
  // Ids must be inside the vocabulary (checked by whoever knows it; out-of-range ids are ignored here).
  std::vector<std::pair<int32_t, float>> logit_bias;

  void validate() const;  // throws rpu::Error naming the bad parameter
};

// One token's probability in the distribution a sampler draws from.
struct TokenProb {
  int32_t id;
  float prob;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  // Chooses a token from logits [n_vocab]; the logits are not modified.
  int32_t sample(std::span<const float> logits);
  // The distribution sample() would draw from for these logits (after penalties, bias,
  // truncation and temperature), as (token, probability) pairs summing to 1; greedy gives one
  // pair with probability 1. Speculative decoding verifies draft tokens against it.
  void distribution(std::span<const float> logits, std::vector<TokenProb>& out);
  // A uniform draw in [0, 1) from this sampler's own stream (speculative acceptance tests).
  double uniform() { return rng_.uniform(); }
  // Records a token of the sequence (prompt or generated) for the penalties.
  void accept(int32_t token);

 private:
  struct Candidate {
    int32_t id;
    float logit;
    float prob;
  };
  void apply_penalties(std::vector<Candidate>& candidates) const;
  // The greedy choice (>= 0), or -1 with candidates_ holding the distribution to draw from.
  int32_t prepare(std::span<const float> logits);
  // The order candidates are kept and drawn in: higher logit first, ties to the lower id.
  static bool better(const Candidate& a, const Candidate& b);
  // candidates_ = the k best of logits in `better` order (no penalties or bias to apply).
  void top_k_of(std::span<const float> logits, size_t k);
  // top-p, min-p and the final probabilities over candidates_ (head_share: their share of the
  // whole distribution's mass at temperature 1); returns -1, as prepare does for a draw.
  int32_t finish_truncation(double head_share);

  SamplingParams params_;
  Rng rng_;
  std::deque<int32_t> recent_;  // last repeat_last_n accepted tokens
  std::vector<Candidate> candidates_;
};

}  // namespace rpu
