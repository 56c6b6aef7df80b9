// The generic decoder forward pass: one sequence, f32 activations, any weight type.
//
//   x = embed(tokens)                                   [T, n_embd]
//   per layer:
//     h = rmsnorm(x) * attn_norm
//     q, k, v = h Wq^T (+bq), h Wk^T (+bk), h Wv^T (+bv)  [T, q_dim], [T, kv_dim] x2
//     (qwen3) q, k = per-head rmsnorm(q) * q_norm, ... * k_norm
//     q, k = rope(q, k, positions); k, v appended to the cache
//     x += softmax(q k^T / sqrt(head_dim), causal) v  Wo^T
//     h = rmsnorm(x) * ffn_norm
//     x += (silu(h Wgate^T) * (h Wup^T)) Wdown^T
//   logits = (rmsnorm(x) * output_norm) Wout^T          [T, n_vocab]
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace rpu {

class ForwardPass {
 public:
  // `pool` may be null (single-threaded). Matmuls run on the kernel set the model was loaded for.
  ForwardPass(const Model& model, int n_ctx, ThreadPool* pool = nullptr);

  // Processes `tokens` at positions n_past() .. n_past()+size-1 and appends them to the cache.
  // Returns the logits of the last token [n_vocab], or of every token [size, n_vocab] when
  // all_logits. Throws rpu::Error for an out-of-range token id or a full context.
  std::span<const float> eval(std::span<const int32_t> tokens, bool all_logits = false);

  int n_past() const { return n_past_; }
  int n_ctx() const { return cache_.capacity(); }
  // Forgets positions >= n_past (e.g. to reuse a shared prompt prefix).
  void rewind(int n_past);

 private:
  struct MatmulJob {
    const WeightMatrix* w;
    float* y;  // [n_tokens, w->view.rows]
  };
  // Y_i = X W_i^T for several matrices reading the same input, in one parallel dispatch
  // (threads split the matrices' combined rows), quantizing X once when the kernels want it.
  void matmuls(std::initializer_list<MatmulJob> jobs, const float* x, int n_tokens);
  void attention(int layer, int n_tokens);
  // Rotates the n_heads heads of token t (at position n_past + t) in place.
  void apply_rope(float* vectors, int t, int n_heads);
  // Runs fn(t) for every token of the batch, split across the pool (element-wise steps).
  void for_tokens(int n_tokens, const std::function<void(int)>& fn);

  const Model& model_;
  const ModelConfig& config_;
  ThreadPool* pool_;
  const KernelSet& kernels_;
  KVCache cache_;
  QuantizedInput xq_;
  int n_past_ = 0;

  // Scratch activations, grown to the largest batch seen.
  std::vector<float> x_, h_, q_, k_, v_, attn_, ffn_gate_, ffn_up_, logits_;
  std::vector<float> rope_inv_freq_;  // [rope_dim / 2]
};

}  // namespace rpu
