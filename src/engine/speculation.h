// Speculative decoding: cheap guesses of the next few tokens that the target model checks in
// one batched forward step (all guessed positions' logits at once), keeping the output exact.
//
// Drafts come from prompt lookup (the continuation of the most recent earlier occurrence of the
// context's last n-gram: output that copies its input) or from a small draft model with the
// same vocabulary (its own KV cache, one sequence per scheduler slot). Verification is the
// standard rejection scheme: draft token x, drawn from q, is accepted with probability
// min(1, p(x)/q(x)) where p is the target sampler's distribution at that position; on the
// first rejection the token is drawn from normalize(max(0, p - q)) and the rest of the draft is
// dropped. Every emitted token is then distributed exactly as p. Prompt lookup is a point mass
// q (accept with probability p(x)); a greedy target is a point mass p (accept iff x is the
// argmax, otherwise the argmax), so greedy output is byte-identical to decoding without drafts.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <vector>

#include "core/rng.h"
#include "core/thread_pool.h"
#include "decode/sampler.h"
#include "model/forward.h"
#include "model/model.h"

namespace rpu {

struct SpeculationOptions {
  bool lookup = false;                  // prompt lookup decoding
  int ngram_min = 2, ngram_max = 4;     // lookup: n-gram sizes tried, longest first
  int draft_max = 8;                    // most tokens guessed per step
  const Model* draft_model = nullptr;   // same vocabulary as the target (must outlive the scheduler)
  float draft_p_min = 0.0f;             // draft model: stop guessing below this draft probability
  bool enabled() const { return lookup || draft_model != nullptr; }
  void validate() const;                // throws rpu::Error naming the bad setting
};

// One guessed token and the distribution it was drawn from (empty: a point mass on it).
struct DraftToken {
  int32_t token = -1;
  std::vector<TokenProb> q;
};

// Prompt lookup: the tokens that followed the most recent earlier occurrence of the context's
// last n tokens (n from ngram_max down to ngram_min, the first size that matches), max_tokens
// of them (a copy reaching the context's end goes on from its own start, as in LZ77: a
// repeating stretch repeats); empty when nothing matches.
std::vector<int32_t> lookup_draft(std::span<const int32_t> context, int ngram_min, int ngram_max, int max_tokens);

// How many tokens one sample may guess at its next step. Every guess costs a position of the
// verifying step, and a step whose weights sit in cache (a small model) pays for each like a
// token of its own: lookup on stories260K kept 13% of 8-token guesses and decoded at 0.55x.
// So the budget follows the sample's record: all guesses kept, it doubles (up to draft_max);
// some kept, it becomes one more than were kept; none kept, it drops to 1 and guessing pauses
// for 1, 2, 4 ... up to kMaxPause steps while the misses go on. Only how many tokens are
// guessed changes, never how they are checked, so the output stays exact.
class DraftBudget {
 public:
  static constexpr int kMaxPause = 32;
  // Guesses allowed at this step (0 while paused; each call while paused counts one step).
  int next(int draft_max);
  // The record of a step that guessed `guessed` tokens and kept `kept` of them.
  void update(int guessed, int kept, int draft_max);

 private:
  int limit_ = std::numeric_limits<int>::max();  // before any record: draft_max
  int pause_ = 0;                                 // steps left without guessing
  int next_pause_ = 1;                            // after the next step that keeps nothing
};

struct DraftVerdict {
  int32_t token = -1;     // the token to emit at this position
  bool accepted = false;  // it is the draft token (later draft tokens may still be checked)
};

// Checks one draft token against the target's distribution p at its position (see the top of
// this file); `uniform` supplies the draws (the target sampler's own stream).
DraftVerdict verify_draft(const DraftToken& draft, std::span<const TokenProb> p, Sampler& uniform);

// Throws rpu::Error unless `draft` can propose tokens for `target`: the same vocabulary size,
// token texts and BOS/EOS ids (compared from the GGUF metadata).
void check_draft_vocabulary(const Model& target, const Model& draft);

// A small model guessing tokens for every scheduler slot (sequence i = slot i). Its cache holds
// the tokens it last saw for each slot; a new call rewinds to the part still shared with the
// slot's context, so rejected guesses roll back by themselves.
class DraftModel {
 public:
  DraftModel(const Model& model, int n_ctx, int n_seq, ThreadPool* pool);

  struct Job {
    int seq = 0;
    std::span<const int32_t> context;  // prompt and accepted tokens so far (caller-owned, stable)
    int max_tokens = 0;                // context.size() + max_tokens <= n_ctx
    const SamplingParams* sampling = nullptr;  // temperature <= 0: greedy guesses
    std::vector<DraftToken>* out = nullptr;
  };
  // Fills every job's out with up to max_tokens guesses, all jobs' steps batched together.
  void draft(std::span<Job> jobs, float p_min);
  // Forgets every sequence (after a failed step, whose cache state is not known).
  void reset();

 private:
  void catch_up(const Job& job, std::vector<SequenceChunk>& chunks);

  BatchForward forward_;
  std::vector<std::vector<int32_t>> history_;  // per sequence: tokens whose KV the cache holds
  std::vector<int32_t> inputs_;                // one step's guesses being evaluated
  Rng rng_{0x5eedf00dULL};
};

}  // namespace rpu
