// A decoder's weights. Matrices stay in their stored type (quantized or not): read in place
// from the mapped GGUF file, or repacked by the kernel set into its own layout. Small
// vectors (norms, biases) are dequantized to f32 once at load.
#pragma once

#include <vector>

#include "core/tensor.h"
#include "kernels/kernels.h"
#include "io/gguf.h"
#include "model/config.h"

namespace rpu {

// One member per row of model/layer_tensors.h, which load_weights fills through that table.
struct LayerWeights {
  std::vector<float> attn_norm;  // [n_embd]
  WeightMatrix wq;                 // [q_dim, n_embd]
  WeightMatrix wk;                 // [kv_dim, n_embd]
  WeightMatrix wv;                 // [kv_dim, n_embd]
  WeightMatrix wo;                 // [n_embd, q_dim]
  std::vector<float> bq, bk, bv;      // [q_dim], [kv_dim], [kv_dim]; empty when absent
  std::vector<float> q_norm, k_norm;  // [head_dim]; empty when absent
  std::vector<float> ffn_norm;   // [n_embd]
  WeightMatrix w_gate;             // [n_ff, n_embd]
  WeightMatrix w_up;               // [n_ff, n_embd]
  WeightMatrix w_down;             // [n_embd, n_ff]
};

struct ModelWeights {
  MatrixView token_embd;           // [n_vocab, n_embd], read row by row for lookups
  std::vector<float> output_norm;  // [n_embd]
  WeightMatrix output;             // [n_vocab, n_embd]; the embedding table when tied
  bool tied_output = false;
  std::vector<float> rope_freqs;   // [rope_dim / 2] frequency divisors (llama3 scaling); empty if none
  std::vector<LayerWeights> layers;
};

// Finds every tensor by its GGUF name and checks its shape; throws naming the tensor.
// Matrices are prepared (possibly repacked) for `kernels`.
ModelWeights load_weights(const GgufFile& file, const ModelConfig& config, const KernelSet& kernels);

}  // namespace rpu
