// rpu bench --profile's recording (model/forward_profile.h, engine/bench_profile.h): what a
// profiled forward pass counts, checked against the model's own tensor sizes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "engine/bench.h"
#include "engine/bench_profile.h"
#include "model/forward.h"
#include "model/model.h"
#include "model/synth.h"

namespace rpu {
namespace {

std::unique_ptr<Model> small_model(const std::vector<uint8_t>& bytes) {
  return Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(bytes)), &reference_kernels());
}

std::vector<uint8_t> small_model_bytes() {
  SynthSpec s;
  s.arch = "llama";
  s.n_embd = 64;
  s.n_ff = 96;
  s.n_layer = 3;
  s.matrix_type = DType::Q8_0;
  return synth_model(s).to_bytes();
}

const ForwardProfile::Entry& op(const ForwardProfile& p, ForwardOp o) { return p.ops[static_cast<size_t>(o)]; }

// One repetition of each test, no bandwidth reading, profiled.
BenchOptions profiled(int n_prompt, int n_gen) {
  BenchOptions o;
  o.n_prompt = n_prompt;
  o.n_gen = n_gen;
  o.repetitions = 1;
  o.bandwidth_bytes = 0;
  o.profile = true;
  return o;
}

TEST(ForwardProfileTest, DecodeStepsCountEveryMatrixOnceAndEveryLayer) {
  const auto bytes = small_model_bytes();
  const auto model = small_model(bytes);
  const int n_layer = model->config().n_layer;
  ForwardPass forward(*model, 16);
  const std::vector<int32_t> prompt = {1, 5, 9};
  forward.eval(prompt);  // not recorded: no profile attached yet
  ForwardProfile profile;
  forward.set_profile(&profile);
  const int steps = 4;
  for (int i = 0; i < steps; ++i) {
    const int32_t token = 7 + i;
    forward.eval(std::span<const int32_t>(&token, 1));
  }
  EXPECT_EQ(profile.steps, static_cast<uint64_t>(steps));
  // Every layer matrix and the head once per step: the roofline's bytes per token.
  uint64_t matmul_bytes = 0;
  for (ForwardOp o : {ForwardOp::kMatmulQkv, ForwardOp::kMatmulOut, ForwardOp::kMatmulGateUp, ForwardOp::kMatmulDown,
                      ForwardOp::kOutputHead}) {
    matmul_bytes += op(profile, o).bytes;
  }
  EXPECT_EQ(matmul_bytes, steps * weight_bytes_per_token(*model));
  EXPECT_EQ(op(profile, ForwardOp::kMatmulQkv).calls, static_cast<uint64_t>(steps * n_layer));
  EXPECT_EQ(op(profile, ForwardOp::kNorm).calls, static_cast<uint64_t>(2 * steps * n_layer));
  EXPECT_EQ(op(profile, ForwardOp::kOutputHead).calls, static_cast<uint64_t>(steps));
  EXPECT_EQ(op(profile, ForwardOp::kSampling).calls, 0u);  // the caller's to record
  // Attention reads K and V of every cached position (f32 rows of kv_dim) in each layer:
  // positions 4, 5, 6, 7 after the three-token prompt.
  const uint64_t kv_row = 2 * static_cast<uint64_t>(model->config().kv_dim()) * sizeof(float);
  EXPECT_EQ(op(profile, ForwardOp::kAttention).bytes, (4 + 5 + 6 + 7) * kv_row * n_layer);
  ASSERT_EQ(profile.layers.size(), static_cast<size_t>(n_layer));
  uint64_t layer_bytes = 0;
  double layer_seconds = 0;
  for (const auto& l : profile.layers) {
    EXPECT_EQ(l.calls, profile.layers[0].calls);  // the same operations in every layer
    layer_bytes += l.bytes;
    layer_seconds += l.seconds;
  }
  EXPECT_EQ(layer_bytes + op(profile, ForwardOp::kOutputHead).bytes, matmul_bytes + op(profile, ForwardOp::kAttention).bytes);
  EXPECT_LE(layer_seconds, profile.total_seconds());
  EXPECT_GT(profile.total_seconds(), 0.0);
}

TEST(ForwardProfileTest, NothingIsRecordedOnceDetached) {
  const auto bytes = small_model_bytes();
  const auto model = small_model(bytes);
  ForwardPass forward(*model, 16);
  ForwardProfile profile;
  forward.set_profile(&profile);
  const int32_t token = 3;
  forward.eval(std::span<const int32_t>(&token, 1));
  const ForwardProfile after_one = profile;
  forward.set_profile(nullptr);
  forward.eval(std::span<const int32_t>(&token, 1));
  EXPECT_EQ(profile.steps, 1u);
  for (size_t i = 0; i < profile.ops.size(); ++i) EXPECT_EQ(profile.ops[i].calls, after_one.ops[i].calls);
}

TEST(ForwardProfileTest, BenchReportsProfilesInMarkdownAndJson) {
  const auto bytes = small_model_bytes();
  const auto model = small_model(bytes);
  ThreadPool pool(2);
  const BenchOptions o = profiled(8, 4);
  const BenchReport r = run_bench(*model, o, pool);
  ASSERT_EQ(r.profiles.size(), 2u);
  EXPECT_EQ(r.profiles[0].test, "pp8");
  EXPECT_EQ(r.profiles[1].test, "tg4");
  EXPECT_EQ(op(r.profiles[1].profile, ForwardOp::kSampling).calls, 4u);
  EXPECT_EQ(r.profiles[1].profile.steps, 4u);
  const std::string md = format_bench_markdown(r);
  EXPECT_NE(md.find("profile of tg4"), std::string::npos);
  EXPECT_NE(md.find("| matmul ffn_gate,up |"), std::string::npos);
  EXPECT_EQ(md.find("% of bandwidth"), std::string::npos);  // no bandwidth measured
  const auto j = nlohmann::json::parse(format_bench_json(r, "m.gguf"));
  ASSERT_EQ(j["profiles"].size(), 2u);
  EXPECT_EQ(j["profiles"][1]["operations"]["matmul output head"]["calls"], 4);
  EXPECT_EQ(j["profiles"][1]["layers"].size(), static_cast<size_t>(model->config().n_layer));
}

// With a depth (-d), the profiled generation attends over the depth's positions too, as the
// timed test does: after 10 depth tokens and the unrecorded first token at position 10, the 4
// recorded tokens at positions 11-14 read 12 + 13 + 14 + 15 K/V rows in every layer. The test
// is named with its depth, like the timed one; a negative depth is refused by name.
TEST(ForwardProfileTest, GenerationProfileAtADepthReadsTheDepthsRows) {
  const auto bytes = small_model_bytes();
  const auto model = small_model(bytes);
  ThreadPool pool(2);
  BenchOptions o = profiled(0, 4);
  o.n_depth = 10;
  const BenchReport r = run_bench(*model, o, pool);
  ASSERT_EQ(r.profiles.size(), 1u);
  EXPECT_EQ(r.profiles[0].test, "tg4 @ d10");
  const uint64_t kv_row = 2 * static_cast<uint64_t>(model->config().kv_dim()) * sizeof(float);
  EXPECT_EQ(op(r.profiles[0].profile, ForwardOp::kAttention).bytes,
            (12 + 13 + 14 + 15) * kv_row * static_cast<uint64_t>(model->config().n_layer));
  o.n_depth = -1;
  try {
    run_bench(*model, o, pool);
    ADD_FAILURE() << "a negative depth was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("depth"), std::string::npos) << e.what();
  }
}

// Batched decode (-b 3): one more profile, "tg4 x3", over the 3 sequences' 12 generated tokens
// (4 recorded steps, their one-token prompts not recorded): each step reads every layer matrix
// and the head once for all 3 tokens, and attention reads, per layer, each sequence's rows at
// positions 1..4 (after its prompt at 0): 3 x (2 + 3 + 4 + 5) K/V rows. A batch of 1 adds none.
TEST(ForwardProfileTest, BatchedDecodeProfileSharesEachStepsWeightsAcrossItsSequences) {
  const auto bytes = small_model_bytes();
  const auto model = small_model(bytes);
  ThreadPool pool(2);
  BenchOptions o = profiled(0, 4);
  o.batch_sequences = {1, 3};
  const BenchReport r = run_bench(*model, o, pool);
  ASSERT_EQ(r.profiles.size(), 2u);
  const BenchProfile& batched = r.profiles[1];
  EXPECT_EQ(batched.test, "tg4 x3");
  EXPECT_EQ(batched.tokens, 12);
  EXPECT_EQ(batched.profile.steps, 4u);
  uint64_t matmul_bytes = 0;
  for (const ForwardProfile::Entry& e : batched.profile.ops) matmul_bytes += e.bytes;
  const uint64_t kv_row = 2 * static_cast<uint64_t>(model->config().kv_dim()) * sizeof(float);
  const uint64_t attention = 3 * (2 + 3 + 4 + 5) * kv_row * static_cast<uint64_t>(model->config().n_layer);
  EXPECT_EQ(op(batched.profile, ForwardOp::kAttention).bytes, attention);
  EXPECT_EQ(matmul_bytes - attention, 4 * weight_bytes_per_token(*model));
  EXPECT_NE(format_bench_markdown(r).find("profile of tg4 x3 (12 tokens"), std::string::npos);
}

}  // namespace
}  // namespace rpu
