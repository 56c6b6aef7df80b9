// Perplexity and KL divergence (engine/perplexity.h) against oracles computed here: the
// chunking and BOS rules on hand-made token streams, stories260K's perplexity against a
// float64 reference from the model's own logits, KL divergence of a model against itself (0)
// and against a quantized copy (a direct float64 computation from both models' logits).
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "core/error.h"
#include "engine/logprob_file.h"
#include "engine/perplexity.h"
#include "model/forward.h"
#include "model/model.h"
#include "model/quant_plan.h"
#include "model/requantize.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace rpu {
namespace {

const std::string kModel = test::fixture("stories260K/stories260K.gguf");
const std::string kText = std::string(RPU_SOURCE_DIR) + "/tests/data/perplexity/stories.txt";

std::vector<int32_t> iota_tokens(int n, int32_t from) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), from);
  return t;
}

TEST(PerplexityChunks, WholeChunksOnlyAndAtLeastTwoOfThem) {
  const ChunkPlan plan = plan_chunks(11, 4, 0);  // 11 / 4: two chunks, three tokens dropped
  EXPECT_EQ(plan.n_ctx, 4);
  EXPECT_EQ(plan.n_chunk, 2);
  EXPECT_EQ(plan.first(), 2);
  EXPECT_EQ(plan.scored_per_chunk(), 1);
  EXPECT_EQ(plan_chunks(100, 8, 0).n_chunk, 12);
  EXPECT_EQ(plan_chunks(100, 8, 5).n_chunk, 5);    // --chunks limits
  EXPECT_EQ(plan_chunks(100, 8, 50).n_chunk, 12);  // but never beyond the text
  EXPECT_EQ(plan_chunks(512, 9, 0).scored_per_chunk(), 9 - 1 - 4);
  EXPECT_THROW(plan_chunks(15, 8, 0), Error);  // llama-perplexity needs 2 * n_ctx tokens
  EXPECT_NO_THROW(plan_chunks(16, 8, 0));
  EXPECT_THROW(plan_chunks(100, 3, 0), Error);
}

TEST(PerplexityChunks, FirstTokenBecomesBosOnlyWhenTheModelAddsOne) {
  const std::vector<int32_t> tokens = iota_tokens(20, 100);  // 100 .. 119
  const ChunkPlan plan = plan_chunks(tokens.size(), 8, 0);
  ASSERT_EQ(plan.n_chunk, 2);
  EXPECT_EQ(chunk_input(tokens, plan, 0, 1), (std::vector<int32_t>{1, 101, 102, 103, 104, 105, 106, 107}));
  EXPECT_EQ(chunk_input(tokens, plan, 1, 1), (std::vector<int32_t>{1, 109, 110, 111, 112, 113, 114, 115}));
  EXPECT_EQ(chunk_input(tokens, plan, 1, -1), (std::vector<int32_t>{108, 109, 110, 111, 112, 113, 114, 115}));
  EXPECT_THROW(chunk_input(tokens, plan, 2, 1), Error);  // the tail 116..119 is not a chunk
}

TEST(PerplexityChunks, SecondHalfIsScoredFromThePositionBefore) {
  const std::vector<int32_t> tokens = iota_tokens(24, 0);
  const ChunkPlan plan = plan_chunks(tokens.size(), 8, 0);  // first = 4
  // Logits at positions 4, 5, 6 predict the tokens at 5, 6, 7; the original tokens, even if
  // the chunk's first one was replaced by BOS for the model.
  const auto t0 = chunk_targets(tokens, plan, 0);
  EXPECT_EQ(std::vector<int32_t>(t0.begin(), t0.end()), (std::vector<int32_t>{5, 6, 7}));
  const auto t2 = chunk_targets(tokens, plan, 2);
  EXPECT_EQ(std::vector<int32_t>(t2.begin(), t2.end()), (std::vector<int32_t>{21, 22, 23}));
}

TEST(PerplexityStats, PplAndErrorAsLlamaPerplexity) {
  NllStats s;
  for (double v : {1.0, 2.0, 3.0, 6.0}) s.add(v);
  EXPECT_DOUBLE_EQ(s.mean(), 3.0);
  EXPECT_DOUBLE_EQ(s.ppl(), std::exp(3.0));
  // mean(x^2) - mean^2 = 12.5 - 9 = 3.5; sqrt(3.5 / 3) * ppl
  EXPECT_NEAR(s.ppl_error(), std::sqrt(3.5 / 3.0) * std::exp(3.0), 1e-9);
  EXPECT_EQ(NllStats{}.ppl_error(), 0.0);
}

TEST(PerplexityStats, TokenNllIsMinusLogSoftmax) {
  const float logits[] = {1.0f, 2.0f, 3.0f};
  const double z = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  EXPECT_NEAR(token_nll(logits, 3, 0), z - 1.0, 1e-6);
  EXPECT_NEAR(token_nll(logits, 3, 2), z - 3.0, 1e-6);
}

struct Stories {
  std::unique_ptr<Model> model = Model::load(kModel);
  std::unique_ptr<Tokenizer> tokenizer = Tokenizer::from_gguf(model->file());
  std::vector<int32_t> tokens;
  int32_t bos = -1;
  Stories() {
    std::string text = test::read_file(kText);
    text.pop_back();  // the final newline, as llama-perplexity reads -f
    tokens = tokenizer->encode(text, true);
    bos = tokenizer->vocab().add_bos ? tokenizer->vocab().bos : -1;
  }
};

// log softmax of one row in float64.
std::vector<double> log_softmax64(const float* x, int n) {
  double m = x[0];
  for (int i = 1; i < n; ++i) m = std::max(m, static_cast<double>(x[i]));
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - m);
  std::vector<double> out(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) out[static_cast<size_t>(i)] = static_cast<double>(x[i]) - m - std::log(sum);
  return out;
}

// Every position's logits of a chunk, the whole chunk evaluated in one call.
std::vector<float> chunk_logits(const Model& model, const std::vector<int32_t>& input) {
  ForwardPass forward(model, static_cast<int>(input.size()));
  const auto logits = forward.eval(input, /*all_logits=*/true);
  return {logits.begin(), logits.end()};
}

TEST(Perplexity, Stories260KMatchesAFloat64ReferenceFromItsLogits) {
  Stories s;
  ASSERT_TRUE(s.bos >= 0);
  ASSERT_EQ(s.tokens[0], s.bos);
  PerplexityOptions options;
  options.n_ctx = 128;
  options.max_chunks = 4;
  options.bos = s.bos;
  ThreadPool pool(2);
  int progress_calls = 0;
  const PerplexityResult result = compute_perplexity(*s.model, s.tokens, options, &pool, [&](int chunk, const NllStats& so_far) {
    EXPECT_EQ(chunk, progress_calls++);
    EXPECT_EQ(so_far.count, static_cast<size_t>(chunk + 1) * 63);
  });
  EXPECT_EQ(progress_calls, 4);

  const int n_vocab = s.model->config().n_vocab, n_ctx = 128, first = 64;
  double sum = 0, sum2 = 0;
  size_t count = 0;
  for (int c = 0; c < 4; ++c) {
    std::vector<int32_t> input(s.tokens.begin() + c * n_ctx, s.tokens.begin() + (c + 1) * n_ctx);
    input[0] = s.bos;
    const std::vector<float> logits = chunk_logits(*s.model, input);
    for (int j = first; j < n_ctx - 1; ++j) {
      const auto lp = log_softmax64(logits.data() + static_cast<size_t>(j) * n_vocab, n_vocab);
      const double nll = -lp[static_cast<size_t>(s.tokens[static_cast<size_t>(c * n_ctx + j + 1)])];
      sum += nll, sum2 += nll * nll, ++count;
    }
  }
  ASSERT_EQ(result.nll.count, count);
  const double ppl = std::exp(sum / static_cast<double>(count));
  EXPECT_NEAR(result.nll.ppl(), ppl, 1e-5 * ppl);
  const double mean = sum / static_cast<double>(count);
  const double err = std::sqrt((sum2 / static_cast<double>(count) - mean * mean) / static_cast<double>(count - 1)) * ppl;
  EXPECT_NEAR(result.nll.ppl_error(), err, 1e-4 * err);
  EXPECT_GT(ppl, 1.5);  // a trained model on text like its own: far below the vocabulary size
  EXPECT_LT(ppl, 10.0);
}

TEST(Perplexity, KlOfAModelAgainstItselfIsZero) {
  Stories s;
  const std::string base = test::temp_path("self.logprobs");
  PerplexityOptions options;
  options.n_ctx = 128;
  options.max_chunks = 3;
  options.bos = s.bos;
  options.save_base = base;
  ThreadPool pool(2);
  const PerplexityResult ppl = compute_perplexity(*s.model, s.tokens, options, &pool);
  options.n_ctx = 0;
  options.save_base.clear();
  const KlStats kl = compute_kl_divergence(*s.model, s.tokens, base, options, &pool);
  ASSERT_EQ(kl.count(), ppl.nll.count);
  EXPECT_EQ(kl.n_same_top, kl.count());
  EXPECT_NEAR(kl.q.ppl(), ppl.nll.ppl(), 1e-9 * ppl.nll.ppl());
  // Only the 16-bit storage of the base separates the two distributions.
  EXPECT_LT(std::abs(kl.sum_kld / static_cast<double>(kl.count())), 1e-6);
  EXPECT_NEAR(kl.base.ppl(), ppl.nll.ppl(), 1e-3 * ppl.nll.ppl());
  for (float v : kl.p_diff_values) EXPECT_LT(std::abs(v), 1e-3);
}

TEST(Perplexity, KlAgainstAQuantizedCopyMatchesADirectComputation) {
  Stories s;
  const std::string quantized = test::temp_path("stories-q4_0.gguf");
  requantize(kModel, quantized, *find_quant_scheme("Q4_0"), nullptr);
  const auto q_model = Model::load(quantized);
  const std::string base = test::temp_path("base.logprobs");
  PerplexityOptions options;
  options.n_ctx = 128;
  options.max_chunks = 3;
  options.bos = s.bos;
  options.save_base = base;
  compute_perplexity(*s.model, s.tokens, options, nullptr);
  options.save_base.clear();
  const KlStats kl = compute_kl_divergence(*q_model, s.tokens, base, options, nullptr);

  const int n_vocab = s.model->config().n_vocab, n_ctx = 128, first = 64;
  double kld = 0, nll = 0;
  size_t same_top = 0, count = 0;
  for (int c = 0; c < 3; ++c) {
    std::vector<int32_t> input(s.tokens.begin() + c * n_ctx, s.tokens.begin() + (c + 1) * n_ctx);
    input[0] = s.bos;
    const std::vector<float> p_logits = chunk_logits(*s.model, input), q_logits = chunk_logits(*q_model, input);
    for (int j = first; j < n_ctx - 1; ++j) {
      const auto lp = log_softmax64(p_logits.data() + static_cast<size_t>(j) * n_vocab, n_vocab);
      const auto lq = log_softmax64(q_logits.data() + static_cast<size_t>(j) * n_vocab, n_vocab);
      for (int i = 0; i < n_vocab; ++i) kld += std::exp(lp[static_cast<size_t>(i)]) * (lp[static_cast<size_t>(i)] - lq[static_cast<size_t>(i)]);
      nll -= lq[static_cast<size_t>(s.tokens[static_cast<size_t>(c * n_ctx + j + 1)])];
      same_top += std::max_element(lp.begin(), lp.end()) - lp.begin() == std::max_element(lq.begin(), lq.end()) - lq.begin();
      ++count;
    }
  }
  ASSERT_EQ(kl.count(), count);
  const double mean_kld = kld / static_cast<double>(count);
  EXPECT_GT(mean_kld, 1e-3);  // Q4_0 costs this model something
  EXPECT_NEAR(kl.sum_kld / static_cast<double>(count), mean_kld, 0.01 * mean_kld);
  EXPECT_NEAR(kl.q.sum, nll, 1e-6 * nll);
  EXPECT_NEAR(static_cast<double>(kl.n_same_top), static_cast<double>(same_top), 2.0);  // ties within 16-bit storage
  EXPECT_LT(kl.n_same_top, count);
}

TEST(Perplexity, KlRefusesAContextOtherThanTheBaseFiles) {
  Stories s;
  const std::string base = test::temp_path("ctx.logprobs");
  PerplexityOptions options;
  options.n_ctx = 64;
  options.max_chunks = 2;
  options.bos = s.bos;
  options.save_base = base;
  compute_perplexity(*s.model, s.tokens, options, nullptr);
  options.n_ctx = 128;
  options.save_base.clear();
  try {
    compute_kl_divergence(*s.model, s.tokens, base, options, nullptr);
    FAIL() << "accepted a different context";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("context of 64"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace rpu
