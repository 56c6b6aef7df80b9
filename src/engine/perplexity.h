// Perplexity and KL divergence over a text, by llama.cpp's llama-perplexity method, so the
// numbers compare with its:
//
//   - the whole text is tokenized once (BOS first when the model adds one) and cut into
//     n_chunk = n_tokens / n_ctx chunks of n_ctx consecutive tokens (the tail is dropped);
//   - each chunk is evaluated alone, from an empty context, with its first token replaced by
//     BOS when the model adds one;
//   - only the second half is scored: the logits at positions first = n_ctx/2 .. n_ctx-2
//     predict the tokens at first+1 .. n_ctx-1, n_ctx - 1 - first tokens a chunk;
//   - PPL = exp(mean NLL), its error exp(mean) * sqrt((mean(NLL^2) - mean^2) / (count - 1)).
//
// KL divergence compares a model Q against base log-probabilities saved by an earlier run
// (engine/logprob_file.h): per scored token KL(base || Q) over the tokens whose base
// log-probability is above -16, whether Q's top token is the base's, and the difference of the
// probabilities the two give the right token; reported as llama-perplexity reports them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace rpu {

// How a tokenized text is cut into chunks (see the header comment).
struct ChunkPlan {
  int n_ctx = 0;
  int n_chunk = 0;
  int first() const { return n_ctx / 2; }
  int scored_per_chunk() const { return n_ctx - 1 - first(); }
};

// Throws rpu::Error when the text has fewer than 2 * n_ctx tokens (as llama-perplexity
// refuses) or n_ctx < 4. max_chunks <= 0: every whole chunk.
ChunkPlan plan_chunks(size_t n_tokens, int n_ctx, int max_chunks);
// The tokens the model sees for `chunk`: its n_ctx tokens, the first replaced by `bos` when
// bos >= 0 (the model adds BOS), else as in the text.
std::vector<int32_t> chunk_input(std::span<const int32_t> tokens, const ChunkPlan& plan, int chunk, int32_t bos);
// The tokens scored in `chunk`, in order: those at chunk positions first+1 .. n_ctx-1.
std::span<const int32_t> chunk_targets(std::span<const int32_t> tokens, const ChunkPlan& plan, int chunk);

// Running negative log-likelihood sums.
struct NllStats {
  double sum = 0, sum2 = 0;
  size_t count = 0;
  void add(double nll) { sum += nll, sum2 += nll * nll, ++count; }
  double mean() const { return count ? sum / static_cast<double>(count) : 0.0; }
  double ppl() const;
  double ppl_error() const;  // 0 with fewer than 2 values
};

// -log softmax(logits)[target], in double.
double token_nll(const float* logits, int n_vocab, int32_t target);

// One scored token against the base distribution.
struct KlToken {
  double nll = 0;       // -log Q(target)
  double nll_base = 0;  // -log base(target)
  double kld = 0;       // KL(base || Q)
  double p_diff = 0;    // Q(target) - base(target)
  bool same_top = false;
};

class LogProbRow;
KlToken kl_token(const float* logits, int n_vocab, const LogProbRow& base, int32_t target);

// Sums over the scored tokens so far, and every token's KL and probability difference (for
// the percentiles).
struct KlStats {
  NllStats q, base;
  double sum_nll_nll_base = 0;
  double sum_kld = 0, sum_kld2 = 0;
  double sum_p_diff = 0, sum_p_diff2 = 0, sum_p_diff4 = 0;
  size_t n_same_top = 0;
  std::vector<float> kld_values, p_diff_values;
  void add(const KlToken& t);
  size_t count() const { return q.count; }
};

// The model evaluated on one chunk at a time, from an empty cache: the prefix up to `first`
// fills the cache, the rest is one batch that returns its logits.
class ChunkEvaluator {
 public:
  ChunkEvaluator(const Model& model, int n_ctx, ThreadPool* pool, KVCacheTypes cache = {});
  ~ChunkEvaluator();
  // Logits [n_ctx - first, n_vocab] of positions first .. n_ctx-1 of `input` (n_ctx tokens).
  std::span<const float> eval(std::span<const int32_t> input, int first);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

struct PerplexityOptions {
  int n_ctx = 512;
  int max_chunks = 0;        // <= 0: all
  int32_t bos = -1;          // the BOS id when the model adds one, else -1
  std::string save_base;     // write the base log-probabilities file here (empty: don't)
  KVCacheTypes cache_types;  // the KV cache's element types
};

struct PerplexityResult {
  ChunkPlan plan;
  NllStats nll;
};

// Called after each chunk (0-based), with the totals so far.
using PerplexityProgress = std::function<void(int chunk, const NllStats& so_far)>;
using KlProgress = std::function<void(int chunk, const KlStats& so_far)>;

PerplexityResult compute_perplexity(const Model& model, std::span<const int32_t> tokens, const PerplexityOptions& options,
                                    ThreadPool* pool, const PerplexityProgress& progress = {});

// Against the base file at `base_path`, which must have been computed over the same tokens
// with the same vocabulary size; its context size is used (options.n_ctx is ignored),
// options.max_chunks limits the chunks as above.
KlStats compute_kl_divergence(const Model& model, std::span<const int32_t> tokens, const std::string& base_path,
                              const PerplexityOptions& options, ThreadPool* pool, const KlProgress& progress = {});

// llama-perplexity's text: "[1]12.3456," per chunk, its KL table and final statistics.
std::string format_ppl_progress(int chunk, const NllStats& so_far);
std::string format_ppl_final(const NllStats& nll);
std::string format_kl_table_header();
std::string format_kl_table_row(int chunk, const KlStats& so_far);
std::string format_kl_summary(KlStats stats);  // sorts its copy of the values

}  // namespace rpu
