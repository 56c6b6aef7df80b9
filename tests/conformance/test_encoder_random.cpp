// Tiny random-weight BERT encoders written by synth, checked against a plain float64 forward
// pass written here from BERT's equations (post-LayerNorm layers, GELU feed-forward, learned
// positions, token type 0, bidirectional attention), independently of the engine's code; the
// pooling the metadata names; batch independence; and the errors for bad files.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <future>

#include "core/error.h"
#include "kernels/quant.h"
#include "engine/cross_encoder.h"
#include "engine/scheduler.h"
#include "model/encoder_forward.h"
#include "model/model.h"
#include "model/synth.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace rpu {
namespace {

using Vec = std::vector<double>;

Vec tensor(const GgufFile& file, const std::string& name) {
  const GgufTensorInfo* t = file.find_tensor(name);
  if (t == nullptr) ADD_FAILURE() << "no tensor " << name;
  if (t == nullptr) return {};
  std::vector<float> f(t->n_elements);
  dequantize_row(t->type, t->data, f.data(), static_cast<int64_t>(t->n_elements));
  return Vec(f.begin(), f.end());
}

// W x + b, W stored [rows][cols].
Vec linear(const Vec& w, const Vec& b, const Vec& x) {
  const size_t cols = x.size(), rows = w.size() / cols;
  Vec y(rows, 0.0);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) y[r] += w[r * cols + c] * x[c];
    y[r] += b[r];
  }
  return y;
}

Vec layer_norm(const Vec& x, const Vec& weight, const Vec& bias, double eps) {
  double mean = 0, var = 0;
  for (double v : x) mean += v;
  mean /= static_cast<double>(x.size());
  for (double v : x) var += (v - mean) * (v - mean);
  var /= static_cast<double>(x.size());
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = (x[i] - mean) / std::sqrt(var + eps) * weight[i] + bias[i];
  return y;
}

double gelu_tanh(double x) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }

Vec add(Vec a, const Vec& b) {
  for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
  return a;
}

// Final hidden states of one input, [n][n_embd].
std::vector<Vec> reference_hidden(const GgufFile& file, const SynthSpec& spec, const std::vector<int32_t>& tokens) {
  const size_t d = static_cast<size_t>(spec.n_embd), n = tokens.size();
  const size_t hd = d / static_cast<size_t>(spec.n_head);
  const double eps = spec.layer_norm_eps;
  const Vec embd = tensor(file, "token_embd.weight"), pos = tensor(file, "position_embd.weight");
  const Vec types = tensor(file, "token_types.weight");
  std::vector<Vec> x(n);
  for (size_t t = 0; t < n; ++t) {
    Vec v(d);
    for (size_t i = 0; i < d; ++i) v[i] = embd[static_cast<size_t>(tokens[t]) * d + i] + pos[t * d + i] + types[i];
    x[t] = layer_norm(v, tensor(file, "token_embd_norm.weight"), tensor(file, "token_embd_norm.bias"), eps);
  }
  for (int l = 0; l < spec.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    auto w = [&](const std::string& name) { return tensor(file, p + name); };
    std::vector<Vec> q(n), k(n), v(n);
    for (size_t t = 0; t < n; ++t) {
      q[t] = linear(w("attn_q.weight"), w("attn_q.bias"), x[t]);
      k[t] = linear(w("attn_k.weight"), w("attn_k.bias"), x[t]);
      v[t] = linear(w("attn_v.weight"), w("attn_v.bias"), x[t]);
    }
    for (size_t t = 0; t < n; ++t) {
      Vec a(d, 0.0);
      for (size_t h = 0; h < static_cast<size_t>(spec.n_head); ++h) {
        Vec scores(n);
        double m = -1e300, total = 0;
        for (size_t s = 0; s < n; ++s) {  // every position: no causal mask
          double dot = 0;
          for (size_t i = 0; i < hd; ++i) dot += q[t][h * hd + i] * k[s][h * hd + i];
          scores[s] = dot / std::sqrt(static_cast<double>(hd));
          m = std::max(m, scores[s]);
        }
        for (double& s : scores) total += (s = std::exp(s - m));
        for (size_t s = 0; s < n; ++s) {
          for (size_t i = 0; i < hd; ++i) a[h * hd + i] += scores[s] / total * v[s][h * hd + i];
        }
      }
      const Vec o = linear(w("attn_output.weight"), w("attn_output.bias"), a);
      x[t] = layer_norm(add(x[t], o), w("attn_output_norm.weight"), w("attn_output_norm.bias"), eps);
      Vec up = linear(w("ffn_up.weight"), w("ffn_up.bias"), x[t]);
      for (double& u : up) u = gelu_tanh(u);
      const Vec down = linear(w("ffn_down.weight"), w("ffn_down.bias"), up);
      x[t] = layer_norm(add(x[t], down), w("layer_output_norm.weight"), w("layer_output_norm.bias"), eps);
    }
  }
  return x;
}

Vec pool_normalized(const std::vector<Vec>& hidden, Pooling pooling) {
  Vec out(hidden.front().size(), 0.0);
  if (pooling == Pooling::kCls) {
    out = hidden.front();
  } else if (pooling == Pooling::kLast) {
    out = hidden.back();
  } else {
    for (const Vec& h : hidden) out = add(out, h);
  }
  double norm = 0;
  for (double v : out) norm += v * v;
  for (double& v : out) v /= std::sqrt(norm);
  return out;
}

double cosine(const std::vector<float>& a, const Vec& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    dot += a[i] * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += b[i] * b[i];
  }
  return dot / std::sqrt(na * nb);
}

SynthSpec bert_spec(auto&& tweak) {
  SynthSpec s;
  s.arch = "bert";
  s.n_vocab = 400;
  s.n_embd = 32;
  s.n_layer = 2;
  s.n_head = 4;
  s.n_head_kv = 4;
  s.n_ff = 48;
  s.n_ctx = 64;
  s.qkv_bias = true;
  s.wordpiece = true;
  s.pooling = Pooling::kCls;
  tweak(s);
  return s;
}

struct EncoderCase {
  const char* name;
  SynthSpec spec;
  double min_cosine;  // against the float64 reference over the same (dequantized) weights
};

// Q8_0: rpu also quantizes the activations to 8 bits before the integer dot products (as
// llama.cpp does), so its bound is looser than f32's.
const EncoderCase kEncoderCases[] = {
    {"f32_cls", bert_spec([](SynthSpec&) {}), 0.9999},
    {"f32_mean", bert_spec([](SynthSpec& s) { s.pooling = Pooling::kMean; }), 0.9999},
    {"f32_last_wide_ffn", bert_spec([](SynthSpec& s) { s.pooling = Pooling::kLast; s.n_ff = 96; s.n_layer = 3; }), 0.9999},
    {"q8_0_cls", bert_spec([](SynthSpec& s) { s.n_embd = 64; s.n_ff = 128; s.matrix_type = DType::Q8_0; }), 0.999},
    {"f16_mean", bert_spec([](SynthSpec& s) { s.pooling = Pooling::kMean; s.matrix_type = DType::F16; }), 0.9999},
};

class EncoderModelTest : public ::testing::TestWithParam<EncoderCase> {};

const std::vector<std::vector<int32_t>> kInputs = {
    {101, 250, 300, 399, 5, 102},
    {101, 7, 102},
    {101, 120, 121, 122, 123, 124, 125, 126, 127, 128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 138, 102},
    {101},
};

TEST_P(EncoderModelTest, MatchesFloat64ReferenceWithEveryKernelSet) {
  const EncoderCase& c = GetParam();
  for (const KernelSet* kernels : available_kernels()) {
    SCOPED_TRACE(kernels->name);
    auto model = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(synth_model(c.spec).to_bytes()), c.name), kernels);
    ASSERT_EQ(model->config().pooling, c.spec.pooling);
    ThreadPool pool(2);
    EncoderForward encoder(*model, &pool);
    const auto embeddings = encoder.embed(kInputs);
    ASSERT_EQ(embeddings.size(), kInputs.size());
    std::vector<Vec> expected;
    for (size_t i = 0; i < kInputs.size(); ++i) {
      expected.push_back(pool_normalized(reference_hidden(model->file(), c.spec, kInputs[i]), c.spec.pooling));
      ASSERT_EQ(embeddings[i].size(), expected[i].size());
      EXPECT_GE(cosine(embeddings[i], expected[i]), c.min_cosine) << "input " << i;
    }
    // Another input's reference must be further off than the bound allows, or the comparison
    // would prove little (random models map every [CLS] state close together).
    EXPECT_LT(cosine(embeddings[0], expected[2]), 1 - 2 * (1 - c.min_cosine));
    std::printf("%s %s: cosine to own reference %.9f, to another input's %.6f\n", c.name, kernels->name,
                cosine(embeddings[0], expected[0]), cosine(embeddings[0], expected[2]));
  }
}

INSTANTIATE_TEST_SUITE_P(Bert, EncoderModelTest, ::testing::ValuesIn(kEncoderCases),
                         [](const auto& info) { return std::string(info.param.name); });

// The pooling comes from bert.pooling_type: CLS is the first token's final state, mean the
// average of all, each normalised; the same weights (same seed) under either.
TEST(EncoderPooling, FollowsTheMetadata) {
  const std::vector<int32_t> input = {101, 30, 31, 32, 102};
  std::vector<std::vector<float>> hidden;
  std::vector<std::vector<float>> by_pooling;
  for (Pooling pooling : {Pooling::kCls, Pooling::kMean, Pooling::kLast}) {
    const SynthSpec spec = bert_spec([&](SynthSpec& s) { s.pooling = pooling; });
    auto model = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(synth_model(spec).to_bytes()), "pooling"));
    EncoderForward encoder(*model);
    by_pooling.push_back(encoder.embed({&input, 1}).front());
    const auto h = encoder.hidden();
    hidden.emplace_back(h.begin(), h.end());
  }
  // The hidden states do not depend on the pooling.
  EXPECT_EQ(hidden[0], hidden[1]);
  EXPECT_EQ(hidden[0], hidden[2]);
  const size_t d = 32, n = input.size();
  auto normalized = [](std::vector<double> v) {
    double norm = 0;
    for (double x : v) norm += x * x;
    for (double& x : v) x /= std::sqrt(norm);
    return v;
  };
  Vec cls(hidden[0].begin(), hidden[0].begin() + d), last(hidden[0].end() - d, hidden[0].end()), mean(d, 0.0);
  for (size_t t = 0; t < n; ++t) {
    for (size_t i = 0; i < d; ++i) mean[i] += hidden[0][t * d + i] / static_cast<double>(n);
  }
  EXPECT_GT(cosine(by_pooling[0], normalized(cls)), 0.999999);
  EXPECT_GT(cosine(by_pooling[1], normalized(mean)), 0.999999);
  EXPECT_GT(cosine(by_pooling[2], normalized(last)), 0.999999);
  EXPECT_LT(cosine(by_pooling[0], normalized(mean)), 0.99);  // they differ
}

// A pooling given to the encoder (`rpu serve --pooling`) replaces the file's.
TEST(EncoderPooling, AnOverrideReplacesTheMetadata) {
  const std::vector<int32_t> input = {101, 30, 31, 32, 102};
  auto load = [](Pooling pooling) {
    const SynthSpec spec = bert_spec([&](SynthSpec& s) { s.pooling = pooling; });
    return Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(synth_model(spec).to_bytes()), "override"));
  };
  auto cls_model = load(Pooling::kCls), mean_model = load(Pooling::kMean);
  EncoderForward as_mean(*cls_model, nullptr, Pooling::kMean);
  EncoderForward mean(*mean_model);
  EXPECT_EQ(as_mean.pooling(), Pooling::kMean);
  EXPECT_EQ(as_mean.embed({&input, 1}), mean.embed({&input, 1}));
  EXPECT_THROW(EncoderForward(*cls_model, nullptr, Pooling::kNone), Error);
}

// An input's embedding does not depend on what it is batched with.
TEST(EncoderBatch, AnInputsEmbeddingIsTheSameAloneOrBatched) {
  const SynthSpec spec = bert_spec([](SynthSpec& s) { s.pooling = Pooling::kMean; });
  auto model = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(synth_model(spec).to_bytes()), "batch"));
  ThreadPool pool(2);
  EncoderForward encoder(*model, &pool);
  const auto batched = encoder.embed(kInputs);
  for (size_t i = 0; i < kInputs.size(); ++i) {
    const auto alone = encoder.embed({&kInputs[i], 1}).front();
    for (size_t j = 0; j < alone.size(); ++j) EXPECT_NEAR(alone[j], batched[i][j], 1e-6) << "input " << i;
  }
}

TEST(EncoderInputs, BadInputsAreRefused) {
  const SynthSpec spec = bert_spec([](SynthSpec&) {});
  auto model = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(synth_model(spec).to_bytes()), "inputs"));
  EncoderForward encoder(*model);
  EXPECT_EQ(encoder.max_tokens(), 64);
  EXPECT_THROW(encoder.embed(std::vector<std::vector<int32_t>>{{}}), Error);
  EXPECT_THROW(encoder.embed(std::vector<std::vector<int32_t>>{{101, 400}}), Error);
  EXPECT_THROW(encoder.embed(std::vector<std::vector<int32_t>>{std::vector<int32_t>(65, 5)}), Error);
  EXPECT_NO_THROW(encoder.embed(std::vector<std::vector<int32_t>>{std::vector<int32_t>(64, 5)}));
}

// A cross-encoder (pooling rank): the first token's state through the pooler and the
// classifier, score = W_out tanh(W_cls h + b_cls) + b_out, against the float64 forward pass.
Vec reference_scores(const GgufFile& file, const SynthSpec& spec, const std::vector<int32_t>& tokens) {
  const Vec h = reference_hidden(file, spec, tokens).front();
  Vec pooled = linear(tensor(file, "cls.weight"), tensor(file, "cls.bias"), h);
  for (double& v : pooled) v = std::tanh(v);
  return linear(tensor(file, "cls.output.weight"), tensor(file, "cls.output.bias"), pooled);
}

TEST(CrossEncoder, ScoresMatchTheFloat64ReferenceWithEveryKernelSet) {
  for (DType type : {DType::F32, DType::Q8_0}) {
    const SynthSpec spec = bert_spec([&](SynthSpec& s) {
      s.pooling = Pooling::kRank;
      s.n_cls_out = 2;
      s.n_embd = 64;
      s.n_ff = 128;
      s.matrix_type = type;
    });
    for (const KernelSet* kernels : available_kernels()) {
      SCOPED_TRACE(std::string(dtype_name(type)) + " " + kernels->name);
      auto model = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(synth_model(spec).to_bytes()), "rank"), kernels);
      ASSERT_EQ(model->weights().n_cls_out, 2);
      ThreadPool pool(2);
      EncoderForward encoder(*model, &pool);
      const auto scores = encoder.classify(kInputs);
      ASSERT_EQ(scores.size(), kInputs.size());
      const double tolerance = type == DType::F32 ? 1e-4 : 2e-2;
      double spread = 0;  // how far apart different inputs' scores are: the scale an error must stay under
      const Vec other = reference_scores(model->file(), spec, kInputs[2]);
      for (size_t i = 0; i < kInputs.size(); ++i) {
        const Vec expected = reference_scores(model->file(), spec, kInputs[i]);
        ASSERT_EQ(scores[i].size(), 2u);
        for (size_t j = 0; j < 2; ++j) {
          EXPECT_NEAR(scores[i][j], expected[j], tolerance) << "input " << i << " output " << j;
        }
        spread = std::max(spread, std::abs(expected[0] - other[0]));
      }
      EXPECT_GT(spread, 4 * tolerance) << "the inputs' scores must differ by more than the tolerance";
      EXPECT_THROW(encoder.embed(kInputs), Error) << "a cross-encoder has no embeddings";
    }
  }
}

// A pair is [CLS] query [SEP] document [SEP] (BERT's two-segment input); a long document is
// cut to the room given (the position table, or the scheduler's smaller context), the query kept.
TEST(CrossEncoder, PairsAreBertsTwoSegmentInputCutToTheTable) {
  const SynthSpec spec = bert_spec([](SynthSpec& s) {
    s.pooling = Pooling::kRank;
    s.n_vocab = 30522;  // the synth WordPiece vocabulary's own size keeps its words
  });
  const std::vector<uint8_t> bytes = synth_model(spec).to_bytes();
  auto model = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(bytes), "pairs"));
  auto tokenizer = Tokenizer::from_gguf(GgufFile::parse(MappedFile::from_bytes(bytes), "pairs"));
  const Vocab& vocab = tokenizer->vocab();
  ASSERT_GE(vocab.cls, 0);
  ASSERT_GE(vocab.sep, 0);
  const int table = model->config().n_ctx_train;
  const std::string query = "the cat sat", doc = "on the mat";
  const std::vector<int32_t> q = tokenizer->encode(query, false), d = tokenizer->encode(doc, false);
  std::vector<int32_t> expected = {vocab.cls};
  expected.insert(expected.end(), q.begin(), q.end());
  expected.push_back(vocab.sep);
  expected.insert(expected.end(), d.begin(), d.end());
  expected.push_back(vocab.sep);
  EXPECT_EQ(rerank_pair_tokens(*tokenizer, table, query, doc), expected);

  std::string long_doc;
  for (int i = 0; i < 200; ++i) long_doc += "mat ";
  for (const int limit : {table, 16}) {
    const std::vector<int32_t> cut = rerank_pair_tokens(*tokenizer, limit, query, long_doc);
    ASSERT_EQ(static_cast<int>(cut.size()), limit);
    EXPECT_EQ(std::vector<int32_t>(cut.begin(), cut.begin() + 1 + static_cast<long>(q.size()) + 1),
              std::vector<int32_t>(expected.begin(), expected.begin() + 1 + static_cast<long>(q.size()) + 1))
        << "the query is kept whole";
    EXPECT_EQ(cut.back(), vocab.sep);
  }
  EXPECT_THROW(rerank_pair_tokens(*tokenizer, 4, query, doc), Error) << "3 specials leave no room for both texts";
}

// Pair scoring as a scheduler job: two calls submitted together, their pairs batched across
// steps of a small token budget (a call's pairs split over several steps, two calls sharing a
// step), score what EncoderForward::classify gives each pair alone.
TEST(CrossEncoder, TheSchedulersPairBatchesScoreWhatClassifyGivesEachPairAlone) {
  const SynthSpec spec = bert_spec([](SynthSpec& s) {
    s.pooling = Pooling::kRank;
    s.n_vocab = 30522;
  });
  const std::vector<uint8_t> bytes = synth_model(spec).to_bytes();
  auto model = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(bytes), "pairs"));
  auto tokenizer = Tokenizer::from_gguf(GgufFile::parse(MappedFile::from_bytes(bytes), "pairs"));
  const int table = model->config().n_ctx_train;
  std::string long_doc;
  for (int i = 0; i < 200; ++i) long_doc += "mat ";
  const std::vector<std::string> docs = {"on the mat", long_doc, "cats", "the the the", "a dog", "sat on it"};
  std::vector<std::vector<int32_t>> pairs;
  for (const std::string& doc : docs) pairs.push_back(rerank_pair_tokens(*tokenizer, table, "the cat sat", doc));

  ThreadPool pool(2);
  SchedulerOptions options;
  options.n_seq = 2;
  options.n_ctx = table;
  options.step_token_budget = 24;  // about two short pairs a step; the long one alone
  Scheduler scheduler(*model, *tokenizer, options, &pool);
  ASSERT_TRUE(scheduler.reranker_only());
  std::promise<std::pair<std::vector<float>, int>> first, second;
  scheduler.submit_rerank(pairs, [&](std::vector<float> s, int n) { first.set_value({std::move(s), n}); });
  const std::vector<std::vector<int32_t>> reversed(pairs.rbegin(), pairs.rend());
  scheduler.submit_rerank(reversed, [&](std::vector<float> s, int n) { second.set_value({std::move(s), n}); });
  const auto [a, a_tokens] = first.get_future().get();
  const auto [b, b_tokens] = second.get_future().get();
  ASSERT_EQ(a.size(), pairs.size());
  ASSERT_EQ(b.size(), pairs.size());
  int total = 0;
  EncoderForward alone(*model);
  for (size_t i = 0; i < pairs.size(); ++i) {
    const float expected = alone.classify(std::vector<std::vector<int32_t>>{pairs[i]}).front().front();
    EXPECT_NEAR(a[i], expected, 1e-5) << "document " << i;
    EXPECT_NEAR(b[pairs.size() - 1 - i], expected, 1e-5) << "document " << i << " in the reversed call";
    total += static_cast<int>(pairs[i].size());
  }
  EXPECT_NE(a[0], a[2]);
  EXPECT_EQ(a_tokens, total);
  EXPECT_EQ(b_tokens, total);
  EXPECT_GE(scheduler.stats().steps, 4u) << "the budget splits the calls over several steps";

  // What can never run is refused at submit.
  EXPECT_THROW(scheduler.submit_rerank({}, [](std::vector<float>, int) {}), Error);
  EXPECT_THROW(scheduler.submit_rerank({std::vector<int32_t>(static_cast<size_t>(table) + 1, 5)}, [](std::vector<float>, int) {}),
               ContextLengthError);
  EXPECT_THROW(scheduler.submit_embedding(pairs[0], [](std::vector<float>, int) {}), Error) << "a cross-encoder has no embeddings";
}

// A cancelled call's remaining pairs are never computed: with one long pair a step, a call of
// 100 such pairs cancelled at once leaves the scheduler free for the next call long before
// they could all have been scored (counted in prompt tokens, not in time).
TEST(CrossEncoder, ACancelledCallsRemainingPairsAreDropped) {
  const SynthSpec spec = bert_spec([](SynthSpec& s) {
    s.pooling = Pooling::kRank;
    s.n_vocab = 30522;
  });
  const std::vector<uint8_t> bytes = synth_model(spec).to_bytes();
  auto model = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(bytes), "pairs"));
  auto tokenizer = Tokenizer::from_gguf(GgufFile::parse(MappedFile::from_bytes(bytes), "pairs"));
  const int table = model->config().n_ctx_train;
  std::string long_doc;
  for (int i = 0; i < 400; ++i) long_doc += "mat ";
  const std::vector<int32_t> long_pair = rerank_pair_tokens(*tokenizer, table, "the cat sat", long_doc);
  SchedulerOptions options;
  options.n_ctx = table;
  options.step_token_budget = 8;
  ThreadPool pool(2);
  Scheduler scheduler(*model, *tokenizer, options, &pool);
  std::atomic<bool> cancelled_call_answered{false};
  const uint64_t id = scheduler.submit_rerank(std::vector<std::vector<int32_t>>(100, long_pair),
                                              [&](std::vector<float>, int) { cancelled_call_answered = true; });
  scheduler.cancel(id);
  std::promise<std::vector<float>> next;
  scheduler.submit_rerank({long_pair}, [&](std::vector<float> s, int) { next.set_value(std::move(s)); });
  EXPECT_EQ(next.get_future().get().size(), 1u);
  EXPECT_FALSE(cancelled_call_answered);
  EXPECT_LT(scheduler.stats().prompt_tokens, 100 * long_pair.size()) << "the cancelled call's pairs were all scored";
}

TEST(CrossEncoder, AModelWithoutARankHeadIsRefused) {
  const SynthSpec spec = bert_spec([](SynthSpec&) {});
  const std::vector<uint8_t> bytes = synth_model(spec).to_bytes();
  auto model = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(bytes), "cls"));
  auto tokenizer = Tokenizer::from_gguf(GgufFile::parse(MappedFile::from_bytes(bytes), "cls"));
  EXPECT_THROW(check_cross_encoder(*model), Error);
  EncoderForward encoder(*model);
  EXPECT_THROW(encoder.classify(kInputs), Error);
  Scheduler scheduler(*model, *tokenizer, SchedulerOptions{}, nullptr);
  EXPECT_FALSE(scheduler.reranker_only());
  EXPECT_THROW(scheduler.submit_rerank({kInputs[0]}, [](std::vector<float>, int) {}), Error);
}

// A copy of `file` without one tensor, with some keys replaced.
std::vector<uint8_t> edited(const GgufFile& file, const std::string& drop_tensor,
                            const std::vector<std::pair<std::string, GgufValue>>& keys = {}) {
  GgufWriter w;
  for (const auto& [key, value] : file.metadata()) w.set(key, value);
  for (const auto& [key, value] : keys) w.set(key, value);
  for (const GgufTensorInfo& t : file.tensors()) {
    if (t.name != drop_tensor) w.add_tensor(t.name, t.type, t.shape, t.data);
  }
  return w.to_bytes();
}

void expect_load_error(const std::vector<uint8_t>& bytes, const std::string& needle) {
  try {
    Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(bytes), "bad.gguf"));
    ADD_FAILURE() << "expected an error naming " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(EncoderFiles, BadMetadataAndMissingTensorsAreNamed) {
  const SynthSpec spec = bert_spec([](SynthSpec&) {});
  const std::vector<uint8_t> bytes = synth_model(spec).to_bytes();
  const GgufFile file = GgufFile::parse(MappedFile::from_bytes(bytes), "good.gguf");
  expect_load_error(edited(file, "position_embd.weight"), "tensor 'position_embd.weight' is missing");
  expect_load_error(edited(file, "blk.1.layer_output_norm.bias"), "tensor 'blk.1.layer_output_norm.bias' is missing");
  expect_load_error(edited(file, "blk.0.ffn_up.bias"), "tensor 'blk.0.ffn_up.bias' is missing");
  expect_load_error(edited(file, "", {{"bert.pooling_type", GgufValue::u32(7)}}), "'bert.pooling_type' = 7");
  expect_load_error(edited(file, "", {{"bert.pooling_type", GgufValue::u32(4)}}), "no classification head");
  expect_load_error(edited(file, "", {{"bert.pooling_type", GgufValue::u32(0)}}), "'bert.pooling_type' = 0");
  expect_load_error(edited(file, "", {{"bert.attention.causal", GgufValue::boolean(true)}}), "bert.attention.causal");
  expect_load_error(edited(file, "", {{"bert.context_length", GgufValue::u32(128)}}), "position_embd.weight");
  // Without the token type count the token-type table cannot be checked.
  GgufWriter no_count;
  for (const auto& [key, value] : file.metadata()) {
    if (key != "tokenizer.ggml.token_type_count") no_count.set(key, value);
  }
  for (const GgufTensorInfo& t : file.tensors()) no_count.add_tensor(t.name, t.type, t.shape, t.data);
  expect_load_error(no_count.to_bytes(), "tokenizer.ggml.token_type_count");
  GgufWriter no_eps;
  for (const auto& [key, value] : file.metadata()) {
    if (key != "bert.attention.layer_norm_epsilon") no_eps.set(key, value);
  }
  for (const GgufTensorInfo& t : file.tensors()) no_eps.add_tensor(t.name, t.type, t.shape, t.data);
  expect_load_error(no_eps.to_bytes(), "bert.attention.layer_norm_epsilon");
}

// llama.cpp's converted bge-small vocabulary file carries the real model's hyper-parameters
// (no tensors, and no pooling_type: an older conversion, so mean pooling).
TEST(EncoderFiles, ReadsTheRealBgeSmallMetadata) {
  const GgufFile file = GgufFile::open(test::fixture("vocab/ggml-vocab-bert-bge.gguf"));
  const ModelConfig c = config_from_gguf(file);
  EXPECT_STREQ(c.arch->name, "bert");
  EXPECT_TRUE(c.arch->encoder);
  EXPECT_EQ(c.n_embd, 384);
  EXPECT_EQ(c.n_layer, 12);
  EXPECT_EQ(c.n_head, 12);
  EXPECT_EQ(c.n_head_kv, 12);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.n_ff, 1536);
  EXPECT_EQ(c.n_ctx_train, 512);
  EXPECT_EQ(c.n_vocab, 30522);
  EXPECT_EQ(c.n_token_types, 2);
  EXPECT_NEAR(c.layer_norm_eps, 1e-12, 1e-18);
  EXPECT_EQ(c.pooling, Pooling::kMean);
  EXPECT_EQ(c.rope_dim, 0);
}

}  // namespace
}  // namespace rpu
