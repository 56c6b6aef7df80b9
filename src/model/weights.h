// A decoder's weights. Matrices stay in their stored type (quantized or not): read in place
// from the mapped GGUF file, or repacked by the kernel set into its own layout (then the
// mapping's pages of them are given back, so they are resident once). Small vectors (norms,
// biases) are dequantized to f32 once at load.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "kernels/kernels.h"
#include "io/gguf.h"
#include "model/config.h"

namespace rpu {

// One member per row of model/layer_tensors.h, which load_weights fills through that table.
struct LayerWeights {
  std::vector<float> attn_norm;  // [n_embd]; empty in post-norm layers
  WeightMatrix wq;                 // [q_dim, n_embd]
  WeightMatrix wk;                 // [kv_dim, n_embd]
  WeightMatrix wv;                 // [kv_dim, n_embd]
  WeightMatrix wqkv;               // [q_dim + 2 kv_dim, n_embd] fused q/k/v (phi3); then wq, wk, wv are empty
  WeightMatrix wo;                 // [n_embd, q_dim]
  std::vector<float> bq, bk, bv;      // [q_dim], [kv_dim], [kv_dim]; empty when absent
  std::vector<float> bo;              // [n_embd]; empty when absent
  std::vector<float> q_norm, k_norm;  // [head_dim]; empty when absent
  std::vector<float> attn_output_norm, attn_output_norm_b;  // [n_embd] LayerNorm (post-norm layers)
  std::vector<float> attn_post_norm, ffn_post_norm;  // [n_embd] RMSNorms on block outputs (gemma); empty when absent
  std::vector<float> ffn_norm;   // [n_embd]; empty in post-norm layers
  WeightMatrix w_gate;             // [n_ff, n_embd]; empty (no rows) without a gate
  WeightMatrix w_up;               // [n_ff, n_embd], or [2 n_ff, n_embd] gate then up when fused (phi3)
  WeightMatrix w_down;             // [n_embd, n_ff]
  std::vector<float> b_up, b_down;  // [n_ff], [n_embd]; empty when absent
  std::vector<float> layer_output_norm, layer_output_norm_b;  // [n_embd] LayerNorm (post-norm layers)
};

struct ModelWeights {
  MatrixView token_embd;           // [n_vocab, n_embd], read row by row for lookups
  std::vector<float> output_norm;  // [n_embd]; empty in encoders
  WeightMatrix output;             // [n_vocab, n_embd]; the embedding table when tied; empty in encoders
  bool tied_output = false;
  std::vector<float> rope_freqs;   // [rope_dim / 2] frequency divisors (llama3 scaling); empty if none
  // [rope_dim / 2] longrope divisors (phi3): long ones when the context exceeds
  // rope.scaling.original_context_length, else short ones; empty if none.
  std::vector<float> rope_factors_long, rope_factors_short;
  // Encoders' input (ArchSpec::positions == kLearned, token_types, input_norm).
  MatrixView position_embd;        // [n_ctx_train, n_embd]
  std::vector<float> token_type0;  // [n_embd]: row 0 of token_types.weight (every token is type 0); may be empty
  std::vector<float> input_norm, input_norm_b;  // [n_embd]: token_embd_norm LayerNorm
  // A cross-encoder's classification head (pooling rank), read on the first token's state h:
  //   y = tanh(cls h + cls_b)          [n_embd]      when cls is present (BERT's pooler)
  //   score = cls_out y + cls_out_b    [n_cls_out]   when cls_out is present (the classifier)
  // At least one is present; without cls_out the score is y.
  WeightMatrix cls, cls_out;              // [n_embd, n_embd], [n_cls_out, n_embd]
  std::vector<float> cls_b, cls_out_b;    // [n_embd], [n_cls_out]; empty when absent
  int n_cls_out = 0;                      // outputs per input: cls_out's rows, else n_embd
  std::vector<LayerWeights> layers;
  // Tensors read only through the kernel set's repacked copy, whose pages of the mapped file
  // were given back at load (GgufFile::release_tensor_pages; a raw read, e.g. by rpu export,
  // still sees the same bytes, faulting them in again). Empty for the reference set, which
  // packs nothing, and for a file read into memory (--no-mmap, the built-in model).
  std::vector<std::string> released_tensors;
  // Bytes given back: those tensors', plus a tied embedding table's (repacked as the output
  // head, while lookups read it raw, faulting in only the rows they read).
  uint64_t released_file_bytes = 0;
};

// Finds every tensor by its GGUF name and checks its shape; throws naming the tensor.
// Matrices are prepared (possibly repacked) for `kernels`.
ModelWeights load_weights(const GgufFile& file, const ModelConfig& config, const KernelSet& kernels);

}  // namespace rpu
