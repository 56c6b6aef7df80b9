// Per-tensor type choices against llama.cpp's documented mixes (llama_tensor_get_type):
// known tensor names and shapes of real models, the "more bits" layers, the output head and
// the shape fallbacks.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "model/quant_plan.h"
#include "model/synth_presets.h"

namespace rpu {
namespace {

std::map<std::string, TensorPlan> plan_for(const char* preset, const char* scheme) {
  SynthSpec spec = find_synth_preset(preset)->spec;
  std::vector<TensorDesc> tensors = synth_tensors(spec);  // all F32 without a scheme
  const auto plan = plan_tensor_types(*find_quant_scheme(scheme), tensors, spec.n_layer);
  std::map<std::string, TensorPlan> by_name;
  for (size_t i = 0; i < tensors.size(); ++i) by_name.emplace(tensors[i].name, plan[i]);
  return by_name;
}

std::string blk(int layer, const char* name) { return "blk." + std::to_string(layer) + "." + name; }

TEST(QuantPlanTest, SchemesCarryLlamaFileTypeNumbers) {
  const std::map<std::string, uint32_t> expected = {{"F32", 0},    {"F16", 1},     {"Q4_0", 2},    {"Q4_1", 3},
                                                    {"Q8_0", 7},   {"Q5_0", 8},    {"Q5_1", 9},    {"Q4_K_S", 14},
                                                    {"Q4_K_M", 15}, {"Q5_K_S", 16}, {"Q5_K_M", 17}, {"Q6_K", 18},
                                                    {"BF16", 32}};
  for (const auto& [name, id] : expected) {
    const QuantScheme* s = find_quant_scheme(name);
    ASSERT_NE(s, nullptr) << name;
    EXPECT_EQ(s->file_type, id) << name;
    EXPECT_EQ(find_quant_scheme(id), s);
  }
  EXPECT_EQ(find_quant_scheme("q4_k_m"), find_quant_scheme("Q4_K_M"));
  EXPECT_EQ(find_quant_scheme("Q9_9"), nullptr);
  EXPECT_EQ(find_quant_scheme("Q4_K"), nullptr);  // a tensor type, not a file type
}

TEST(QuantPlanTest, FallbacksFollowLlamaCppsTable) {
  // 576 columns: whole 32-blocks, not whole 256-blocks.
  EXPECT_EQ(fallback_type(DType::Q4_K, 576), DType::Q5_0);
  EXPECT_EQ(fallback_type(DType::Q5_K, 576), DType::Q5_1);
  EXPECT_EQ(fallback_type(DType::Q6_K, 576), DType::Q8_0);
  EXPECT_EQ(fallback_type(DType::Q3_K, 576), DType::Q4_0);
  EXPECT_EQ(fallback_type(DType::Q2_K, 576), DType::Q4_0);
  // Whole super-blocks keep the type.
  for (DType t : {DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q8_0, DType::Q4_0}) EXPECT_EQ(fallback_type(t, 1536), t);
  // 172 columns fit no block: F16 (llama.cpp's "unusual shape" escape).
  for (DType t : {DType::Q4_K, DType::Q6_K, DType::Q8_0, DType::Q4_0, DType::Q5_1}) EXPECT_EQ(fallback_type(t, 172), DType::F16);
}

TEST(QuantPlanTest, OnlyTwoDimensionalNonNormWeightsAreQuantizable) {
  EXPECT_TRUE(is_quantizable({"blk.0.attn_q.weight", {64, 64}, DType::F32}));
  EXPECT_TRUE(is_quantizable({"token_embd.weight", {64, 512}, DType::F32}));
  EXPECT_FALSE(is_quantizable({"blk.0.attn_norm.weight", {64}, DType::F32}));
  EXPECT_FALSE(is_quantizable({"blk.0.attn_q_norm.weight", {128}, DType::F32}));
  EXPECT_FALSE(is_quantizable({"blk.0.attn_q.bias", {64}, DType::F32}));
  EXPECT_FALSE(is_quantizable({"rope_freqs.weight", {32}, DType::F32}));
  EXPECT_FALSE(is_quantizable({"blk.0.ffn_gate_inp.weight", {64, 8}, DType::F32}));  // MoE router
}

// Llama-3.2-1B Q4_K_M, 16 layers: more bits in layers 0,1 (first eighth), 14,15 (last
// eighth) and 4,7,10,13 (every third in between); the tied embedding is the output head.
TEST(QuantPlanTest, Llama32Q4KMMatchesLlamaQuantize) {
  const auto plan = plan_for("llama3.2-1b", "Q4_K_M");
  EXPECT_EQ(plan.at("token_embd.weight").type, DType::Q6_K);
  EXPECT_EQ(plan.at("rope_freqs.weight").type, DType::F32);
  EXPECT_EQ(plan.at("output_norm.weight").type, DType::F32);
  const std::set<int> more_bits = {0, 1, 4, 7, 10, 13, 14, 15};
  for (int l = 0; l < 16; ++l) {
    const DType hi = more_bits.count(l) ? DType::Q6_K : DType::Q4_K;
    EXPECT_EQ(plan.at(blk(l, "attn_v.weight")).type, hi) << l;
    EXPECT_EQ(plan.at(blk(l, "ffn_down.weight")).type, hi) << l;
    for (const char* n : {"attn_q.weight", "attn_k.weight", "attn_output.weight", "ffn_gate.weight", "ffn_up.weight"}) {
      EXPECT_EQ(plan.at(blk(l, n)).type, DType::Q4_K) << l << n;
    }
    EXPECT_EQ(plan.at(blk(l, "attn_norm.weight")).type, DType::F32);
    EXPECT_FALSE(plan.at(blk(l, "attn_q.weight")).fallback);
  }
}

// Qwen2.5-0.5B Q4_K_M: 896 columns are not whole 256-blocks, so Q4_K falls back to Q5_0 and
// Q6_K to Q8_0; ffn_down (4864 columns) keeps K types. 24 layers: more bits in 0-2, 21-23
// and 5, 8, 11, 14, 17, 20. The tied head's rows don't fit Q6_K either: Q8_0.
TEST(QuantPlanTest, Qwen25Q4KMFallsBackOn896Columns) {
  const auto plan = plan_for("qwen2.5-0.5b", "Q4_K_M");
  EXPECT_EQ(plan.at("token_embd.weight").type, DType::Q8_0);
  const std::set<int> more_bits = {0, 1, 2, 5, 8, 11, 14, 17, 20, 21, 22, 23};
  for (int l = 0; l < 24; ++l) {
    const bool hi = more_bits.count(l) != 0;
    EXPECT_EQ(plan.at(blk(l, "attn_v.weight")).type, hi ? DType::Q8_0 : DType::Q5_0) << l;
    EXPECT_TRUE(plan.at(blk(l, "attn_v.weight")).fallback);
    EXPECT_EQ(plan.at(blk(l, "ffn_down.weight")).type, hi ? DType::Q6_K : DType::Q4_K) << l;
    EXPECT_FALSE(plan.at(blk(l, "ffn_down.weight")).fallback);
    EXPECT_EQ(plan.at(blk(l, "attn_q.weight")).type, DType::Q5_0);
    EXPECT_EQ(plan.at(blk(l, "ffn_up.weight")).type, DType::Q5_0);
    EXPECT_EQ(plan.at(blk(l, "attn_q.bias")).type, DType::F32);
  }
}

// SmolLM2 Q5_K_M, 30 layers: more bits in 0-2, 26-29 and 5, 8, ..., 23.
TEST(QuantPlanTest, SmolLM2Q5KMUsesMoreBitsLayers) {
  const auto plan = plan_for("smollm2-135m", "Q5_K_M");
  const std::set<int> more_bits = {0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29};
  for (int l = 0; l < 30; ++l) {
    const bool hi = more_bits.count(l) != 0;
    EXPECT_EQ(plan.at(blk(l, "ffn_down.weight")).type, hi ? DType::Q6_K : DType::Q5_K) << l;
    EXPECT_EQ(plan.at(blk(l, "attn_v.weight")).type, hi ? DType::Q8_0 : DType::Q5_1) << l;
    EXPECT_EQ(plan.at(blk(l, "ffn_gate.weight")).type, DType::Q5_1) << l;
  }
  EXPECT_EQ(plan.at("token_embd.weight").type, DType::Q8_0);
}

TEST(QuantPlanTest, Q4KSGivesEarlyLayersQ5K) {
  const auto plan = plan_for("llama3.2-1b", "Q4_K_S");
  for (int l = 0; l < 16; ++l) {
    EXPECT_EQ(plan.at(blk(l, "attn_v.weight")).type, l < 4 ? DType::Q5_K : DType::Q4_K) << l;
    EXPECT_EQ(plan.at(blk(l, "ffn_down.weight")).type, l < 2 ? DType::Q5_K : DType::Q4_K) << l;
  }
  EXPECT_EQ(plan.at("token_embd.weight").type, DType::Q6_K);
}

TEST(QuantPlanTest, LegacyTypesAreUniformExceptTheOutputHead) {
  const auto q4 = plan_for("qwen3-0.6b", "Q4_0");
  EXPECT_EQ(q4.at("token_embd.weight").type, DType::Q6_K);  // tied head, 1024 columns
  for (const char* n : {"attn_q.weight", "attn_v.weight", "attn_output.weight", "ffn_down.weight"}) {
    EXPECT_EQ(q4.at(blk(3, n)).type, DType::Q4_0) << n;
  }
  EXPECT_EQ(q4.at(blk(3, "attn_q_norm.weight")).type, DType::F32);
  const auto q8 = plan_for("qwen3-0.6b", "Q8_0");
  EXPECT_EQ(q8.at("token_embd.weight").type, DType::Q8_0);  // Q8_0 files keep Q8_0 heads
  EXPECT_EQ(q8.at(blk(0, "ffn_down.weight")).type, DType::Q8_0);
}

TEST(QuantPlanTest, UntiedOutputHeadAndEmbeddingAreTreatedApart) {
  const std::vector<TensorDesc> tensors = {
      {"token_embd.weight", {512, 1000}, DType::F32},
      {"output.weight", {512, 1000}, DType::F32},
      {"blk.0.attn_v.weight", {512, 128}, DType::F32},
  };
  auto types = plan_tensor_types(*find_quant_scheme("Q4_0"), tensors, 1);
  EXPECT_EQ(types[0].type, DType::Q4_0);  // only looked up by row: the plain type
  EXPECT_EQ(types[1].type, DType::Q6_K);
  types = plan_tensor_types(*find_quant_scheme("Q4_K_M"), tensors, 1);
  EXPECT_EQ(types[0].type, DType::Q4_K);
  EXPECT_EQ(types[1].type, DType::Q6_K);
  EXPECT_EQ(types[2].type, DType::Q6_K);  // the only layer is in the first eighth
}

TEST(QuantPlanTest, FloatSchemesConvertEveryMatrixAndKeepVectors) {
  const std::vector<TensorDesc> tensors = {
      {"token_embd.weight", {64, 512}, DType::F32},
      {"blk.0.ffn_down.weight", {172, 64}, DType::Q8_0},
      {"blk.0.attn_norm.weight", {64}, DType::F32},
      {"blk.0.attn_q.bias", {64}, DType::F16},
  };
  for (const char* name : {"F16", "BF16", "F32"}) {
    const QuantScheme& s = *find_quant_scheme(name);
    const auto types = plan_tensor_types(s, tensors, 1);
    EXPECT_EQ(types[0].type, s.base) << name;
    EXPECT_EQ(types[1].type, s.base) << name;
    EXPECT_EQ(types[2].type, DType::F32) << name;
    EXPECT_EQ(types[3].type, DType::F16) << name;  // vectors keep whatever type they have
  }
}

}  // namespace
}  // namespace rpu
