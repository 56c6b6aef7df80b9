#include "train/decoder.h"

#include <algorithm>
#include <string>

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
  std::vector<T> gate, up, act;               // [n, n_ff]; act = silu(gate) * up (gelu: gemma)
  // Post-block norms (gemma): each block's output before its norm [n, d], and 1/rms [n].
  std::vector<T> attn_out, attn_post_inv_rms, ffn_out, ffn_post_inv_rms;
  // LoRA x A^T [n, rank] of each adapted linear (lora_q: phi3's fused qkv, lora_up: its gate_up).
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
  // llama3's factors, or phi3's short longrope factors: training sequences are taken to be
  // within the original context (beyond it the engine switches to the long ones).
  std::vector<float> factors;
  for (const char* name : {"rope_freqs.weight", "rope_factors_short.weight"}) {
    if (const ParamTensor<T>* f = params.find(name)) factors.assign(f->values.begin(), f->values.end());
  }
  rope_ = Rope::from_config(config_, factors);
  ModelConfig local = config_;  // sliding-window layers' rotation (gemma3: own base, unscaled)
  local.rope_theta = config_.rope_theta_swa;
  local.rope_position_scale = config_.rope_position_scale_swa;
  rope_local_ = Rope::from_config(local, factors);
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
void Decoder<T>::qkv_forward(int layer, LayerActivations& a) {
  const ModelConfig& c = config_;
  if (c.arch->fused_qkv) {
    // One [n, q_dim + 2 kv_dim] projection, split per token into q, k, v.
    std::vector<T> qkv;
    linear_forward(linear("attn_qkv", layer), a.h_attn, qkv, a.lora_q);
    const size_t qd = static_cast<size_t>(c.q_dim()), kd = static_cast<size_t>(c.kv_dim()), row = qd + 2 * kd;
    a.q.resize(static_cast<size_t>(n_) * qd);
    a.k.resize(static_cast<size_t>(n_) * kd);
    a.v.resize(static_cast<size_t>(n_) * kd);
    for (size_t t = 0; t < static_cast<size_t>(n_); ++t) {
      std::copy_n(qkv.begin() + static_cast<long>(t * row), qd, a.q.begin() + static_cast<long>(t * qd));
      std::copy_n(qkv.begin() + static_cast<long>(t * row + qd), kd, a.k.begin() + static_cast<long>(t * kd));
      std::copy_n(qkv.begin() + static_cast<long>(t * row + qd + kd), kd, a.v.begin() + static_cast<long>(t * kd));
    }
  } else {
    linear_forward(linear("attn_q", layer), a.h_attn, a.q, a.lora_q);
    linear_forward(linear("attn_k", layer), a.h_attn, a.k, a.lora_k);
    linear_forward(linear("attn_v", layer), a.h_attn, a.v, a.lora_v);
  }
}

template <typename T>
void Decoder<T>::post_norm_forward(const std::string& name, std::vector<T>& out, std::vector<T>& saved,
                                   std::vector<T>& inv_rms) {
  const ParamTensor<T>* w = params_.find(name);
  if (w == nullptr) return;
  saved = out;
  inv_rms.resize(static_cast<size_t>(n_));
  rmsnorm_forward(saved.data(), w->values.data(), n_, config_.n_embd, config_.rms_eps, out.data(), inv_rms.data());
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
  qkv_forward(layer, a);
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
  if (c.has_rope(layer)) {
    const Rope& rope = c.is_swa(layer) ? rope_local_ : rope_;
    rope_forward(rope, positions_.data(), n_, c.n_head, a.q.data());
    rope_forward(rope, positions_.data(), n_, c.n_head_kv, a.k.data());
  }
  a.attn.resize(static_cast<size_t>(n_ * c.q_dim()));
  attention_forward(a.q.data(), a.k.data(), a.v.data(), attention_starts(layer), attention_shape(), a.attn.data(),
                    a.attention, pool_);

  std::vector<T>& residual = scratch_.residual;  // a projection's output before it joins the residual stream
  linear_forward(linear("attn_output", layer), a.attn, residual, a.lora_o);
  post_norm_forward(p + "post_attention_norm.weight", residual, a.attn_out, a.attn_post_inv_rms);
  a.x_mid.resize(x_in.size());
  for (size_t i = 0; i < x_in.size(); ++i) a.x_mid[i] = x_in[i] + residual[i];

  a.ffn_inv_rms.resize(static_cast<size_t>(n_));
  a.h_ffn.resize(x_in.size());
  rmsnorm_forward(a.x_mid.data(), params_.get(p + "ffn_norm.weight").values.data(), n_, d, eps, a.h_ffn.data(),
                  a.ffn_inv_rms.data());
  if (c.arch->fused_gate_up) {
    std::vector<T> gate_up;  // [n, 2 n_ff]: gate | up per token
    linear_forward(linear("ffn_up", layer), a.h_ffn, gate_up, a.lora_up);
    const size_t ff = static_cast<size_t>(c.n_ff);
    a.gate.resize(static_cast<size_t>(n_) * ff);
    a.up.resize(static_cast<size_t>(n_) * ff);
    for (size_t t = 0; t < static_cast<size_t>(n_); ++t) {
      std::copy_n(gate_up.begin() + static_cast<long>(2 * t * ff), ff, a.gate.begin() + static_cast<long>(t * ff));
      std::copy_n(gate_up.begin() + static_cast<long>((2 * t + 1) * ff), ff, a.up.begin() + static_cast<long>(t * ff));
    }
  } else {
    linear_forward(linear("ffn_gate", layer), a.h_ffn, a.gate, a.lora_gate);
    linear_forward(linear("ffn_up", layer), a.h_ffn, a.up, a.lora_up);
  }
  a.act.resize(a.gate.size());
  if (c.arch->ffn == FfnKind::kGeGlu) {
    geglu_forward(a.gate.data(), a.up.data(), static_cast<int64_t>(a.gate.size()), a.act.data());
  } else {
    swiglu_forward(a.gate.data(), a.up.data(), static_cast<int64_t>(a.gate.size()), a.act.data());
  }
  linear_forward(linear("ffn_down", layer), a.act, residual, a.lora_down);
  post_norm_forward(p + "post_ffw_norm.weight", residual, a.ffn_out, a.ffn_post_inv_rms);
  x_out.resize(x_in.size());
  for (size_t i = 0; i < x_in.size(); ++i) x_out[i] = a.x_mid[i] + residual[i];
}

template <typename T>
AttentionShape Decoder<T>::attention_shape() const {
  return {config_.n_head, config_.n_head_kv, config_.head_dim, config_.attn_scale(), config_.attn_softcap};
}

template <typename T>
std::span<const int32_t> Decoder<T>::attention_starts(int layer) {
  if (!config_.is_swa(layer)) return segment_start_;
  // A local layer's token t sees its sequence's last `window` positions only.
  window_start_.resize(segment_start_.size());
  for (size_t t = 0; t < segment_start_.size(); ++t) {
    window_start_[t] = std::max<int32_t>(segment_start_[t], static_cast<int32_t>(t) - config_.sliding_window + 1);
  }
  return window_start_;
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
    for (T& v : first.x_in) v *= static_cast<T>(c.embed_scale);
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
    if (c.final_softcap > 0) softcap_forward(logits_.data(), static_cast<int64_t>(logits_.size()), c.final_softcap);
    return loss_forward(logits_.data(), count, c.n_vocab, targets_, weights_, teacher_logits_, loss_options_, pool_);
  } catch (...) {
    n_ = 0;
    throw;
  }
}

// dy: the gradient at a post-normed block output on entry, at the block's raw output on return.
template <typename T>
void Decoder<T>::post_norm_backward(const std::string& name, DecoderParams<T>& grads, const std::vector<T>& saved,
                                    const std::vector<T>& inv_rms, std::vector<T>& dy) {
  const ParamTensor<T>* w = params_.find(name);
  if (w == nullptr) return;
  std::vector<T> d_raw;
  zeros(d_raw, n_ * config_.n_embd);
  rmsnorm_backward(saved.data(), w->values.data(), inv_rms.data(), dy.data(), n_, config_.n_embd, d_raw.data(),
                   grad_of(grads, w));
  dy.swap(d_raw);
}

template <typename T>
void Decoder<T>::ffn_backward(int layer, DecoderParams<T>& grads, const std::vector<T>& d_out, std::vector<T>& d_h) {
  const ModelConfig& c = config_;
  LayerActivations& a = layers_[static_cast<size_t>(layer)];
  std::vector<T>&d_act = scratch_.d_act, &d_gate = scratch_.d_gate, &d_up = scratch_.d_up;
  zeros(d_act, n_ * c.n_ff);
  linear_backward(linear("ffn_down", layer), grads, a.act, a.lora_down, d_out, d_act);
  zeros(d_gate, n_ * c.n_ff);
  zeros(d_up, n_ * c.n_ff);
  if (c.arch->ffn == FfnKind::kGeGlu) {
    geglu_backward(a.gate.data(), a.up.data(), d_act.data(), n_ * c.n_ff, d_gate.data(), d_up.data());
  } else {
    swiglu_backward(a.gate.data(), a.up.data(), d_act.data(), n_ * c.n_ff, d_gate.data(), d_up.data());
  }
  zeros(d_h, n_ * c.n_embd);
  if (c.arch->fused_gate_up) {
    const size_t ff = static_cast<size_t>(c.n_ff);
    std::vector<T> gate_up(static_cast<size_t>(n_) * 2 * ff), d_gate_up(gate_up.size());
    for (size_t t = 0; t < static_cast<size_t>(n_); ++t) {
      std::copy_n(a.gate.begin() + static_cast<long>(t * ff), ff, gate_up.begin() + static_cast<long>(2 * t * ff));
      std::copy_n(a.up.begin() + static_cast<long>(t * ff), ff, gate_up.begin() + static_cast<long>((2 * t + 1) * ff));
      std::copy_n(d_gate.begin() + static_cast<long>(t * ff), ff, d_gate_up.begin() + static_cast<long>(2 * t * ff));
      std::copy_n(d_up.begin() + static_cast<long>(t * ff), ff, d_gate_up.begin() + static_cast<long>((2 * t + 1) * ff));
    }
    linear_backward(linear("ffn_up", layer), grads, a.h_ffn, a.lora_up, d_gate_up, d_h);
  } else {
    linear_backward(linear("ffn_gate", layer), grads, a.h_ffn, a.lora_gate, d_gate, d_h);
    linear_backward(linear("ffn_up", layer), grads, a.h_ffn, a.lora_up, d_up, d_h);
  }
}

template <typename T>
void Decoder<T>::qkv_backward(int layer, DecoderParams<T>& grads, const std::vector<T>& dq, const std::vector<T>& dk,
                              const std::vector<T>& dv, std::vector<T>& d_h) {
  const ModelConfig& c = config_;
  LayerActivations& a = layers_[static_cast<size_t>(layer)];
  zeros(d_h, n_ * c.n_embd);
  if (!c.arch->fused_qkv) {
    linear_backward(linear("attn_q", layer), grads, a.h_attn, a.lora_q, dq, d_h);
    linear_backward(linear("attn_k", layer), grads, a.h_attn, a.lora_k, dk, d_h);
    linear_backward(linear("attn_v", layer), grads, a.h_attn, a.lora_v, dv, d_h);
    return;
  }
  const size_t qd = static_cast<size_t>(c.q_dim()), kd = static_cast<size_t>(c.kv_dim()), row = qd + 2 * kd;
  std::vector<T> d_qkv(static_cast<size_t>(n_) * row);
  for (size_t t = 0; t < static_cast<size_t>(n_); ++t) {
    std::copy_n(dq.begin() + static_cast<long>(t * qd), qd, d_qkv.begin() + static_cast<long>(t * row));
    std::copy_n(dk.begin() + static_cast<long>(t * kd), kd, d_qkv.begin() + static_cast<long>(t * row + qd));
    std::copy_n(dv.begin() + static_cast<long>(t * kd), kd, d_qkv.begin() + static_cast<long>(t * row + qd + kd));
  }
  linear_backward(linear("attn_qkv", layer), grads, a.h_attn, a.lora_q, d_qkv, d_h);
}

template <typename T>
void Decoder<T>::layer_backward(int layer, DecoderParams<T>& grads, std::vector<T>& dx) {
  const ModelConfig& c = config_;
  LayerActivations& a = layers_[static_cast<size_t>(layer)];
  const std::string p = fmt::format("blk.{}.", layer);
  const int d = c.n_embd;

  // x_out = x_mid + post_norm(down(act(gate(h_ffn)) * up(h_ffn))), h_ffn = rmsnorm(x_mid)
  std::vector<T>&d_block = scratch_.d_block, &d_h = scratch_.d_h;
  d_block = dx;
  post_norm_backward(p + "post_ffw_norm.weight", grads, a.ffn_out, a.ffn_post_inv_rms, d_block);
  ffn_backward(layer, grads, d_block, d_h);
  const ParamTensor<T>& ffn_norm = params_.get(p + "ffn_norm.weight");
  rmsnorm_backward(a.x_mid.data(), ffn_norm.values.data(), a.ffn_inv_rms.data(), d_h.data(), n_, d, dx.data(),
                   grad_of(grads, &ffn_norm));  // dx: now the gradient at x_mid

  // x_mid = x_in + post_norm(o(attention(rope(norm(q(h))), rope(norm(k(h))), v(h)))), h = rmsnorm(x_in)
  d_block = dx;
  post_norm_backward(p + "post_attention_norm.weight", grads, a.attn_out, a.attn_post_inv_rms, d_block);
  std::vector<T>&d_attn = scratch_.d_attn, &dq = scratch_.dq, &dk = scratch_.dk, &dv = scratch_.dv;
  zeros(d_attn, n_ * c.q_dim());
  linear_backward(linear("attn_output", layer), grads, a.attn, a.lora_o, d_block, d_attn);
  zeros(dq, n_ * c.q_dim());
  zeros(dk, n_ * c.kv_dim());
  zeros(dv, n_ * c.kv_dim());
  attention_backward(a.q.data(), a.k.data(), a.v.data(), attention_starts(layer), attention_shape(), a.attention,
                     d_attn.data(), dq.data(), dk.data(), dv.data(), pool_);
  std::vector<T>&dq_pre = scratch_.dq_pre, &dk_pre = scratch_.dk_pre;  // before RoPE
  if (c.has_rope(layer)) {
    const Rope& rope = c.is_swa(layer) ? rope_local_ : rope_;
    zeros(dq_pre, n_ * c.q_dim());
    zeros(dk_pre, n_ * c.kv_dim());
    rope_backward(rope, positions_.data(), n_, c.n_head, dq.data(), dq_pre.data());
    rope_backward(rope, positions_.data(), n_, c.n_head_kv, dk.data(), dk_pre.data());
  } else {
    dq_pre = dq;
    dk_pre = dk;
  }
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
  qkv_backward(layer, grads, dq_pre, dk_pre, dv, d_h);
  const ParamTensor<T>& attn_norm = params_.get(p + "attn_norm.weight");
  rmsnorm_backward(a.x_in.data(), attn_norm.values.data(), a.attn_inv_rms.data(), d_h.data(), n_, d, dx.data(),
                   grad_of(grads, &attn_norm));  // dx: now the gradient at x_in
}

template <typename T>
void Decoder<T>::backward(DecoderParams<T>& grads) {
  const ModelConfig& c = config_;
  if (n_ == 0) fail("backward() needs a successful forward() first");
  std::vector<T>&d_logits = scratch_.d_logits, &d_h = scratch_.d_h, &dx = scratch_.dx;
  zeros(d_logits, n_ * c.n_vocab);
  loss_backward(logits_.data(), n_, c.n_vocab, targets_, weights_, teacher_logits_, loss_options_, 1.0,
                d_logits.data(), pool_);
  if (c.final_softcap > 0) {
    std::vector<T> d_raw;
    zeros(d_raw, n_ * c.n_vocab);
    softcap_backward(logits_.data(), d_logits.data(), n_ * c.n_vocab, c.final_softcap, d_raw.data());
    d_logits.swap(d_raw);
  }
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
    for (T& v : dx) v *= static_cast<T>(c.embed_scale);  // x_in = embed * embed_scale
    embedding_backward<T>(tokens_, dx.data(), c.n_embd, d_embd);
  }
}

template class Decoder<float>;
template class Decoder<double>;

}  // namespace rpu::train
