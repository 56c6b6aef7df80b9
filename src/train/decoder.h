// The decoder's training forward and backward passes over a packed batch: the same model
// the inference engine runs (model/forward.h), in T = float (training) or double (gradient
// checks), keeping the activations the backward pass needs.
//
//   x = embed(tokens) (* sqrt(n_embd): gemma)                     [n, n_embd]
//   per layer:
//     h = rmsnorm(x) * attn_norm
//     q, k, v = h Wq^T (+bq), h Wk^T (+bk), h Wv^T (+bv)   (+ LoRA terms; phi3: one fused Wqkv)
//     (qwen3, gemma3) q, k = per-head rmsnorm * q_norm, k_norm
//     q, k = rope(q, k, positions), except in smollm3's no-RoPE layers; local layers' own base
//     o = attention(q, k, v; causal within each token's segment, and the window in local
//         layers; scores soft-capped in gemma2) Wo^T;  (gemma) o = rmsnorm(o) * post_attention_norm
//     x += o
//     h = rmsnorm(x) * ffn_norm
//     o = (act(h Wgate^T) * h Wup^T) Wdown^T, act = silu (gelu: gemma; phi3: fused gate|up)
//     (gemma) o = rmsnorm(o) * post_ffw_norm;  x += o
//   logits = (rmsnorm(x) * output_norm) Wout^T   (Wout = token_embd when tied)  [n, n_vocab]
//     (gemma2) logits = cap tanh(logits / cap)
//   loss = weighted mean cross-entropy (+ distillation), train/ops.h loss_forward
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/thread_pool.h"
#include "train/decoder_params.h"
#include "train/ops.h"

namespace rpu::train {

// Several sequences packed into one row of n tokens. Every span has n entries.
struct TrainBatch {
  std::span<const int32_t> tokens;
  std::span<const int32_t> positions;      // RoPE position of each token within its sequence
  std::span<const int32_t> segment_start;  // index of the first token of each token's sequence
  std::span<const int32_t> targets;        // the token to predict at each position
  std::span<const float> weights;          // loss weight of each token (0: no loss)
};

template <typename T>
class Decoder {
 public:
  // `params` (and `pool`, may be null) must outlive the decoder; their values may change
  // between steps (an optimizer updating them in place).
  explicit Decoder(const DecoderParams<T>& params, ThreadPool* pool = nullptr);
  ~Decoder();  // defined where the activations' type is complete
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // Runs the model over the batch and keeps its activations for backward(). teacher_logits
  // [n, n_vocab] are needed when options.distill_weight > 0 and must stay valid until
  // backward(). Throws rpu::Error for an inconsistent batch (sizes, token ids, segments).
  LossValue forward(const TrainBatch& batch, const LossOptions& options = {}, const T* teacher_logits = nullptr);

  // Accumulates d(loss)/d(parameter), for the last forward(), into `grads` (made by
  // params.zeros_like(); frozen tensors have no storage and get nothing).
  void backward(DecoderParams<T>& grads);

  std::span<const T> logits() const { return logits_; }  // [n, n_vocab] of the last forward()
  int64_t n_tokens() const { return n_; }

 private:
  struct Linear;
  struct LayerActivations;
  Linear linear(const std::string& module, int layer) const;
  void linear_forward(const Linear& l, const std::vector<T>& x, std::vector<T>& y, std::vector<T>& lora_xa);
  void linear_backward(const Linear& l, DecoderParams<T>& grads, const std::vector<T>& x,
                       const std::vector<T>& lora_xa, const std::vector<T>& dy, std::vector<T>& dx);
  void layer_forward(int layer, const std::vector<T>& x_in, std::vector<T>& x_out);
  // dx [n, n_embd]: the gradient at the layer's output on entry, at its input on return.
  void layer_backward(int layer, DecoderParams<T>& grads, std::vector<T>& dx);
  // q, k, v from h_attn (three linears, or phi3's fused one split), and their gradients back
  // into d_h [n, n_embd] (overwritten).
  void qkv_forward(int layer, LayerActivations& a);
  void qkv_backward(int layer, DecoderParams<T>& grads, const std::vector<T>& dq, const std::vector<T>& dk,
                    const std::vector<T>& dv, std::vector<T>& d_h);
  // The feed-forward's backward from its output's gradient to d_h [n, n_embd] (overwritten).
  void ffn_backward(int layer, DecoderParams<T>& grads, const std::vector<T>& d_out, std::vector<T>& d_h);
  // A block output's RMSNorm `name` (gemma's post-norms), when the model has it: out is
  // normed in place, its input kept in `saved`; the backward maps dy back through it.
  void post_norm_forward(const std::string& name, std::vector<T>& out, std::vector<T>& saved, std::vector<T>& inv_rms);
  void post_norm_backward(const std::string& name, DecoderParams<T>& grads, const std::vector<T>& saved,
                          const std::vector<T>& inv_rms, std::vector<T>& dy);
  AttentionShape attention_shape() const;
  // Each token's first visible position in this layer: its segment's start, or later in a
  // sliding-window layer.
  std::span<const int32_t> attention_starts(int layer);

  const DecoderParams<T>& params_;
  const ModelConfig& config_;
  ThreadPool* pool_;
  Rope rope_, rope_local_;  // local: sliding-window layers
  std::vector<int32_t> window_start_;

  // The last forward's batch and everything backward() needs from it.
  int64_t n_ = 0;
  std::vector<int32_t> tokens_, positions_, segment_start_, targets_;
  std::vector<float> weights_;
  LossOptions loss_options_;
  const T* teacher_logits_ = nullptr;
  std::vector<LayerActivations> layers_;
  std::vector<T> x_final_, final_inv_rms_, h_final_, logits_;
  // Working buffers of the passes ([n, n_embd] .. [n, n_vocab], megabytes each), kept across
  // layers and steps: fresh vectors per layer were reallocated and page-faulted in every time.
  struct Scratch {
    std::vector<T> residual, d_block, d_h, d_act, d_gate, d_up, d_attn, dq, dk, dv, dq_pre, dk_pre, d_logits, dx;
  };
  Scratch scratch_;
};

}  // namespace rpu::train
