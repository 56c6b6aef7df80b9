#include "train/decoder.h"

#include <fmt/format.h>

#include "core/error.h"

namespace rpu::train {

// One linear of a layer: y = x W^T (+ b) (+ scale (x A^T) B^T). W [out, in].
template <typename T>
struct Decoder<T>::Linear {
  const ParamTensor<T>* weight = nullptr;
  const ParamTensor<T>* bias = nullptr;    // null when absent
  const ParamTensor<T>* lora_a = nullptr;  // [rank, in]; null without an adapter
  const ParamTensor<T>* lora_b = nullptr;  // [out, rank]
  int in = 0, out = 0;
};

// What one layer's backward pass needs from its forward pass. n = tokens, d = n_embd.
template <typename T>
struct Decoder<T>::LayerActivations {
  std::vector<T> x_in;                        // [n, d] residual stream entering the layer
  std::vector<T> attn_inv_rms, h_attn;        // [n], [n, d] attention-norm output
  std::vector<T> q_raw, k_raw;                // [n, q_dim], [n, kv_dim] before the q/k norm (qwen3)
  std::vector<T> q_inv_rms, k_inv_rms;        // [n * n_head], [n * n_head_kv]
  std::vector<T> q, k, v;                     // after norm and RoPE: attention's inputs
  AttentionSaved<T> attention;                // softmax probabilities
  std::vector<T> attn;                        // [n, q_dim] attention output
  std::vector<T> x_mid;                       // [n, d] after the attention residual
  std::vector<T> ffn_inv_rms, h_ffn;          // [n], [n, d]
  std::vector<T> gate, up, act;               // [n, n_ff]; act = silu(gate) * up
  // LoRA x A^T [n, rank] of each adapted linear.
  std::vector<T> lora_q, lora_k, lora_v, lora_o, lora_gate, lora_up, lora_down;
};

namespace {

// The gradient buffer of a parameter, or null when it is absent or frozen.
template <typename T>
T* grad_of(DecoderParams<T>& grads, const ParamTensor<T>* param) {
  if (param == nullptr) return nullptr;
  ParamTensor<T>* g = grads.find(param->name);
  if (g == nullptr || g->values.empty()) return nullptr;
  if (g->size() != param->size()) fail("gradient '{}' has {} values, the parameter {}", g->name, g->size(), param->size());
  return g->values.data();
}

template <typename T>
void zeros(std::vector<T>& v, int64_t size) {
  v.assign(static_cast<size_t>(size), T(0));
}

}  // namespace

template <typename T>
Decoder<T>::Decoder(const DecoderParams<T>& params, ThreadPool* pool)
    : params_(params), config_(params.config()), pool_(pool) {
  std::span<const float> freq_factors;
  std::vector<float> factors;
  if (const ParamTensor<T>* f = params.find("rope_freqs.weight")) {
    factors.assign(f->values.begin(), f->values.end());
    freq_factors = factors;
  }
  rope_ = Rope::from_config(config_, freq_factors);
  layers_.resize(static_cast<size_t>(config_.n_layer));
}

template <typename T>
Decoder<T>::~Decoder() = default;

template <typename T>
typename Decoder<T>::Linear Decoder<T>::linear(const std::string& module, int layer) const {
  const std::string base = fmt::format("blk.{}.{}", layer, module);
  Linear l;
  l.weight = &params_.get(base + ".weight");
  l.bias = params_.find(base + ".bias");
  l.lora_a = params_.find(base + ".weight.lora_a");
  l.lora_b = params_.find(base + ".weight.lora_b");
  l.in = static_cast<int>(l.weight->cols);
  l.out = static_cast<int>(l.weight->rows);
  return l;
}

template <typename T>
void Decoder<T>::linear_forward(const Linear& l, const std::vector<T>& x, std::vector<T>& y, std::vector<T>& lora_xa) {
  y.resize(static_cast<size_t>(n_ * l.out));
  train::linear_forward(x.data(), l.weight->values.data(), l.bias ? l.bias->values.data() : nullptr, n_, l.in, l.out,
                        y.data(), pool_);
  if (l.lora_a != nullptr) {
    const int rank = static_cast<int>(l.lora_a->rows);
    lora_xa.resize(static_cast<size_t>(n_ * rank));
    lora_forward(x.data(), l.lora_a->values.data(), l.lora_b->values.data(), params_.lora_scale(), n_, l.in, l.out, rank,
                 lora_xa.data(), y.data(), pool_);
  }
}

template <typename T>
void Decoder<T>::linear_backward(const Linear& l, DecoderParams<T>& grads, const std::vector<T>& x,
                                 const std::vector<T>& lora_xa, const std::vector<T>& dy, std::vector<T>& dx) {
  train::linear_backward(x.data(), l.weight->values.data(), dy.data(), n_, l.in, l.out, dx.data(),
                         grad_of(grads, l.weight), grad_of(grads, l.bias), pool_);
  if (l.lora_a != nullptr) {
    lora_backward(x.data(), l.lora_a->values.data(), l.lora_b->values.data(), params_.lora_scale(), lora_xa.data(),
                  dy.data(), n_, l.in, l.out, static_cast<int>(l.lora_a->rows), dx.data(), grad_of(grads, l.lora_a),
                  grad_of(grads, l.lora_b), pool_);
  }
}

template <typename T>
void Decoder<T>::layer_forward(int layer, const std::vector<T>& x_in, std::vector<T>& x_out) {
  const ModelConfig& c = config_;
  LayerActivations& a = layers_[static_cast<size_t>(layer)];
  const std::string p = fmt::format("blk.{}.", layer);
  const int d = c.n_embd;
  const double eps = c.rms_eps;

  a.attn_inv_rms.resize(static_cast<size_t>(n_));
  a.h_attn.resize(x_in.size());
  rmsnorm_forward(x_in.data(), params_.get(p + "attn_norm.weight").values.data(), n_, d, eps, a.h_attn.data(),
                  a.attn_inv_rms.data());
  linear_forward(linear("attn_q", layer), a.h_attn, a.q, a.lora_q);
  linear_forward(linear("attn_k", layer), a.h_attn, a.k, a.lora_k);
  linear_forward(linear("attn_v", layer), a.h_attn, a.v, a.lora_v);
  if (const ParamTensor<T>* q_norm = params_.find(p + "attn_q_norm.weight")) {
    a.q_raw = a.q;
    a.q_inv_rms.resize(static_cast<size_t>(n_ * c.n_head));
    rmsnorm_forward(a.q_raw.data(), q_norm->values.data(), n_ * c.n_head, c.head_dim, eps, a.q.data(), a.q_inv_rms.data());
  }
  if (const ParamTensor<T>* k_norm = params_.find(p + "attn_k_norm.weight")) {
    a.k_raw = a.k;
    a.k_inv_rms.resize(static_cast<size_t>(n_ * c.n_head_kv));
    rmsnorm_forward(a.k_raw.data(), k_norm->values.data(), n_ * c.n_head_kv, c.head_dim, eps, a.k.data(),
                    a.k_inv_rms.data());
  }
  rope_forward(rope_, positions_.data(), n_, c.n_head, a.q.data());
  rope_forward(rope_, positions_.data(), n_, c.n_head_kv, a.k.data());
  a.attn.resize(static_cast<size_t>(n_ * c.q_dim()));
  attention_forward(a.q.data(), a.k.data(), a.v.data(), segment_start_, {c.n_head, c.n_head_kv, c.head_dim},
                    a.attn.data(), a.attention, pool_);

  std::vector<T> residual;  // a projection's output before it joins the residual stream
  linear_forward(linear("attn_output", layer), a.attn, residual, a.lora_o);
  a.x_mid.resize(x_in.size());
  for (size_t i = 0; i < x_in.size(); ++i) a.x_mid[i] = x_in[i] + residual[i];

  a.ffn_inv_rms.resize(static_cast<size_t>(n_));
  a.h_ffn.resize(x_in.size());
  rmsnorm_forward(a.x_mid.data(), params_.get(p + "ffn_norm.weight").values.data(), n_, d, eps, a.h_ffn.data(),
                  a.ffn_inv_rms.data());
  linear_forward(linear("ffn_gate", layer), a.h_ffn, a.gate, a.lora_gate);
  linear_forward(linear("ffn_up", layer), a.h_ffn, a.up, a.lora_up);
  a.act.resize(a.gate.size());
  swiglu_forward(a.gate.data(), a.up.data(), static_cast<int64_t>(a.gate.size()), a.act.data());
  linear_forward(linear("ffn_down", layer), a.act, residual, a.lora_down);
  x_out.resize(x_in.size());
  for (size_t i = 0; i < x_in.size(); ++i) x_out[i] = a.x_mid[i] + residual[i];
}

template <typename T>
LossValue Decoder<T>::forward(const TrainBatch& batch, const LossOptions& options, const T* teacher_logits) {
  const ModelConfig& c = config_;
  n_ = 0;  // until this pass completes, there is nothing to go backward through
  const size_t n = batch.tokens.size();
  if (n == 0) fail("cannot train on an empty batch");
  if (batch.positions.size() != n || batch.segment_start.size() != n || batch.targets.size() != n ||
      batch.weights.size() != n) {
    fail("batch of {} tokens has {} positions, {} segment starts, {} targets and {} weights", n,
         batch.positions.size(), batch.segment_start.size(), batch.targets.size(), batch.weights.size());
  }
  for (size_t t = 0; t < n; ++t) {
    if (batch.positions[t] < 0) fail("token {} has negative position {}", t, batch.positions[t]);
  }
  tokens_.assign(batch.tokens.begin(), batch.tokens.end());
  positions_.assign(batch.positions.begin(), batch.positions.end());
  segment_start_.assign(batch.segment_start.begin(), batch.segment_start.end());
  targets_.assign(batch.targets.begin(), batch.targets.end());
  weights_.assign(batch.weights.begin(), batch.weights.end());
  loss_options_ = options;
  teacher_logits_ = teacher_logits;
  const int64_t count = static_cast<int64_t>(n);
  n_ = count;  // the layers read the token count from n_

  try {
    LayerActivations& first = layers_.front();
    first.x_in.resize(n * c.n_embd);
    embedding_forward<T>(tokens_, params_.get("token_embd.weight").values.data(), c.n_vocab, c.n_embd,
                         first.x_in.data());
    for (int l = 0; l < c.n_layer; ++l) {
      std::vector<T>& x_out = l + 1 < c.n_layer ? layers_[static_cast<size_t>(l) + 1].x_in : x_final_;
      layer_forward(l, layers_[static_cast<size_t>(l)].x_in, x_out);
    }
    final_inv_rms_.resize(n);
    h_final_.resize(x_final_.size());
    rmsnorm_forward(x_final_.data(), params_.get("output_norm.weight").values.data(), count, c.n_embd, c.rms_eps,
                    h_final_.data(), final_inv_rms_.data());
    const ParamTensor<T>* head = params_.tied_output() ? &params_.get("token_embd.weight") : &params_.get("output.weight");
    logits_.resize(n * c.n_vocab);
    train::linear_forward(h_final_.data(), head->values.data(), static_cast<const T*>(nullptr), count, c.n_embd,
                          c.n_vocab, logits_.data(), pool_);
    return loss_forward(logits_.data(), count, c.n_vocab, targets_, weights_, teacher_logits_, loss_options_, pool_);
  } catch (...) {
    n_ = 0;
    throw;
  }
}

template <typename T>
void Decoder<T>::layer_backward(int layer, DecoderParams<T>& grads, std::vector<T>& dx) {
  const ModelConfig& c = config_;
  LayerActivations& a = layers_[static_cast<size_t>(layer)];
  const std::string p = fmt::format("blk.{}.", layer);
  const int d = c.n_embd;

  // x_out = x_mid + down(silu(gate(h_ffn)) * up(h_ffn)), h_ffn = rmsnorm(x_mid)
  std::vector<T> d_act, d_gate, d_up, d_h;
  zeros(d_act, n_ * c.n_ff);
  linear_backward(linear("ffn_down", layer), grads, a.act, a.lora_down, dx, d_act);
  zeros(d_gate, n_ * c.n_ff);
  zeros(d_up, n_ * c.n_ff);
  swiglu_backward(a.gate.data(), a.up.data(), d_act.data(), n_ * c.n_ff, d_gate.data(), d_up.data());
  zeros(d_h, n_ * d);
  linear_backward(linear("ffn_gate", layer), grads, a.h_ffn, a.lora_gate, d_gate, d_h);
  linear_backward(linear("ffn_up", layer), grads, a.h_ffn, a.lora_up, d_up, d_h);
  const ParamTensor<T>& ffn_norm = params_.get(p + "ffn_norm.weight");
  rmsnorm_backward(a.x_mid.data(), ffn_norm.values.data(), a.ffn_inv_rms.data(), d_h.data(), n_, d, dx.data(),
                   grad_of(grads, &ffn_norm));  // dx: now the gradient at x_mid

  // x_mid = x_in + o(attention(rope(norm(q(h))), rope(norm(k(h))), v(h))), h = rmsnorm(x_in)
  std::vector<T> d_attn, dq, dk, dv;
  zeros(d_attn, n_ * c.q_dim());
  linear_backward(linear("attn_output", layer), grads, a.attn, a.lora_o, dx, d_attn);
  zeros(dq, n_ * c.q_dim());
  zeros(dk, n_ * c.kv_dim());
  zeros(dv, n_ * c.kv_dim());
  attention_backward(a.q.data(), a.k.data(), a.v.data(), segment_start_, {c.n_head, c.n_head_kv, c.head_dim},
                     a.attention, d_attn.data(), dq.data(), dk.data(), dv.data(), pool_);
  std::vector<T> dq_pre, dk_pre;  // before RoPE
  zeros(dq_pre, n_ * c.q_dim());
  zeros(dk_pre, n_ * c.kv_dim());
  rope_backward(rope_, positions_.data(), n_, c.n_head, dq.data(), dq_pre.data());
  rope_backward(rope_, positions_.data(), n_, c.n_head_kv, dk.data(), dk_pre.data());
  if (const ParamTensor<T>* q_norm = params_.find(p + "attn_q_norm.weight")) {
    zeros(dq, n_ * c.q_dim());
    rmsnorm_backward(a.q_raw.data(), q_norm->values.data(), a.q_inv_rms.data(), dq_pre.data(), n_ * c.n_head,
                     c.head_dim, dq.data(), grad_of(grads, q_norm));
    dq_pre.swap(dq);
  }
  if (const ParamTensor<T>* k_norm = params_.find(p + "attn_k_norm.weight")) {
    zeros(dk, n_ * c.kv_dim());
    rmsnorm_backward(a.k_raw.data(), k_norm->values.data(), a.k_inv_rms.data(), dk_pre.data(), n_ * c.n_head_kv,
                     c.head_dim, dk.data(), grad_of(grads, k_norm));
    dk_pre.swap(dk);
  }
  zeros(d_h, n_ * d);
  linear_backward(linear("attn_q", layer), grads, a.h_attn, a.lora_q, dq_pre, d_h);
  linear_backward(linear("attn_k", layer), grads, a.h_attn, a.lora_k, dk_pre, d_h);
  linear_backward(linear("attn_v", layer), grads, a.h_attn, a.lora_v, dv, d_h);
  const ParamTensor<T>& attn_norm = params_.get(p + "attn_norm.weight");
  rmsnorm_backward(a.x_in.data(), attn_norm.values.data(), a.attn_inv_rms.data(), d_h.data(), n_, d, dx.data(),
                   grad_of(grads, &attn_norm));  // dx: now the gradient at x_in
}

template <typename T>
void Decoder<T>::backward(DecoderParams<T>& grads) {
  const ModelConfig& c = config_;
  if (n_ == 0) fail("backward() needs a successful forward() first");
  std::vector<T> d_logits, d_h, dx;
  zeros(d_logits, n_ * c.n_vocab);
  loss_backward(logits_.data(), n_, c.n_vocab, targets_, weights_, teacher_logits_, loss_options_, 1.0,
                d_logits.data(), pool_);
  const ParamTensor<T>* head = params_.tied_output() ? &params_.get("token_embd.weight") : &params_.get("output.weight");
  zeros(d_h, n_ * c.n_embd);
  train::linear_backward(h_final_.data(), head->values.data(), d_logits.data(), n_, c.n_embd, c.n_vocab, d_h.data(),
                         grad_of(grads, head), static_cast<T*>(nullptr), pool_);
  const ParamTensor<T>& output_norm = params_.get("output_norm.weight");
  zeros(dx, n_ * c.n_embd);
  rmsnorm_backward(x_final_.data(), output_norm.values.data(), final_inv_rms_.data(), d_h.data(), n_, c.n_embd,
                   dx.data(), grad_of(grads, &output_norm));
  for (int l = c.n_layer - 1; l >= 0; --l) layer_backward(l, grads, dx);
  if (T* d_embd = grad_of(grads, &params_.get("token_embd.weight"))) {
    embedding_backward<T>(tokens_, dx.data(), c.n_embd, d_embd);
  }
}

template class Decoder<float>;
template class Decoder<double>;

}  // namespace rpu::train
