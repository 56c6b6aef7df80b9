#include "import/hf_arch.h"

#include <array>

namespace rpu::hf {
namespace {

// The hyper-parameters every decoder of the llama family has, named as transformers names them.
constexpr KeyRow kDecoderKeys[] = {
    {"hidden_size", "embedding_length", KeyType::kU32, true},
    {"num_hidden_layers", "block_count", KeyType::kU32, true},
    {"num_attention_heads", "attention.head_count", KeyType::kU32, true},
    {"num_key_value_heads", "attention.head_count_kv", KeyType::kU32, false},
    {"intermediate_size", "feed_forward_length", KeyType::kU32, true},
    {"max_position_embeddings", "context_length", KeyType::kU32, false},
    {"rms_norm_eps", "attention.layer_norm_rms_epsilon", KeyType::kF32, false},
    {"rope_theta", "rope.freq_base", KeyType::kF32, false},
    {"head_dim", "attention.key_length", KeyType::kU32, false},
    {"head_dim", "attention.value_length", KeyType::kU32, false},
};

// Tensors outside the layers.
#define RPU_HF_GLOBAL_TENSORS                                   \
  {"model.embed_tokens.weight", "token_embd.weight"},           \
      {"model.norm.weight", "output_norm.weight"},              \
      {"lm_head.weight", "output.weight"}

// Per-layer tensors of the llama family (attention and SwiGLU MLP).
#define RPU_HF_LAYER_TENSORS(q_order, k_order)                                                        \
  {"model.layers.{L}.input_layernorm.weight", "blk.{L}.attn_norm.weight"},                            \
      {"model.layers.{L}.self_attn.q_proj.weight", "blk.{L}.attn_q.weight", q_order},                 \
      {"model.layers.{L}.self_attn.k_proj.weight", "blk.{L}.attn_k.weight", k_order},                 \
      {"model.layers.{L}.self_attn.v_proj.weight", "blk.{L}.attn_v.weight"},                          \
      {"model.layers.{L}.self_attn.o_proj.weight", "blk.{L}.attn_output.weight"},                     \
      {"model.layers.{L}.post_attention_layernorm.weight", "blk.{L}.ffn_norm.weight"},                \
      {"model.layers.{L}.mlp.gate_proj.weight", "blk.{L}.ffn_gate.weight"},                           \
      {"model.layers.{L}.mlp.up_proj.weight", "blk.{L}.ffn_up.weight"},                               \
      {"model.layers.{L}.mlp.down_proj.weight", "blk.{L}.ffn_down.weight"}

// llama: GGUF rotates adjacent pairs, HF rotates halves, so q and k rows are reordered.
constexpr TensorRow kLlamaTensors[] = {
    RPU_HF_GLOBAL_TENSORS,
    RPU_HF_LAYER_TENSORS(RowOrder::kRopeQ, RowOrder::kRopeK),
    // Some llama-family checkpoints carry attention biases (attention_bias: true).
    {"model.layers.{L}.self_attn.q_proj.bias", "blk.{L}.attn_q.bias", RowOrder::kRopeQ},
    {"model.layers.{L}.self_attn.k_proj.bias", "blk.{L}.attn_k.bias", RowOrder::kRopeK},
    {"model.layers.{L}.self_attn.v_proj.bias", "blk.{L}.attn_v.bias"},
};

// qwen2: halves in GGUF too (neox RoPE), and q/k/v biases.
constexpr TensorRow kQwen2Tensors[] = {
    RPU_HF_GLOBAL_TENSORS,
    RPU_HF_LAYER_TENSORS(RowOrder::kAsIs, RowOrder::kAsIs),
    {"model.layers.{L}.self_attn.q_proj.bias", "blk.{L}.attn_q.bias"},
    {"model.layers.{L}.self_attn.k_proj.bias", "blk.{L}.attn_k.bias"},
    {"model.layers.{L}.self_attn.v_proj.bias", "blk.{L}.attn_v.bias"},
};

// qwen3: per-head RMSNorm on q and k, no biases.
constexpr TensorRow kQwen3Tensors[] = {
    RPU_HF_GLOBAL_TENSORS,
    RPU_HF_LAYER_TENSORS(RowOrder::kAsIs, RowOrder::kAsIs),
    {"model.layers.{L}.self_attn.q_norm.weight", "blk.{L}.attn_q_norm.weight"},
    {"model.layers.{L}.self_attn.k_norm.weight", "blk.{L}.attn_k_norm.weight"},
};

#undef RPU_HF_GLOBAL_TENSORS
#undef RPU_HF_LAYER_TENSORS

constexpr std::array kArchs = {
    ArchRow{"llama", "llama", kDecoderKeys, kLlamaTensors, 1e-6f},
    ArchRow{"mistral", "llama", kDecoderKeys, kLlamaTensors, 1e-6f},
    ArchRow{"qwen2", "qwen2", kDecoderKeys, kQwen2Tensors, 1e-6f},
    ArchRow{"qwen3", "qwen3", kDecoderKeys, kQwen3Tensors, 1e-6f},
};

}  // namespace

const ArchRow* find_hf_arch(const std::string& model_type) {
  for (const ArchRow& row : kArchs) {
    if (model_type == row.model_type) return &row;
  }
  return nullptr;
}

std::string supported_hf_arch_names() {
  std::string names;
  for (const ArchRow& row : kArchs) names += (names.empty() ? "" : ", ") + std::string(row.model_type);
  return names;
}

bool is_ignored_hf_tensor(const std::string& name) {
  const std::string suffix = ".rotary_emb.inv_freq";
  return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace rpu::hf
