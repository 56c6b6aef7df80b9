// Views of a decoder's weights inside the mapped GGUF file. Matrices stay in their stored
// type (quantized or not) and are read in place; small vectors (norms, biases) are
// dequantized to f32 once at load.
#pragma once

#include <vector>

#include "core/tensor.h"
#include "io/gguf.h"
#include "model/config.h"

namespace rpu {

struct LayerWeights {
  std::vector<float> attn_norm;  // [n_embd]
  MatrixView wq;                 // [q_dim, n_embd]
  MatrixView wk;                 // [kv_dim, n_embd]
  MatrixView wv;                 // [kv_dim, n_embd]
  MatrixView wo;                 // [n_embd, q_dim]
  std::vector<float> bq, bk, bv;      // [q_dim], [kv_dim], [kv_dim]; empty when absent
  std::vector<float> q_norm, k_norm;  // [head_dim]; empty when absent
  std::vector<float> ffn_norm;   // [n_embd]
  MatrixView w_gate;             // [n_ff, n_embd]
  MatrixView w_up;               // [n_ff, n_embd]
  MatrixView w_down;             // [n_embd, n_ff]
};

struct ModelWeights {
  MatrixView token_embd;           // [n_vocab, n_embd]
  std::vector<float> output_norm;  // [n_embd]
  MatrixView output;               // [n_vocab, n_embd]; the embedding table when tied
  bool tied_output = false;
  std::vector<float> rope_freqs;   // [rope_dim / 2] frequency divisors (llama3 scaling); empty if none
  std::vector<LayerWeights> layers;
};

// Finds every tensor by its GGUF name and checks its shape; throws naming the tensor.
ModelWeights load_weights(const GgufFile& file, const ModelConfig& config);

}  // namespace rpu
