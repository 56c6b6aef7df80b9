// The tensors of one decoder layer ("blk.N.<name>" in GGUF), listed once. The weight loader
// (model/weights.cpp), LoRA adapters (model/lora.cpp), the synthetic-model writer
// (model/synth.cpp) and the trainer's parameters (train/decoder_params.cpp) all iterate this
// table, so a tensor added here is loaded, adaptable, synthesized and trained alike.
//
// Rows are in file order: synth and the trainer write a layer's tensors in this order, so
// reordering rows changes their files. Shapes, row-major [rows, cols]
// (GGUF shape {cols, rows}; 1-D tensors {cols}):
//   attn_norm.weight    [n_embd]              RMSNorm before attention
//   attn_q.weight       [q_dim, n_embd]       LoRA "q"
//   attn_k.weight       [kv_dim, n_embd]      LoRA "k"
//   attn_v.weight       [kv_dim, n_embd]      LoRA "v"
//   attn_output.weight  [n_embd, q_dim]       LoRA "o"
//   attn_q.bias         [q_dim]               q/k/v biases (qwen2)
//   attn_k.bias         [kv_dim]
//   attn_v.bias         [kv_dim]
//   attn_q_norm.weight  [head_dim]            per-head RMSNorm on q and k (qwen3)
//   attn_k_norm.weight  [head_dim]
//   ffn_norm.weight     [n_embd]              RMSNorm before the feed-forward
//   ffn_gate.weight     [n_ff, n_embd]        LoRA "gate"
//   ffn_up.weight       [n_ff, n_embd]        LoRA "up"
//   ffn_down.weight     [n_embd, n_ff]        LoRA "down"
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
  kNorm,      // RMSNorm gain over the hidden state, [n_embd]
  kMatrix,    // a linear's weight W[out, in]: y = x W^T
  kBias,      // a linear's bias, [out]
  kHeadNorm,  // RMSNorm gain applied to every head alike, [head_dim]
};

// A size, in terms of the model config.
enum class LayerDim { kOne, kEmbd, kQ, kKv, kFf, kHead };

// When a layer has the tensor.
enum class LayerTensorPresence {
  kAlways,
  kQkvBias,  // q/k/v biases (ArchSpec::requires_qkv_bias: qwen2)
  kQkNorm,   // q/k per-head norms (ArchSpec::requires_qk_norm: qwen3)
};

// The sizes LayerDim names, for one model.
struct LayerDims {
  int64_t n_embd = 0, q_dim = 0, kv_dim = 0, n_ff = 0, head_dim = 0;

  static LayerDims of(const ModelConfig& c) { return {c.n_embd, c.q_dim(), c.kv_dim(), c.n_ff, c.head_dim}; }
  int64_t operator[](LayerDim d) const;
};

// Which optional tensor groups a layer has.
struct LayerVariant {
  bool qkv_bias = false;
  bool qk_norm = false;

  // The groups an architecture requires (a file may still hold the others).
  static LayerVariant required_by(const ArchSpec& arch) { return {arch.requires_qkv_bias, arch.requires_qk_norm}; }
  bool has(LayerTensorPresence p) const {
    return p == LayerTensorPresence::kAlways || (p == LayerTensorPresence::kQkvBias && qkv_bias) ||
           (p == LayerTensorPresence::kQkNorm && qk_norm);
  }
};

struct LayerTensor {
  const char* name;  // after "blk.N.", e.g. "attn_q.weight"
  LayerTensorKind kind;
  LayerDim rows;  // matrices: output features; 1-D tensors: kOne
  LayerDim cols;  // matrices: input features (GGUF shape[0]); 1-D tensors: the length
  LayerTensorPresence presence;  // matrices are always present
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
