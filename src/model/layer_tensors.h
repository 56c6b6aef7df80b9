// The tensors of one decoder layer ("blk.N.<name>" in GGUF), listed once. The weight loader
// (model/weights.cpp), LoRA adapters (model/lora.cpp), the synthetic-model writer
// (model/synth.cpp) and the trainer's parameters (train/decoder_params.cpp) all iterate this
// table, so a tensor added here is loaded, adaptable, synthesized and trained alike.
//
// Rows are in file order: synth and the trainer write a layer's tensors in this order, so
// reordering rows changes their files. Shapes, row-major [rows, cols]
// (GGUF shape {cols, rows}; 1-D tensors {cols}):
//   attn_norm.weight          [n_embd]          RMSNorm before attention (pre-norm decoders)
//   attn_q.weight             [q_dim, n_embd]   LoRA "q"
//   attn_k.weight             [kv_dim, n_embd]  LoRA "k"
//   attn_v.weight             [kv_dim, n_embd]  LoRA "v"
//   attn_qkv.weight  [q_dim + 2 kv_dim, n_embd] LoRA "qkv": q, k, v rows fused (phi3), instead of the three
//   attn_output.weight        [n_embd, q_dim]   LoRA "o"
//   attn_q.bias               [q_dim]           q/k/v biases (qwen2, bert)
//   attn_k.bias               [kv_dim]
//   attn_v.bias               [kv_dim]
//   attn_output.bias          [n_embd]          projection biases (bert)
//   attn_q_norm.weight        [head_dim]        per-head RMSNorm on q and k (qwen3)
//   attn_k_norm.weight        [head_dim]
//   attn_output_norm.weight   [n_embd]          LayerNorm after the attention residual (bert)
//   attn_output_norm.bias     [n_embd]
//   post_attention_norm.weight [n_embd]         RMSNorm on the attention output before its residual add (gemma)
//   ffn_norm.weight           [n_embd]          RMSNorm before the feed-forward (pre-norm decoders)
//   ffn_gate.weight           [n_ff, n_embd]    LoRA "gate" (SwiGLU feed-forwards)
//   ffn_up.weight             [n_ff, n_embd]    LoRA "up"
//   ffn_up.weight             [2 n_ff, n_embd]  LoRA "gate_up": gate rows, then up rows (phi3), instead of the two
//   ffn_down.weight           [n_embd, n_ff]    LoRA "down"
//   post_ffw_norm.weight      [n_embd]          RMSNorm on the feed-forward output before its residual add (gemma)
//   ffn_up.bias               [n_ff]            projection biases (bert)
//   ffn_down.bias             [n_embd]
//   layer_output_norm.weight  [n_embd]          LayerNorm after the feed-forward residual (bert)
//   layer_output_norm.bias    [n_embd]
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/config.h"
#include "model/weights.h"

namespace rpu {

// What a tensor is, which decides how it is stored (matrices keep their file type, vectors
// are f32) and how synth initializes it.
enum class LayerTensorKind {
  kNorm,      // RMSNorm / LayerNorm gain over the hidden state, [n_embd]
  kMatrix,    // a linear's weight W[out, in]: y = x W^T
  kBias,      // a linear's bias, [out], or a LayerNorm's bias
  kHeadNorm,  // RMSNorm gain applied to every head alike, [head_dim]
};

// A size, in terms of the model config.
enum class LayerDim { kOne, kEmbd, kQ, kKv, kFf, kHead, kQkv, kFf2 };  // kQkv = q + 2 kv, kFf2 = 2 n_ff

// When a layer has the tensor.
enum class LayerTensorPresence {
  kAlways,
  kQkvBias,   // q/k/v biases (ArchSpec::requires_qkv_bias: qwen2, bert)
  kQkNorm,    // q/k per-head norms (ArchSpec::requires_qk_norm: qwen3)
  kPreNorm,   // RMSNorms before attention and feed-forward (ArchSpec::norm == kRms: decoders)
  kPostNorm,  // LayerNorms after each residual add (ArchSpec::norm == kLayer: bert)
  kGate,      // the feed-forward's own gate matrix (gated feed-forwards without a fused gate_up)
  kProjBias,  // attn_output / ffn_up / ffn_down biases (ArchSpec::requires_proj_bias: bert)
  kSplitQkv,  // separate q, k, v projections (all but ArchSpec::fused_qkv)
  kFusedQkv,  // attn_qkv (ArchSpec::fused_qkv: phi3)
  kUp,        // ffn_up alone (all but ArchSpec::fused_gate_up)
  kFusedGateUp,    // ffn_up holding gate and up (ArchSpec::fused_gate_up: phi3)
  kPostBlockNorm,  // RMSNorms after attention and feed-forward (ArchSpec::post_block_norms: gemma)
};

// The sizes LayerDim names, for one model.
struct LayerDims {
  int64_t n_embd = 0, q_dim = 0, kv_dim = 0, n_ff = 0, head_dim = 0;

  static LayerDims of(const ModelConfig& c) { return {c.n_embd, c.q_dim(), c.kv_dim(), c.n_ff, c.head_dim}; }
  int64_t operator[](LayerDim d) const;
};

// Which tensor groups a layer has: the optional ones (qkv_bias, qk_norm) and those its
// architecture's layout decides (the rest; a decoder's by default).
struct LayerVariant {
  bool qkv_bias = false;
  bool qk_norm = false;
  bool pre_norm = true;
  bool post_norm = false;
  bool gate = true;
  bool proj_bias = false;
  bool fused_qkv = false;
  bool fused_gate_up = false;
  bool post_block_norm = false;

  // The groups an architecture requires (a file may still hold the other optional ones).
  static LayerVariant required_by(const ArchSpec& arch) {
    const bool post = arch.norm == NormKind::kLayer;
    const bool gated = arch.ffn == FfnKind::kSwiGlu || arch.ffn == FfnKind::kGeGlu;
    return {arch.requires_qkv_bias, arch.requires_qk_norm, !post, post, gated && !arch.fused_gate_up,
            arch.requires_proj_bias, arch.fused_qkv, arch.fused_gate_up, arch.post_block_norms};
  }
  // The layout groups of `arch` with these optional groups.
  LayerVariant with_layout_of(const ArchSpec& arch) const {
    LayerVariant v = required_by(arch);
    v.qkv_bias = qkv_bias;
    v.qk_norm = qk_norm;
    return v;
  }
  bool has(LayerTensorPresence p) const {
    switch (p) {
      case LayerTensorPresence::kAlways: return true;
      case LayerTensorPresence::kQkvBias: return qkv_bias;
      case LayerTensorPresence::kQkNorm: return qk_norm;
      case LayerTensorPresence::kPreNorm: return pre_norm;
      case LayerTensorPresence::kPostNorm: return post_norm;
      case LayerTensorPresence::kGate: return gate;
      case LayerTensorPresence::kProjBias: return proj_bias;
      case LayerTensorPresence::kSplitQkv: return !fused_qkv;
      case LayerTensorPresence::kFusedQkv: return fused_qkv;
      case LayerTensorPresence::kUp: return !fused_gate_up;
      case LayerTensorPresence::kFusedGateUp: return fused_gate_up;
      case LayerTensorPresence::kPostBlockNorm: return post_block_norm;
    }
    return false;
  }
};

struct LayerTensor {
  const char* name;  // after "blk.N.", e.g. "attn_q.weight"
  LayerTensorKind kind;
  LayerDim rows;  // matrices: output features; 1-D tensors: kOne
  LayerDim cols;  // matrices: input features (GGUF shape[0]); 1-D tensors: the length
  LayerTensorPresence presence;
  const char* lora;  // LoRA target name ("q", "gate", ...) of an adaptable matrix; null otherwise
  // Where load_weights puts it: `matrix` for matrices, `vector` (dequantized) for the rest.
  WeightMatrix LayerWeights::* matrix;
  std::vector<float> LayerWeights::* vector;

  constexpr bool is_matrix() const { return kind == LayerTensorKind::kMatrix; }
  int64_t n_rows(const LayerDims& d) const { return d[rows]; }
  int64_t n_cols(const LayerDims& d) const { return d[cols]; }
  std::vector<uint64_t> gguf_shape(const LayerDims& d) const;  // {cols, rows}; 1-D: {cols}
};

// The table, in file order.
std::span<const LayerTensor> layer_tensors();

// "blk.<layer>.<t.name>", the tensor's GGUF name.
std::string layer_tensor_name(int layer, const LayerTensor& t);

// The matrix a LoRA target name adapts, or null; the names in table order for messages
// ("q, k, v, o, gate, up, down").
const LayerTensor* find_lora_target(std::string_view target);
std::string lora_target_names();

}  // namespace rpu
