// The training decoder: its gradient for every parameter against central finite differences
// (double precision, tiny llama / qwen2 / qwen3 models, GQA, tied and untied heads, LoRA,
// distillation), its logits against the inference engine's on the same GGUF files, the
// GGUF files it saves (loaded by the engine), and a tiny model overfitting one batch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "core/error.h"
#include "model/forward.h"
#include "model/model.h"
#include "model/synth.h"
#include "test_util.h"
#include "train/decoder.h"
#include "train/gemm.h"
#include "train_precision.h"

namespace rpu::train {
namespace {

struct PackedBatch {
  std::vector<int32_t> tokens, positions, segment_start, targets;
  std::vector<float> weights;
  TrainBatch view() const { return {tokens, positions, segment_start, targets, weights}; }
};

// Sequences of the given lengths packed one after another, random tokens predicting random
// targets; every third token has weight 0 and one has weight 2.
PackedBatch random_batch(const std::vector<int>& lengths, int n_vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> token(0, n_vocab - 1);
  PackedBatch b;
  for (int length : lengths) {
    const int32_t start = static_cast<int32_t>(b.tokens.size());
    for (int i = 0; i < length; ++i) {
      b.tokens.push_back(token(rng));
      b.positions.push_back(i);
      b.segment_start.push_back(start);
      b.targets.push_back(token(rng));
      b.weights.push_back(b.tokens.size() % 3 == 0 ? 0.0f : 1.0f);
    }
  }
  b.weights[1] = 2.0f;
  return b;
}

ModelConfig tiny_config(const char* arch, int n_embd, int n_head, int n_head_kv, int head_dim, int rope_dim) {
  ModelConfig c;
  c.arch = find_arch(arch);
  c.n_vocab = 11;
  c.n_embd = n_embd;
  c.n_layer = 2;
  c.n_head = n_head;
  c.n_head_kv = n_head_kv;
  c.head_dim = head_dim;
  c.n_ff = 10;
  c.n_ctx_train = 64;
  c.rms_eps = 1e-5f;
  c.rope_theta = 100.0f;
  c.rope_dim = rope_dim;
  return c;
}

// Moves norms away from 1 and biases away from 0 so that no gradient is special.
template <typename T>
void perturb_all(DecoderParams<T>& params, uint64_t seed, double scale = 0.2) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, scale);
  for (ParamTensor<T>& t : params.tensors()) {
    if (t.name == "rope_freqs.weight") continue;
    for (T& v : t.values) v += static_cast<T>(normal(rng));
  }
}

// Compares the decoder's gradient at up to `per_tensor` random coordinates of every trainable
// tensor with (loss(+h) - loss(-h)) / 2h. Errors are relative to the tensor's largest gradient.
void expect_decoder_gradients(DecoderParams<double>& params, const PackedBatch& batch, const LossOptions& options,
                              const std::vector<double>* teacher, int per_tensor) {
  ThreadPool pool(2);
  Decoder<double> decoder(params, &pool);
  const double* teacher_logits = teacher ? teacher->data() : nullptr;
  decoder.forward(batch.view(), options, teacher_logits);
  DecoderParams<double> grads = params.zeros_like();
  decoder.backward(grads);
  std::mt19937_64 rng(99);
  const double h = 1e-5;
  int checked = 0;
  for (ParamTensor<double>& t : params.tensors()) {
    const ParamTensor<double>* g = grads.find(t.name);
    ASSERT_NE(g, nullptr) << t.name;
    if (!t.trainable) {
      EXPECT_TRUE(g->values.empty()) << t.name << " is frozen but has gradient storage";
      continue;
    }
    double max_grad = 1e-12;
    for (double v : g->values) max_grad = std::max(max_grad, std::fabs(v));
    double max_err = 0;
    std::uniform_int_distribution<int64_t> pick(0, t.size() - 1);
    for (int s = 0; s < std::min<int64_t>(per_tensor, t.size()); ++s) {
      const int64_t i = t.size() <= per_tensor ? s : pick(rng);
      const double saved = t.values[i];
      t.values[i] = saved + h;
      const double up = decoder.forward(batch.view(), options, teacher_logits).total;
      t.values[i] = saved - h;
      const double down = decoder.forward(batch.view(), options, teacher_logits).total;
      t.values[i] = saved;
      max_err = std::max(max_err, std::fabs((up - down) / (2 * h) - g->values[i]));
      ++checked;
    }
    EXPECT_LT(max_err / max_grad, 1e-6) << t.name << ": max error " << max_err << ", max |grad| " << max_grad;
    EXPECT_GT(max_grad, 1e-8) << t.name << " gets no gradient: the check would be vacuous";
  }
  EXPECT_GT(checked, 100);
}

struct GradientCase {
  const char* name;
  ModelConfig config;
  bool tied;
};

class DecoderGradient : public testing::TestWithParam<GradientCase> {};

TEST_P(DecoderGradient, MatchesFiniteDifferences) {
  const GradientCase& c = GetParam();
  auto params = DecoderParams<double>::random(c.config, c.tied, 5);
  perturb_all(params, 6);
  const PackedBatch batch = random_batch({4, 3, 1}, c.config.n_vocab, 7);
  expect_decoder_gradients(params, batch, {}, nullptr, 12);
}

// The later architectures' details, set by hand: caps small enough to bend the scores, a
// 2-token window over sequences of 4 in the local layer 0, scales away from 1.
ModelConfig with_details(ModelConfig c, auto&& tweak) {
  tweak(c);
  return c;
}

const ModelConfig kGemma2 = with_details(tiny_config("gemma2", 8, 4, 2, 2, 2), [](ModelConfig& c) {
  c.embed_scale = 2.5f;
  c.query_scale = 0.6f;
  c.attn_softcap = 0.8f;
  c.final_softcap = 1.5f;
  c.sliding_window = 2;
  c.swa_layers = {1, 0};
});
const ModelConfig kGemma3 = with_details(tiny_config("gemma3", 8, 4, 1, 6, 4), [](ModelConfig& c) {
  c.embed_scale = 2.5f;
  c.sliding_window = 2;
  c.swa_layers = {1, 0};
  c.rope_theta_swa = 10.0f;  // local layers' own base; the global layer's positions scaled
  c.rope_position_scale = 0.5f;
});
const ModelConfig kPhi3 = with_details(tiny_config("phi3", 8, 4, 2, 2, 2), [](ModelConfig& c) {
  c.rope_attn_factor = 1.3f;  // longrope's factor on the rotated dims
  c.sliding_window = 3;
  c.swa_layers = {1, 1};
});
const ModelConfig kSmollm3 = with_details(tiny_config("smollm3", 8, 4, 2, 2, 2), [](ModelConfig& c) { c.rope_layers = {1, 0}; });

INSTANTIATE_TEST_SUITE_P(
    TrainDecoder, DecoderGradient,
    testing::Values(GradientCase{"gemma2_caps_window_geglu", kGemma2, true},
                    GradientCase{"gemma3_qknorm_local_rope", kGemma3, true},
                    GradientCase{"phi3_fused_window", kPhi3, false},
                    GradientCase{"smollm3_no_rope_layer", kSmollm3, true},
                    GradientCase{"llama_gqa_untied", tiny_config("llama", 8, 4, 2, 2, 2), false},
                    GradientCase{"llama_tied", tiny_config("llama", 8, 2, 2, 4, 4), true},
                    GradientCase{"qwen2_bias_tied", tiny_config("qwen2", 8, 4, 2, 2, 2), true},
                    // head_dim 6 != n_embd / n_head, RoPE on 4 of its 6 dims, one kv head
                    GradientCase{"qwen3_qknorm_gqa", tiny_config("qwen3", 8, 4, 1, 6, 4), false}),
    [](const testing::TestParamInfo<GradientCase>& info) { return std::string(info.param.name); });

TEST(TrainDecoder, DistillationGradientsMatchFiniteDifferences) {
  const ModelConfig config = tiny_config("llama", 8, 4, 2, 2, 2);
  auto params = DecoderParams<double>::random(config, false, 8);
  perturb_all(params, 9);
  const PackedBatch batch = random_batch({5, 3}, config.n_vocab, 10);
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal(0.0, 2.0);
  std::vector<double> teacher(batch.tokens.size() * config.n_vocab);
  for (double& v : teacher) v = normal(rng);
  expect_decoder_gradients(params, batch, {0.6, 2.0}, &teacher, 6);
}

// LoRA on phi3's fused matrices: qkv [q_dim + 2 kv_dim, n_embd] and gate_up [2 n_ff, n_embd].
TEST(TrainDecoder, LoraOnFusedMatricesMatchesFiniteDifferences) {
  auto params = DecoderParams<double>::random(kPhi3, false, 31);
  perturb_all(params, 32);
  params.add_lora({2, 4.0, {"qkv", "gate_up", "o"}, 33});
  std::mt19937_64 rng(34);
  std::normal_distribution<double> normal(0.0, 0.3);
  for (ParamTensor<double>& t : params.tensors()) {
    if (t.name.ends_with(".lora_b")) {
      for (double& v : t.values) v = normal(rng);
    }
  }
  ASSERT_NE(params.find("blk.0.attn_qkv.weight.lora_b"), nullptr);
  EXPECT_EQ(params.get("blk.0.attn_qkv.weight.lora_b").rows, 8 + 2 * 4);
  EXPECT_EQ(params.get("blk.1.ffn_up.weight.lora_b").rows, 2 * 10);
  expect_decoder_gradients(params, random_batch({4, 4}, kPhi3.n_vocab, 35), {}, nullptr, 16);
  auto other = DecoderParams<double>::random(kPhi3, false, 1);
  EXPECT_THROW(other.add_lora({2, 4.0, {"q"}, 1}), Error);  // phi3 has no separate q
}

TEST(TrainDecoder, LoraGradientsMatchFiniteDifferencesAndFreezeTheBase) {
  const ModelConfig config = tiny_config("qwen2", 8, 4, 2, 2, 2);
  auto params = DecoderParams<double>::random(config, false, 12);
  perturb_all(params, 13);
  params.add_lora({3, 6.0, {"q", "k", "v", "o", "gate", "up", "down"}, 14});
  // B starts at zero (so the adapter starts as a no-op); give it values so A has a gradient.
  std::mt19937_64 rng(15);
  std::normal_distribution<double> normal(0.0, 0.3);
  int adapters = 0;
  for (ParamTensor<double>& t : params.tensors()) {
    if (t.name.ends_with(".lora_b")) {
      for (double& v : t.values) v = normal(rng);
      ++adapters;
    }
  }
  EXPECT_EQ(adapters, 7 * config.n_layer);
  // rank * (in + out) per adapter: q, k, v, o, gate, up, down.
  EXPECT_EQ(params.n_trainable(),
            config.n_layer * 3 * ((8 + 8) + (8 + 4) + (8 + 4) + (8 + 8) + (8 + 10) + (8 + 10) + (10 + 8)));
  const PackedBatch batch = random_batch({4, 4}, config.n_vocab, 16);
  expect_decoder_gradients(params, batch, {}, nullptr, 16);
  EXPECT_THROW(params.add_lora({}), Error);
  auto other = DecoderParams<double>::random(config, false, 1);
  EXPECT_THROW(other.add_lora({4, 8.0, {"q", "attn"}, 1}), Error);
}

// ---- Against the inference engine.

std::unique_ptr<Model> load_synth(const SynthSpec& spec) {
  return Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(synth_model(spec).to_bytes()), "synth"));
}

// Logits of each sequence run alone through the engine, concatenated.
std::vector<float> engine_logits(const Model& model, const PackedBatch& batch) {
  std::vector<float> all;
  for (size_t t = 0; t < batch.tokens.size();) {
    size_t end = t + 1;
    while (end < batch.tokens.size() && batch.segment_start[end] == batch.segment_start[t]) ++end;
    ForwardPass pass(model, 64);
    const auto logits = pass.eval(std::span(batch.tokens).subspan(t, end - t), true);
    all.insert(all.end(), logits.begin(), logits.end());
    t = end;
  }
  return all;
}

template <typename T>
void expect_logits_match(std::span<const T> ours, const std::vector<float>& engine, const char* what) {
  ASSERT_EQ(ours.size(), engine.size()) << what;
  double max_logit = 0, max_diff = 0;
  for (size_t i = 0; i < engine.size(); ++i) {
    max_logit = std::max(max_logit, std::fabs(static_cast<double>(engine[i])));
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(ours[i]) - engine[i]));
  }
  EXPECT_GT(max_logit, 0.1) << what;
  EXPECT_LT(max_diff, 1e-4 * max_logit) << what << ": max |diff| " << max_diff << " of max |logit| " << max_logit;
}

struct EngineCase {
  const char* name;
  SynthSpec spec;
};

SynthSpec spec_with(const char* arch, auto&& tweak) {
  SynthSpec s;
  s.arch = arch;
  s.n_vocab = 300;
  s.n_embd = 32;
  s.n_layer = 2;
  s.n_head = 4;
  s.n_head_kv = 2;
  s.n_ff = 48;
  s.seed = 21;
  tweak(s);
  return s;
}

class DecoderVsEngine : public testing::TestWithParam<EngineCase> {};

TEST_P(DecoderVsEngine, PackedBatchLogitsEqualTheEnginesPerSequence) {
  const test::GemmPrecisionScope f32(GemmPrecision::kF32);  // the engine computes in f32
  auto model = load_synth(GetParam().spec);
  const PackedBatch batch = random_batch({9, 5, 12}, model->config().n_vocab, 22);
  const std::vector<float> expected = engine_logits(*model, batch);
  auto params64 = DecoderParams<double>::from_gguf(model->file());
  Decoder<double> decoder64(params64);
  decoder64.forward(batch.view());
  expect_logits_match(decoder64.logits(), expected, "double");
  ThreadPool pool(2);
  auto params32 = DecoderParams<float>::from_gguf(model->file());
  Decoder<float> decoder32(params32, &pool);
  decoder32.forward(batch.view());
  expect_logits_match(decoder32.logits(), expected, "float");
}

INSTANTIATE_TEST_SUITE_P(
    TrainDecoder, DecoderVsEngine,
    testing::Values(EngineCase{"llama", spec_with("llama", [](SynthSpec&) {})},
                    EngineCase{"llama3_rope_tied",
                               spec_with("llama",
                                         [](SynthSpec& s) {
                                           s.llama3_rope = true;
                                           s.llama3_original_ctx = 16;  // so the factors matter at short range
                                           s.tied_output = true;
                                         })},
                    EngineCase{"qwen2_bias", spec_with("qwen2", [](SynthSpec& s) { s.qkv_bias = true; })},
                    EngineCase{"gemma2_caps_window", spec_with("gemma2",
                                                               [](SynthSpec& s) {
                                                                 s.head_dim = 16;
                                                                 s.tied_output = true;
                                                                 s.attn_softcap = 1.5f;
                                                                 s.final_softcap = 2.0f;
                                                                 s.sliding_window = 4;
                                                               })},
                    EngineCase{"gemma3_window_local_rope", spec_with("gemma3",
                                                                     [](SynthSpec& s) {
                                                                       s.n_layer = 3;
                                                                       s.qk_norm = true;
                                                                       s.head_dim = 16;
                                                                       s.tied_output = true;
                                                                       s.sliding_window = 3;
                                                                       s.sliding_window_pattern = 2;
                                                                       s.rope_linear_factor = 4;
                                                                     })},
                    // Original context 128 > the engine's 64: short factors in both.
                    EngineCase{"phi3_fused_longrope_window", spec_with("phi3",
                                                                       [](SynthSpec& s) {
                                                                         s.longrope = true;
                                                                         s.longrope_original_ctx = 128;
                                                                         s.sliding_window = 5;
                                                                       })},
                    EngineCase{"smollm3_no_rope", spec_with("smollm3", [](SynthSpec& s) { s.n_layer = 4; })},
                    EngineCase{"qwen3_qknorm", spec_with("qwen3",
                                                         [](SynthSpec& s) {
                                                           s.qk_norm = true;
                                                           s.head_dim = 12;
                                                           s.rope_dim = 8;
                                                         })}),
    [](const testing::TestParamInfo<EngineCase>& info) { return std::string(info.param.name); });

TEST(TrainDecoder, RealModelLogitsEqualTheEngines) {
  const test::GemmPrecisionScope f32(GemmPrecision::kF32);
  auto model = Model::load(test::fixture("stories260K/stories260K.gguf"));
  const PackedBatch batch = random_batch({7, 6}, model->config().n_vocab, 23);
  auto params = DecoderParams<float>::from_gguf(model->file());
  Decoder<float> decoder(params);
  decoder.forward(batch.view());
  expect_logits_match(decoder.logits(), engine_logits(*model, batch), "stories260K");
}

// Quantized files load dequantized: every Q8_0 weight within one quantization step of the
// F32 file with the same seed, rows in the right order.
TEST(TrainDecoder, QuantizedModelsLoadDequantized) {
  SynthSpec spec = spec_with("qwen2", [](SynthSpec& s) {
    s.qkv_bias = true;
    s.n_ff = 64;  // rows of whole Q8_0 blocks
  });
  auto exact = DecoderParams<float>::from_gguf(load_synth(spec)->file());
  spec.matrix_type = DType::Q8_0;
  auto quantized = DecoderParams<float>::from_gguf(load_synth(spec)->file());
  ASSERT_EQ(exact.tensors().size(), quantized.tensors().size());
  for (const ParamTensor<float>& t : exact.tensors()) {
    const ParamTensor<float>& q = quantized.get(t.name);
    float max_abs = 0, max_err = 0;
    for (size_t i = 0; i < t.values.size(); ++i) {
      max_abs = std::max(max_abs, std::fabs(t.values[i]));
      max_err = std::max(max_err, std::fabs(t.values[i] - q.values[i]));
    }
    EXPECT_LE(max_err, max_abs / 127) << t.name;
    if (t.is_vector) {
      EXPECT_EQ(max_err, 0.0f) << t.name << " (vectors stay F32)";
    }
  }
}

// A model saved by the trainer is the model the engine loads: from-scratch metadata with a
// real tokenizer, and LoRA adapters merged into the saved weights.
TEST(TrainDecoder, SavedModelsLoadInTheEngine) {
  const test::GemmPrecisionScope f32(GemmPrecision::kF32);
  const GgufFile tokenizer = GgufFile::open(test::fixture("stories260K/stories260K.gguf"));
  FreshModelSpec spec;
  spec.n_embd = 32;
  spec.n_layer = 2;
  spec.n_head = 4;
  spec.n_head_kv = 2;
  spec.n_ff = 40;
  spec.n_ctx = 128;
  const ModelMetadata fresh = fresh_model_metadata(spec, tokenizer);
  EXPECT_EQ(fresh.config.n_vocab, 512);
  EXPECT_EQ(fresh.config.head_dim, 8);
  auto params = DecoderParams<float>::random(fresh.config, true, 31);
  params.add_lora({4, 8.0, {"q", "v", "down"}, 32});
  std::mt19937_64 rng(33);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  for (ParamTensor<float>& t : params.tensors()) {
    if (t.name.ends_with(".lora_b")) {
      for (float& v : t.values) v = normal(rng);
    }
  }
  const std::string path = test::temp_path("scratch.gguf");
  params.save_gguf(path, fresh.metadata);
  auto model = Model::load(path);
  EXPECT_EQ(model->file().get_string("tokenizer.ggml.model"), tokenizer.get_string("tokenizer.ggml.model"));
  EXPECT_EQ(model->file().find_tensor("blk.0.attn_q.weight.lora_a"), nullptr);
  const PackedBatch batch = random_batch({6, 8}, fresh.config.n_vocab, 34);
  Decoder<float> decoder(params);
  decoder.forward(batch.view());
  expect_logits_match(decoder.logits(), engine_logits(*model, batch), "saved");

  // Re-saving with the saved file's own metadata reproduces it; wrong metadata is refused.
  auto reloaded = DecoderParams<float>::from_gguf(model->file());
  EXPECT_TRUE(reloaded.tied_output());
  const std::string path2 = test::temp_path("scratch2.gguf");
  reloaded.save_gguf(path2, model->file());
  EXPECT_EQ(test::read_file(path), test::read_file(path2));
  auto other = DecoderParams<float>::random(tiny_config("llama", 8, 4, 2, 2, 2), false, 1);
  EXPECT_THROW(other.save_gguf(test::temp_path("refused.gguf"), model->file()), Error);
}

TEST(TrainDecoder, BadBatchesAreErrors) {
  const ModelConfig config = tiny_config("llama", 8, 4, 2, 2, 2);
  auto params = DecoderParams<float>::random(config, false, 1);
  Decoder<float> decoder(params);
  DecoderParams<float> grads = params.zeros_like();
  EXPECT_THROW(decoder.backward(grads), Error);  // nothing to go back through
  PackedBatch batch = random_batch({3, 2}, config.n_vocab, 2);
  PackedBatch bad = batch;
  bad.tokens[2] = config.n_vocab;
  EXPECT_THROW(decoder.forward(bad.view()), Error);
  EXPECT_THROW(decoder.backward(grads), Error);  // the failed pass left nothing behind
  bad = batch;
  bad.segment_start[3] = 4;  // a sequence starting after its own token
  EXPECT_THROW(decoder.forward(bad.view()), Error);
  bad = batch;
  bad.targets.pop_back();
  EXPECT_THROW(decoder.forward(bad.view()), Error);
  bad = batch;
  bad.positions[0] = -1;
  EXPECT_THROW(decoder.forward(bad.view()), Error);
  EXPECT_THROW(decoder.forward(batch.view(), {0.5, 1.0}, nullptr), Error);  // distillation without a teacher
  decoder.forward(batch.view());
  decoder.backward(grads);
}

// Plain SGD on one small batch: returns the loss before and after `steps` steps (stopping
// early below `stop_below`).
struct SgdRun {
  double first = 0, last = 0;
};
SgdRun sgd_on_one_batch(int steps, double stop_below) {
  ModelConfig config = tiny_config("llama", 32, 4, 2, 8, 8);
  config.n_vocab = 48;
  config.n_ff = 64;
  auto params = DecoderParams<float>::random(config, false, 41);
  DecoderParams<float> grads = params.zeros_like();
  ThreadPool pool(2);
  Decoder<float> decoder(params, &pool);
  // Distinct input tokens: with relative positions only, a context like [a, a] gives the same
  // hidden state as [a], so two such tokens with different targets could not both be learnt.
  PackedBatch batch = random_batch({12, 10}, config.n_vocab, 43);
  std::vector<int32_t> vocab(static_cast<size_t>(config.n_vocab));
  std::iota(vocab.begin(), vocab.end(), 0);
  std::shuffle(vocab.begin(), vocab.end(), std::mt19937_64(44));
  std::copy_n(vocab.begin(), batch.tokens.size(), batch.tokens.begin());
  SgdRun run;
  run.first = run.last = decoder.forward(batch.view()).total;
  for (int step = 0; step < steps && run.last > stop_below; ++step) {
    grads.set_zero();
    decoder.backward(grads);
    for (ParamTensor<float>& t : params.tensors()) {
      const ParamTensor<float>* g = grads.find(t.name);
      for (size_t i = 0; i < g->values.size(); ++i) t.values[i] -= 1.0f * g->values[i];
    }
    run.last = decoder.forward(batch.view()).total;
  }
  return run;
}

// The gradients point downhill for real, through every layer: SGD drives a tiny model's loss
// on one batch to near zero.
TEST(TrainDecoder, TinyModelOverfitsOneBatchWithSgd) {
  const test::GemmPrecisionScope f32(GemmPrecision::kF32);
  const SgdRun run = sgd_on_one_batch(400, 0.01);
  EXPECT_GT(run.first, 3.0);  // about log(48) at initialisation
  EXPECT_LT(run.last, 0.01);
}

// With bf16 products (operands rounded, f32 accumulation and weights) the same SGD run
// learns too, and its loss stays near the f32 run's: after 60 steps (5.2 -> about 0.003 on
// this machine, 1% apart) within 15% of it.
TEST(TrainDecoder, Bf16ProductsTrainLikeF32) {
  if (!bf16_gemm_supported()) GTEST_SKIP() << "this CPU has no AVX512-BF16";
  SgdRun f32, bf16;
  {
    const test::GemmPrecisionScope scope(GemmPrecision::kF32);
    f32 = sgd_on_one_batch(60, 0.0);
  }
  {
    const test::GemmPrecisionScope scope(GemmPrecision::kBf16);
    bf16 = sgd_on_one_batch(60, 0.0);
  }
  EXPECT_NEAR(bf16.first, f32.first, 0.01 * f32.first);
  EXPECT_NE(bf16.first, f32.first);  // the bf16 products did run
  EXPECT_LT(bf16.last, 0.3 * bf16.first);
  EXPECT_NEAR(bf16.last, f32.last, 0.15 * f32.last) << "f32 " << f32.first << " -> " << f32.last;
}

}  // namespace
}  // namespace rpu::train
