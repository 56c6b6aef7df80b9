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

// smollm3: llama's layout (and q/k permutation); its layers without RoPE are a fixed period
// the engine knows, checked against no_rope_layers on import.

// phi3: q, k and v in one matrix, gate and up in another (gate's rows first), RoPE by halves.
constexpr TensorRow kPhi3Tensors[] = {
    RPU_HF_GLOBAL_TENSORS,
    {"model.layers.{L}.input_layernorm.weight", "blk.{L}.attn_norm.weight"},
    {"model.layers.{L}.self_attn.qkv_proj.weight", "blk.{L}.attn_qkv.weight"},
    {"model.layers.{L}.self_attn.o_proj.weight", "blk.{L}.attn_output.weight"},
    {"model.layers.{L}.post_attention_layernorm.weight", "blk.{L}.ffn_norm.weight"},
    {"model.layers.{L}.mlp.gate_up_proj.weight", "blk.{L}.ffn_up.weight"},
    {"model.layers.{L}.mlp.down_proj.weight", "blk.{L}.ffn_down.weight"},
};

constexpr KeyRow kPhi3Keys[] = {
    {"hidden_size", "embedding_length", KeyType::kU32, true},
    {"num_hidden_layers", "block_count", KeyType::kU32, true},
    {"num_attention_heads", "attention.head_count", KeyType::kU32, true},
    {"num_key_value_heads", "attention.head_count_kv", KeyType::kU32, false},
    {"intermediate_size", "feed_forward_length", KeyType::kU32, true},
    {"max_position_embeddings", "context_length", KeyType::kU32, false},
    {"original_max_position_embeddings", "rope.scaling.original_context_length", KeyType::kU32, false},
    {"rms_norm_eps", "attention.layer_norm_rms_epsilon", KeyType::kF32, false},
    {"rope_theta", "rope.freq_base", KeyType::kF32, false},
    // null (Phi-4-mini) is written as 0, no window, as llama.cpp's converter does.
    {"sliding_window", "attention.sliding_window", KeyType::kU32, false, 0},
};

// gemma: RMSNorm weights are stored as w - 1 (the layer multiplies by 1 + w), GGUF holds w;
// four norms a layer (before and after attention and the MLP), GeGLU, RoPE by halves, and the
// output tied to the embeddings (lm_head, when a checkpoint has it, is the output as usual).
#define RPU_HF_GEMMA_TENSORS                                                                                  \
  {"model.embed_tokens.weight", "token_embd.weight"},                                                         \
      {"model.norm.weight", "output_norm.weight", RowOrder::kAsIs, ValueMap::kPlusOne},                       \
      {"lm_head.weight", "output.weight"},                                                                    \
      {"model.layers.{L}.input_layernorm.weight", "blk.{L}.attn_norm.weight", RowOrder::kAsIs, ValueMap::kPlusOne}, \
      {"model.layers.{L}.self_attn.q_proj.weight", "blk.{L}.attn_q.weight"},                                  \
      {"model.layers.{L}.self_attn.k_proj.weight", "blk.{L}.attn_k.weight"},                                  \
      {"model.layers.{L}.self_attn.v_proj.weight", "blk.{L}.attn_v.weight"},                                  \
      {"model.layers.{L}.self_attn.o_proj.weight", "blk.{L}.attn_output.weight"},                             \
      {"model.layers.{L}.post_attention_layernorm.weight", "blk.{L}.post_attention_norm.weight", RowOrder::kAsIs, \
       ValueMap::kPlusOne},                                                                                   \
      {"model.layers.{L}.pre_feedforward_layernorm.weight", "blk.{L}.ffn_norm.weight", RowOrder::kAsIs,       \
       ValueMap::kPlusOne},                                                                                   \
      {"model.layers.{L}.post_feedforward_layernorm.weight", "blk.{L}.post_ffw_norm.weight", RowOrder::kAsIs, \
       ValueMap::kPlusOne},                                                                                   \
      {"model.layers.{L}.mlp.gate_proj.weight", "blk.{L}.ffn_gate.weight"},                                   \
      {"model.layers.{L}.mlp.up_proj.weight", "blk.{L}.ffn_up.weight"},                                       \
      {"model.layers.{L}.mlp.down_proj.weight", "blk.{L}.ffn_down.weight"}

constexpr TensorRow kGemma2Tensors[] = {RPU_HF_GEMMA_TENSORS};

// gemma3: gemma2's layer plus per-head q/k RMSNorms (stored as w - 1 too).
constexpr TensorRow kGemma3Tensors[] = {
    RPU_HF_GEMMA_TENSORS,
    {"model.layers.{L}.self_attn.q_norm.weight", "blk.{L}.attn_q_norm.weight", RowOrder::kAsIs, ValueMap::kPlusOne},
    {"model.layers.{L}.self_attn.k_norm.weight", "blk.{L}.attn_k_norm.weight", RowOrder::kAsIs, ValueMap::kPlusOne},
};

#undef RPU_HF_GLOBAL_TENSORS
#undef RPU_HF_LAYER_TENSORS
#undef RPU_HF_GEMMA_TENSORS

constexpr KeyRow kGemma2Keys[] = {
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
    {"sliding_window", "attention.sliding_window", KeyType::kU32, false},
    {"attn_logit_softcapping", "attn_logit_softcapping", KeyType::kF32, false},
    {"final_logit_softcapping", "final_logit_softcapping", KeyType::kF32, false},
};

// gemma3: Gemma3TextConfig's defaults, which the text_config of the multimodal checkpoints
// (4B and up) leaves out; local layers rotate with their own base (rope_local_base_freq).
constexpr KeyRow kGemma3Keys[] = {
    {"hidden_size", "embedding_length", KeyType::kU32, true},
    {"num_hidden_layers", "block_count", KeyType::kU32, true},
    {"num_attention_heads", "attention.head_count", KeyType::kU32, false, 8},
    {"num_key_value_heads", "attention.head_count_kv", KeyType::kU32, false, 4},
    {"intermediate_size", "feed_forward_length", KeyType::kU32, true},
    {"max_position_embeddings", "context_length", KeyType::kU32, false, 131072},
    {"rms_norm_eps", "attention.layer_norm_rms_epsilon", KeyType::kF32, false, 1e-6},
    {"rope_theta", "rope.freq_base", KeyType::kF32, false, 1e6},
    {"rope_local_base_freq", "rope.freq_base_swa", KeyType::kF32, false, 10000},
    {"head_dim", "attention.key_length", KeyType::kU32, false, 256},
    {"head_dim", "attention.value_length", KeyType::kU32, false, 256},
    {"sliding_window", "attention.sliding_window", KeyType::kU32, false, 4096},
    {"final_logit_softcapping", "final_logit_softcapping", KeyType::kF32, false},
};

// A Gemma3ForConditionalGeneration checkpoint: the language model under one of two prefixes
// (older and newer transformers), the vision tower and projector left out.
constexpr PrefixRow kGemma3MultimodalPrefixes[] = {
    {"language_model.model.", "model."},      {"model.language_model.", "model."},
    {"language_model.lm_head.", "lm_head."},  {"vision_tower.", nullptr},
    {"multi_modal_projector.", nullptr},      {"model.vision_tower.", nullptr},
    {"model.multi_modal_projector.", nullptr},
};

constexpr std::array kArchs = {
    ArchRow{"llama", "llama", kDecoderKeys, kLlamaTensors, 1e-6f},
    ArchRow{"mistral", "llama", kDecoderKeys, kLlamaTensors, 1e-6f},
    ArchRow{"qwen2", "qwen2", kDecoderKeys, kQwen2Tensors, 1e-6f},
    ArchRow{"qwen3", "qwen3", kDecoderKeys, kQwen3Tensors, 1e-6f},
    ArchRow{"smollm3", "smollm3", kDecoderKeys, kLlamaTensors, 1e-6f},
    ArchRow{"phi3", "phi3", kPhi3Keys, kPhi3Tensors, 1e-5f},
    ArchRow{"gemma2", "gemma2", kGemma2Keys, kGemma2Tensors, 1e-6f},
    ArchRow{"gemma3_text", "gemma3", kGemma3Keys, kGemma3Tensors, 1e-6f},
    ArchRow{"gemma3", "gemma3", kGemma3Keys, kGemma3Tensors, 1e-6f, true, kGemma3MultimodalPrefixes},
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
