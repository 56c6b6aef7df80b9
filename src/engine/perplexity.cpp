#include "engine/perplexity.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "engine/logprob_file.h"
#include "model/forward.h"

namespace rpu {
namespace {

// Runs fn(r) for r in [0, n), split across the pool when there is one.
void for_rows(ThreadPool* pool, int n, const std::function<void(int)>& fn) {
  if (pool == nullptr || pool->size() <= 1 || n < 2) {
    for (int r = 0; r < n; ++r) fn(r);
    return;
  }
  pool->parallel_for(n, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) fn(static_cast<int>(r));
  });
}

void check_context(const Model& model, int n_ctx) {
  const int trained = model.config().n_ctx_train;
  if (trained > 0 && n_ctx > trained) fail("context of {} tokens is larger than the model's ({})", n_ctx, trained);
}

// max and log(sum exp(x - max)) of a row (the float exponentials summed in double, as
// llama-perplexity does); argmax is the first index holding the maximum.
struct RowNorm {
  float max = 0;
  int argmax = 0;
  double log_norm = 0;  // log sum exp(x): log softmax(x)_i = x_i - log_norm
};

RowNorm row_norm(const float* x, int n) {
  RowNorm r;
  r.max = x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] > r.max) r.max = x[i], r.argmax = i;
  }
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(x[i] - r.max);
  r.log_norm = static_cast<double>(r.max) + std::log(sum);
  return r;
}

}  // namespace

ChunkPlan plan_chunks(size_t n_tokens, int n_ctx, int max_chunks) {
  if (n_ctx < 4) fail("context of {} tokens is too small to score (at least 4)", n_ctx);
  if (n_tokens < 2 * static_cast<size_t>(n_ctx)) {
    fail("the text tokenizes to {} tokens; a context of {} needs at least {}", n_tokens, n_ctx, 2 * n_ctx);
  }
  ChunkPlan plan{n_ctx, static_cast<int>(n_tokens / static_cast<size_t>(n_ctx))};
  if (max_chunks > 0) plan.n_chunk = std::min(plan.n_chunk, max_chunks);
  return plan;
}

std::vector<int32_t> chunk_input(std::span<const int32_t> tokens, const ChunkPlan& plan, int chunk, int32_t bos) {
  const size_t start = static_cast<size_t>(chunk) * static_cast<size_t>(plan.n_ctx);
  if (chunk < 0 || start + static_cast<size_t>(plan.n_ctx) > tokens.size()) fail("chunk {} is outside the text", chunk);
  std::vector<int32_t> input(tokens.begin() + static_cast<ptrdiff_t>(start),
                             tokens.begin() + static_cast<ptrdiff_t>(start + static_cast<size_t>(plan.n_ctx)));
  if (bos >= 0) input[0] = bos;
  return input;
}

std::span<const int32_t> chunk_targets(std::span<const int32_t> tokens, const ChunkPlan& plan, int chunk) {
  const size_t start = static_cast<size_t>(chunk) * static_cast<size_t>(plan.n_ctx);
  if (chunk < 0 || start + static_cast<size_t>(plan.n_ctx) > tokens.size()) fail("chunk {} is outside the text", chunk);
  return tokens.subspan(start + static_cast<size_t>(plan.first()) + 1, static_cast<size_t>(plan.scored_per_chunk()));
}

double NllStats::ppl() const { return std::exp(mean()); }

double NllStats::ppl_error() const {
  if (count < 2) return 0;
  const double m = mean();
  const double var = sum2 / static_cast<double>(count) - m * m;
  return var > 0 ? std::sqrt(var / static_cast<double>(count - 1)) * ppl() : 0.0;
}

double token_nll(const float* logits, int n_vocab, int32_t target) {
  return row_norm(logits, n_vocab).log_norm - static_cast<double>(logits[target]);
}

KlToken kl_token(const float* logits, int n_vocab, const LogProbRow& base, int32_t target) {
  const RowNorm q = row_norm(logits, n_vocab);
  KlToken t;
  t.nll = q.log_norm - static_cast<double>(logits[target]);
  t.nll_base = -static_cast<double>(base.log_prob(target));
  double kld = 0;
  int base_argmax = 0;
  float base_max = base.log_prob(0);
  for (int i = 0; i < n_vocab; ++i) {
    const float lp = base.log_prob(i);
    if (lp > base_max) base_max = lp, base_argmax = i;
    // Tokens below e^-16 in the base are left out (they were clamped when it was stored).
    if (lp > -16.0f) kld += std::exp(static_cast<double>(lp)) * (lp - (logits[i] - q.log_norm));
  }
  t.kld = kld;
  t.same_top = base_argmax == q.argmax;
  t.p_diff = std::exp(-t.nll) - std::exp(-t.nll_base);
  return t;
}

void KlStats::add(const KlToken& t) {
  q.add(t.nll);
  base.add(t.nll_base);
  sum_nll_nll_base += t.nll * t.nll_base;
  sum_kld += t.kld;
  sum_kld2 += t.kld * t.kld;
  sum_p_diff += t.p_diff;
  sum_p_diff2 += t.p_diff * t.p_diff;
  sum_p_diff4 += t.p_diff * t.p_diff * t.p_diff * t.p_diff;
  n_same_top += t.same_top ? 1 : 0;
  kld_values.push_back(static_cast<float>(t.kld));
  p_diff_values.push_back(static_cast<float>(t.p_diff));
}

struct ChunkEvaluator::State {
  State(const Model& model, int n_ctx, ThreadPool* pool, KVCacheTypes cache) : forward(model, n_ctx, 1, pool, cache) {}
  BatchForward forward;
};

ChunkEvaluator::ChunkEvaluator(const Model& model, int n_ctx, ThreadPool* pool, KVCacheTypes cache)
    : state_(std::make_unique<State>(model, n_ctx, pool, cache)) {}
ChunkEvaluator::~ChunkEvaluator() = default;

std::span<const float> ChunkEvaluator::eval(std::span<const int32_t> input, int first) {
  BatchForward& f = state_->forward;
  if (first < 1 || first >= static_cast<int>(input.size())) fail("cannot score from position {} of {}", first, input.size());
  f.rewind(0, 0);
  // Two steps rather than one so the output head runs only for the scored half; each is one
  // batch (prefill), and a token's result does not depend on how the prompt was split.
  const SequenceChunk prefix{0, input.first(static_cast<size_t>(first)), ChunkOutput::kNone, true};
  f.eval({&prefix, 1});
  const SequenceChunk scored{0, input.subspan(static_cast<size_t>(first)), ChunkOutput::kAllLogits, true};
  f.eval({&scored, 1});
  return f.logits();
}

PerplexityResult compute_perplexity(const Model& model, std::span<const int32_t> tokens, const PerplexityOptions& options,
                                    ThreadPool* pool, const PerplexityProgress& progress) {
  PerplexityResult result;
  result.plan = plan_chunks(tokens.size(), options.n_ctx, options.max_chunks);
  const ChunkPlan& plan = result.plan;
  check_context(model, plan.n_ctx);
  const int n_vocab = model.config().n_vocab;
  const int rows = plan.scored_per_chunk();

  std::unique_ptr<LogProbWriter> writer;
  LogProbFileHeader header{static_cast<uint32_t>(n_vocab), static_cast<uint32_t>(plan.n_ctx),
                           static_cast<uint32_t>(plan.n_chunk), tokens.size(), hash_tokens(tokens)};
  if (!options.save_base.empty()) writer = std::make_unique<LogProbWriter>(options.save_base, header);
  std::vector<uint8_t> stored(writer ? static_cast<size_t>(rows) * header.row_bytes() : 0);

  ChunkEvaluator evaluator(model, plan.n_ctx, pool, options.cache_types);
  std::vector<double> nll(static_cast<size_t>(rows));
  for (int c = 0; c < plan.n_chunk; ++c) {
    const std::vector<int32_t> input = chunk_input(tokens, plan, c, options.bos);
    const float* logits = evaluator.eval(input, plan.first()).data();
    const std::span<const int32_t> targets = chunk_targets(tokens, plan, c);
    for_rows(pool, rows, [&](int r) {
      const float* row = logits + static_cast<size_t>(r) * static_cast<size_t>(n_vocab);
      nll[static_cast<size_t>(r)] = token_nll(row, n_vocab, targets[static_cast<size_t>(r)]);
      if (writer) quantize_log_probs(row, n_vocab, stored.data() + static_cast<size_t>(r) * header.row_bytes());
    });
    for (double v : nll) result.nll.add(v);  // in text order, so the sums do not depend on threads
    if (writer) writer->append_chunk(stored);
    if (progress) progress(c, result.nll);
  }
  if (writer) writer->finish();
  return result;
}

KlStats compute_kl_divergence(const Model& model, std::span<const int32_t> tokens, const std::string& base_path,
                              const PerplexityOptions& options, ThreadPool* pool, const KlProgress& progress) {
  const LogProbReader base = LogProbReader::open(base_path);
  const int n_vocab = model.config().n_vocab;
  base.check_matches(n_vocab, tokens);
  const LogProbFileHeader& h = base.header();
  const int n_ctx = static_cast<int>(h.n_ctx);
  if (options.n_ctx > 0 && options.n_ctx != n_ctx) {
    fail("{} was computed with a context of {} tokens, not {} (leave --ctx out to use the file's)", base_path, n_ctx, options.n_ctx);
  }
  check_context(model, n_ctx);
  ChunkPlan plan{n_ctx, static_cast<int>(h.n_chunk)};
  if (options.max_chunks > 0) plan.n_chunk = std::min(plan.n_chunk, options.max_chunks);
  const int rows = plan.scored_per_chunk();

  KlStats stats;
  ChunkEvaluator evaluator(model, plan.n_ctx, pool, options.cache_types);
  std::vector<KlToken> scored(static_cast<size_t>(rows));
  for (int c = 0; c < plan.n_chunk; ++c) {
    const std::vector<int32_t> input = chunk_input(tokens, plan, c, options.bos);
    const float* logits = evaluator.eval(input, plan.first()).data();
    const std::span<const int32_t> targets = chunk_targets(tokens, plan, c);
    for_rows(pool, rows, [&](int r) {
      scored[static_cast<size_t>(r)] = kl_token(logits + static_cast<size_t>(r) * static_cast<size_t>(n_vocab), n_vocab,
                                                base.row(c, r), targets[static_cast<size_t>(r)]);
    });
    for (const KlToken& t : scored) stats.add(t);
    if (progress) progress(c, stats);
  }
  return stats;
}

}  // namespace rpu
