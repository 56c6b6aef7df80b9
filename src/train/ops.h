// The layers of the decoder as forward/backward pairs, for training on the CPU.
//
// Every op is templated on the scalar T: float for training, double for gradient checks
// (both are instantiated in the .cpp files; only declarations live here). Conventions:
//   - matrices are row-major; shapes are given as [rows, cols], e.g. x [n, d] is n tokens of
//     d values; a weight W [out, in] is stored as in GGUF (row o holds the inputs of output o);
//   - forward functions overwrite their outputs;
//   - backward functions ACCUMULATE (+=) into every gradient buffer they are given, so a
//     tensor used twice (a tied embedding, a residual) just receives both contributions;
//     a null gradient pointer means "not wanted" (a frozen parameter);
//   - `pool` may be null (single-threaded); results do not depend on the thread count.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/thread_pool.h"
#include "model/config.h"

namespace rpu::train {

// ---- Embedding: out[t] = table[tokens[t]]; table [n_vocab, dim], out [n, dim].
// Throws rpu::Error for a token outside 0..n_vocab-1.
template <typename T>
void embedding_forward(std::span<const int32_t> tokens, const T* table, int n_vocab, int dim, T* out);
// dtable[tokens[t]] += dout[t] (a scatter-add; repeated tokens sum).
template <typename T>
void embedding_backward(std::span<const int32_t> tokens, const T* dout, int dim, T* dtable);

// ---- RMSNorm of each row: y[r] = x[r] * inv_rms[r] * weight, inv_rms[r] = 1/sqrt(mean(x[r]^2) + eps).
// x, y [rows, dim], weight [dim]; saves inv_rms [rows] for the backward pass. The per-head q/k
// norm of qwen3 is the same op over rows = n * n_heads of dim = head_dim.
template <typename T>
void rmsnorm_forward(const T* x, const T* weight, int64_t rows, int dim, double eps, T* y, T* inv_rms);
// dx[r] += inv_rms * (weight*dy - x * inv_rms^2 * mean(weight*dy*x)); dweight += sum_r dy*x*inv_rms.
template <typename T>
void rmsnorm_backward(const T* x, const T* weight, const T* inv_rms, const T* dy, int64_t rows, int dim, T* dx,
                      T* dweight);

// ---- Linear: y = x W^T (+ b); x [n, in], W [out, in], b [out] or null, y [n, out].
template <typename T>
void linear_forward(const T* x, const T* weight, const T* bias, int64_t n, int in, int out, T* y, ThreadPool* pool);
// dx [n, in] += dy W;  dW [out, in] += dy^T x;  db [out] += column sums of dy. Each may be null.
template <typename T>
void linear_backward(const T* x, const T* weight, const T* dy, int64_t n, int in, int out, T* dx, T* dweight,
                     T* dbias, ThreadPool* pool);

// ---- LoRA adapter on a linear: y += scale * (x A^T) B^T, A [rank, in], B [out, rank].
// Saves xa = x A^T [n, rank] for the backward pass.
template <typename T>
void lora_forward(const T* x, const T* a, const T* b, double scale, int64_t n, int in, int out, int rank, T* xa,
                  T* y, ThreadPool* pool);
// dB += scale * dy^T xa;  dA += (scale * dy B)^T x;  dx += (scale * dy B) A. Each may be null.
template <typename T>
void lora_backward(const T* x, const T* a, const T* b, double scale, const T* xa, const T* dy, int64_t n, int in,
                   int out, int rank, T* dx, T* da, T* db, ThreadPool* pool);

// ---- RoPE: rotates pairs of dimensions of every head by angle position * inv_freq[i].
// Which dims pair up depends on the architecture (see RopeStyle); only the first rope_dim
// dims of each head rotate.
struct Rope {
  RopeStyle style = RopeStyle::kAdjacent;
  int head_dim = 0;
  int rope_dim = 0;
  double position_scale = 1.0;  // linear rope scaling
  double mscale = 1.0;          // rotated dims are multiplied by this (longrope's attention factor)
  std::vector<double> inv_freq;  // [rope_dim / 2]: theta^(-2i/rope_dim) / freq_factor[i]
  // mscale cos and mscale sin of each position's angles, [table_positions, rope_dim / 2, 2]
  // (from_config fills it for the first min(n_ctx_train, 4096) positions; others, or a Rope
  // built by hand, compute them per use). The same doubles either way: a lookup, not an
  // approximation; it saves a sin and a cos per (token, pair) in each of 4 calls per layer.
  std::vector<double> cos_sin;
  int table_positions = 0;

  // freq_factors: the llama3 rope_freqs tensor (or phi3's rope_factors_short) [rope_dim / 2], or empty.
  static Rope from_config(const ModelConfig& config, std::span<const float> freq_factors = {});
};
// x [n, n_heads * head_dim] rotated in place for each token's positions[t].
template <typename T>
void rope_forward(const Rope& rope, const int32_t* positions, int64_t n, int n_heads, T* x);
// dx += R(position)^T dy: the gradient of a rotation is the inverse rotation.
template <typename T>
void rope_backward(const Rope& rope, const int32_t* positions, int64_t n, int n_heads, const T* dy, T* dx);

// ---- Causal self-attention with grouped-query heads over a packed batch.
// q [n, n_head * head_dim], k/v [n, n_head_kv * head_dim], out [n, n_head * head_dim];
// query head h reads kv head h / (n_head / n_head_kv). Token t attends to tokens
// segment_start[t] .. t (its own sequence in a packed batch) with scores q.k / sqrt(head_dim).
// Scores are q.k * scale (0: 1/sqrt(head_dim)), soft-capped as softcap tanh(s / softcap)
// when softcap > 0 (gemma2). A sliding window is a later segment_start (the caller's).
struct AttentionShape {
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;
  double scale = 0.0;
  double softcap = 0.0;
};
// What the backward pass needs from the forward: the softmax probabilities of each head and
// token over its window: probs[h * window_total + window_offset[t] + (j - segment_start[t])].
template <typename T>
struct AttentionSaved {
  std::vector<int64_t> window_offset;  // [n + 1]
  int64_t window_total = 0;
  std::vector<T> probs;  // [n_head, window_total]
};
// Throws rpu::Error unless 0 <= segment_start[t] <= t and segment_start never decreases
// (sequences packed one after another).
template <typename T>
void attention_forward(const T* q, const T* k, const T* v, std::span<const int32_t> segment_start,
                       AttentionShape shape, T* out, AttentionSaved<T>& saved, ThreadPool* pool);
template <typename T>
void attention_backward(const T* q, const T* k, const T* v, std::span<const int32_t> segment_start,
                        AttentionShape shape, const AttentionSaved<T>& saved, const T* dout, T* dq, T* dk, T* dv,
                        ThreadPool* pool);

// ---- SwiGLU: out = silu(gate) * up, element-wise over `count` values.
template <typename T>
void swiglu_forward(const T* gate, const T* up, int64_t count, T* out);
template <typename T>
void swiglu_backward(const T* gate, const T* up, const T* dout, int64_t count, T* dgate, T* dup);

// ---- GeGLU (gemma): out = gelu(gate) * up, GELU in its tanh form, element-wise.
template <typename T>
void geglu_forward(const T* gate, const T* up, int64_t count, T* out);
template <typename T>
void geglu_backward(const T* gate, const T* up, const T* dout, int64_t count, T* dgate, T* dup);

// ---- Soft-capping in place: x = cap tanh(x / cap) (gemma2's final logits). The backward
// pass reads the capped values y: dx += dy (1 - (y / cap)^2).
template <typename T>
void softcap_forward(T* x, int64_t count, double cap);
template <typename T>
void softcap_backward(const T* y, const T* dy, int64_t count, double cap, T* dx);

// ---- Loss over logits [n, vocab]: the weighted mean over tokens of
//   (1 - distill_weight) * cross_entropy(softmax(logits), target)
//   + distill_weight * temperature^2 * KL(softmax(teacher / temperature) || softmax(logits / temperature)).
// Token t counts with weights[t] >= 0 (0: no loss, its target is ignored); the mean divides
// by the sum of weights (no weighted token: loss 0). The temperature^2 factor keeps the
// distillation gradient's size independent of the temperature (Hinton et al.).
struct LossOptions {
  double distill_weight = 0.0;  // 0: hard targets only (teacher logits not needed)
  double temperature = 1.0;
};
struct LossValue {
  double total = 0.0;
  double cross_entropy = 0.0;  // weighted mean, before mixing
  double distill_kl = 0.0;     // weighted mean KL at the temperature, before mixing and temperature^2
  double weight_sum = 0.0;
};
// Throws rpu::Error for a weighted target outside the vocabulary, a negative weight, bad
// options, or distillation without teacher logits.
template <typename T>
LossValue loss_forward(const T* logits, int64_t n, int vocab, std::span<const int32_t> targets,
                       std::span<const float> weights, const T* teacher_logits, const LossOptions& options,
                       ThreadPool* pool);
// dlogits [n, vocab] += dloss * d(total)/d(logits).
template <typename T>
void loss_backward(const T* logits, int64_t n, int vocab, std::span<const int32_t> targets,
                   std::span<const float> weights, const T* teacher_logits, const LossOptions& options, double dloss,
                   T* dlogits, ThreadPool* pool);

}  // namespace rpu::train
