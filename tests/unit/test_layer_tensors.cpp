// The decoder layer's tensor table (model/layer_tensors.h) is the one list the loader, LoRA,
// synth and the trainer read: for each architecture's variant, synth writes exactly the
// table's rows in table order, the trainer's parameters are the same tensors in the same
// order, and the loader fills every LayerWeights member the table names with its shape.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/mapped_file.h"
#include "model/layer_tensors.h"
#include "model/lora.h"
#include "model/model.h"
#include "model/synth.h"
#include "train/decoder_params.h"

namespace rpu {
namespace {

struct Variant {
  const char* arch;
  bool qkv_bias, qk_norm;
  int head_dim;
  size_t n_per_layer;  // decoders: 9 + 3 biases + 2 norms; bert: 6 matrices + 6 biases + 4 LayerNorm
};

class LayerTableTest : public ::testing::TestWithParam<Variant> {};

TEST_P(LayerTableTest, SynthTrainerAndLoaderFollowTheTable) {
  const Variant& v = GetParam();
  SynthSpec s;
  s.arch = v.arch;
  s.qkv_bias = v.qkv_bias;
  s.qk_norm = v.qk_norm;
  s.head_dim = v.head_dim;  // qwen3: 16, not n_embd / n_head = 8, so q_dim 64 != n_embd 32
  s.wordpiece = std::string(v.arch) == "bert";
  const GgufFile file = GgufFile::parse(MappedFile::from_bytes(synth_model(s).to_bytes()), v.arch);
  const ModelConfig c = config_from_gguf(file);
  const LayerDims dims = LayerDims::of(c);
  const LayerVariant variant = LayerVariant{v.qkv_bias, v.qk_norm}.with_layout_of(*c.arch);

  std::vector<std::string> expected;
  for (int l = 0; l < c.n_layer; ++l) {
    for (const LayerTensor& t : layer_tensors()) {
      if (variant.has(t.presence)) expected.push_back(layer_tensor_name(l, t));
    }
  }
  ASSERT_EQ(expected.size(), v.n_per_layer * static_cast<size_t>(c.n_layer));
  std::vector<std::string> written, trained;
  for (const GgufTensorInfo& t : file.tensors()) {
    if (t.name.starts_with("blk.")) written.push_back(t.name);
  }
  EXPECT_EQ(written, expected);
  if (c.arch->encoder) {
    EXPECT_THROW(train::DecoderParams<float>::from_gguf(file), Error);  // the trainer trains decoders
  } else {
    const auto params = train::DecoderParams<float>::from_gguf(file);
    for (const auto& t : params.tensors()) {
      if (t.name.starts_with("blk.")) trained.push_back(t.name);
    }
    EXPECT_EQ(trained, expected);
  }

  const auto model = Model::from_gguf(GgufFile::parse(MappedFile::from_bytes(synth_model(s).to_bytes()), v.arch));
  const auto matrices = named_matrices(*model);
  for (int l = 0; l < c.n_layer; ++l) {
    const LayerWeights& w = model->weights().layers[static_cast<size_t>(l)];
    for (const LayerTensor& t : layer_tensors()) {
      const std::string name = layer_tensor_name(l, t);
      // ffn_up.weight has two rows, plain and fused (phi3); only the variant's own one counts.
      const bool other_form_present = !variant.has(t.presence) && std::any_of(
          layer_tensors().begin(), layer_tensors().end(),
          [&](const LayerTensor& u) { return &u != &t && std::string(u.name) == t.name && variant.has(u.presence); });
      if (other_form_present) continue;
      EXPECT_EQ(file.find_tensor(name) != nullptr, variant.has(t.presence)) << name;
      if (t.is_matrix() && !variant.has(t.presence)) {
        EXPECT_EQ((w.*t.matrix).view.rows, 0) << name;  // bert has no gate
      } else if (t.is_matrix()) {
        EXPECT_EQ((w.*t.matrix).view.rows, t.n_rows(dims)) << name;
        EXPECT_EQ((w.*t.matrix).view.cols, t.n_cols(dims)) << name;
        EXPECT_EQ(matrices.at(name), &(w.*t.matrix)) << name;
      } else {
        const size_t n = file.find_tensor(name) ? static_cast<size_t>(t.n_cols(dims)) : 0;
        EXPECT_EQ((w.*t.vector).size(), n) << name;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Archs, LayerTableTest,
                         ::testing::Values(Variant{"llama", false, false, 0, 9}, Variant{"qwen2", true, false, 0, 12},
                                           Variant{"qwen3", false, true, 16, 11}, Variant{"bert", true, false, 0, 16},
                                           // + post_attention_norm, post_ffw_norm; gemma3 + q/k norms
                                           Variant{"gemma2", false, false, 16, 11}, Variant{"gemma3", false, true, 16, 13},
                                           // attn_norm, attn_qkv, attn_output, ffn_norm, ffn_up (gate|up), ffn_down
                                           Variant{"phi3", false, false, 0, 6}, Variant{"smollm3", false, false, 0, 9}),
                         [](const auto& info) { return std::string(info.param.arch); });

TEST(LayerTable, LoraTargetsInTableOrder) {
  EXPECT_EQ(lora_target_names(), "q, k, v, qkv, o, gate, up, gate_up, down");
  const LayerTensor* o = find_lora_target("o");
  ASSERT_NE(o, nullptr);
  EXPECT_STREQ(o->name, "attn_output.weight");
  EXPECT_EQ(find_lora_target("attn_q"), nullptr);
}

}  // namespace
}  // namespace rpu
