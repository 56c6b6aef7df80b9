#include "model/forward.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "kernels/quant.h"

namespace rpu {
namespace {

// out = x / sqrt(mean(x^2) + eps) * weight, for one vector of n values.
void rms_norm(const float* x, const float* weight, int n, float eps, float* out) {
  double sum_sq = 0.0;
  for (int i = 0; i < n; ++i) sum_sq += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(sum_sq / n + eps));
  for (int i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void add_bias(float* y, const std::vector<float>& bias, int n_tokens) {
  if (bias.empty()) return;
  const size_t n = bias.size();
  for (int t = 0; t < n_tokens; ++t) {
    for (size_t i = 0; i < n; ++i) y[t * n + i] += bias[i];
  }
}

void ensure(std::vector<float>& buffer, size_t n) {
  if (buffer.size() < n) buffer.resize(n);
}

}  // namespace

ForwardPass::ForwardPass(const Model& model, int n_ctx, ThreadPool* pool)
    : model_(model),
      config_(model.config()),
      pool_(pool),
      kernels_(model.kernels()),
      cache_(model.config(), n_ctx) {
  // Frequency of rotation pair i: theta^(-2i/rope_dim), divided by the llama3 factor if any.
  const auto& freqs = model.weights().rope_freqs;
  const int half = config_.rope_dim / 2;
  rope_inv_freq_.resize(static_cast<size_t>(half));
  for (int i = 0; i < half; ++i) {
    double f = std::pow(static_cast<double>(config_.rope_theta), -2.0 * i / config_.rope_dim);
    if (!freqs.empty()) f /= freqs[static_cast<size_t>(i)];
    rope_inv_freq_[static_cast<size_t>(i)] = static_cast<float>(f);
  }
}

void ForwardPass::rewind(int n_past) {
  if (n_past < 0 || n_past > n_past_) fail("cannot rewind to position {} (cache holds {})", n_past, n_past_);
  n_past_ = n_past;
}

void ForwardPass::matmuls(std::initializer_list<MatmulJob> jobs, const float* x, int n_tokens) {
  bool quantize = false;
  int64_t total_units = 0;  // units of row_granule rows, over all jobs
  for (const MatmulJob& job : jobs) {
    quantize = quantize || kernels_.wants_quantized_input(*job.w);
    total_units += (job.w->view.rows + job.w->row_granule - 1) / job.w->row_granule;
  }
  if (quantize) kernels_.quantize_input(x, n_tokens, jobs.begin()->w->view.cols, xq_);
  auto run_units = [&](int64_t begin, int64_t end) {
    int64_t first = 0;  // first unit of the current job
    for (const MatmulJob& job : jobs) {
      const WeightMatrix& w = *job.w;
      const int64_t units = (w.view.rows + w.row_granule - 1) / w.row_granule;
      const int64_t lo = std::max(begin, first), hi = std::min(end, first + units);
      if (lo < hi) {
        kernels_.matmul(w, x, xq_, n_tokens, job.y, (lo - first) * w.row_granule,
                        std::min(w.view.rows, (hi - first) * w.row_granule));
      }
      first += units;
    }
  };
  if (pool_ == nullptr) {
    run_units(0, total_units);
  } else {
    pool_->parallel_for(total_units, run_units);
  }
}

void ForwardPass::apply_rope(float* vectors, int n_tokens, int n_heads) {
  const int hd = config_.head_dim;
  const int half = config_.rope_dim / 2;
  for (int t = 0; t < n_tokens; ++t) {
    const float pos = static_cast<float>(n_past_ + t) * config_.rope_position_scale;
    for (int i = 0; i < half; ++i) {
      const float angle = pos * rope_inv_freq_[static_cast<size_t>(i)];
      const float cos_a = std::cos(angle);
      const float sin_a = std::sin(angle);
      // Which two dims of the head form rotation pair i depends on the architecture.
      const int a = config_.arch->rope_style == RopeStyle::kAdjacent ? 2 * i : i;
      const int b = config_.arch->rope_style == RopeStyle::kAdjacent ? 2 * i + 1 : i + half;
      for (int h = 0; h < n_heads; ++h) {
        float* v = vectors + (static_cast<size_t>(t) * n_heads + h) * hd;
        const float x0 = v[a];
        const float x1 = v[b];
        v[a] = x0 * cos_a - x1 * sin_a;
        v[b] = x0 * sin_a + x1 * cos_a;
      }
    }
  }
}

void ForwardPass::attention(int layer, int n_tokens) {
  const int hd = config_.head_dim;
  const int group = config_.n_head / config_.n_head_kv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int q_dim = config_.q_dim();
  // One task per (head, token). Head-major order gives each thread whole heads, so the causal
  // window's growing cost (later tokens see more positions) is shared evenly.
  auto run = [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> scores;  // per thread, grown once: no allocation per token
    if (scores.size() < static_cast<size_t>(n_past_ + n_tokens)) scores.resize(static_cast<size_t>(n_ctx()));
    for (int64_t task = begin; task < end; ++task) {
      const int h = static_cast<int>(task / n_tokens);
      const int t = static_cast<int>(task % n_tokens);
      const int kv_head = h / group;
      const int last = n_past_ + t;  // attends to positions 0..last
      const float* q = q_.data() + static_cast<size_t>(t) * q_dim + static_cast<size_t>(h) * hd;
      float* out = attn_.data() + static_cast<size_t>(t) * q_dim + static_cast<size_t>(h) * hd;
      const size_t head_offset = static_cast<size_t>(kv_head) * hd;
      kernels_.attend(q, cache_.key(layer, 0) + head_offset, cache_.value(layer, 0) + head_offset, config_.kv_dim(),
                      last + 1, hd, scale, scores.data(), out);
    }
  };
  const int64_t tasks = static_cast<int64_t>(n_tokens) * config_.n_head;
  if (pool_ == nullptr) {
    run(0, tasks);
  } else {
    pool_->parallel_for(tasks, run);
  }
}

std::span<const float> ForwardPass::eval(std::span<const int32_t> tokens, bool all_logits) {
  const int n = static_cast<int>(tokens.size());
  if (n == 0) fail("cannot evaluate an empty batch of tokens");
  if (n_past_ + n > cache_.capacity()) {
    fail("context is full: {} tokens held + {} new exceed the context size of {}", n_past_, n, cache_.capacity());
  }
  const ModelConfig& c = config_;
  const ModelWeights& w = model_.weights();
  for (int32_t token : tokens) {
    if (token < 0 || token >= c.n_vocab) fail("token id {} is outside the vocabulary (0..{})", token, c.n_vocab - 1);
  }
  const size_t nt = static_cast<size_t>(n);
  ensure(x_, nt * c.n_embd);
  ensure(h_, nt * c.n_embd);
  ensure(q_, nt * c.q_dim());
  ensure(k_, nt * c.kv_dim());
  ensure(v_, nt * c.kv_dim());
  ensure(attn_, nt * c.q_dim());
  ensure(ffn_gate_, nt * c.n_ff);
  ensure(ffn_up_, nt * c.n_ff);

  for (int t = 0; t < n; ++t) {
    dequantize_row(w.token_embd.type, w.token_embd.row(tokens[static_cast<size_t>(t)]), x_.data() + t * c.n_embd, c.n_embd);
  }

  for (int layer = 0; layer < c.n_layer; ++layer) {
    const LayerWeights& lw = w.layers[static_cast<size_t>(layer)];
    for (int t = 0; t < n; ++t) {
      rms_norm(x_.data() + t * c.n_embd, lw.attn_norm.data(), c.n_embd, c.rms_eps, h_.data() + t * c.n_embd);
    }
    matmuls({{&lw.wq, q_.data()}, {&lw.wk, k_.data()}, {&lw.wv, v_.data()}}, h_.data(), n);
    add_bias(q_.data(), lw.bq, n);
    add_bias(k_.data(), lw.bk, n);
    add_bias(v_.data(), lw.bv, n);
    if (!lw.q_norm.empty()) {
      for (int i = 0; i < n * c.n_head; ++i) {
        float* head = q_.data() + static_cast<size_t>(i) * c.head_dim;
        rms_norm(head, lw.q_norm.data(), c.head_dim, c.rms_eps, head);
      }
    }
    if (!lw.k_norm.empty()) {
      for (int i = 0; i < n * c.n_head_kv; ++i) {
        float* head = k_.data() + static_cast<size_t>(i) * c.head_dim;
        rms_norm(head, lw.k_norm.data(), c.head_dim, c.rms_eps, head);
      }
    }
    apply_rope(q_.data(), n, c.n_head);
    apply_rope(k_.data(), n, c.n_head_kv);
    for (int t = 0; t < n; ++t) {
      std::copy_n(k_.data() + t * c.kv_dim(), c.kv_dim(), cache_.key(layer, n_past_ + t));
      std::copy_n(v_.data() + t * c.kv_dim(), c.kv_dim(), cache_.value(layer, n_past_ + t));
    }
    attention(layer, n);
    matmuls({{&lw.wo, h_.data()}}, attn_.data(), n);
    for (size_t i = 0; i < nt * c.n_embd; ++i) x_[i] += h_[i];

    for (int t = 0; t < n; ++t) {
      rms_norm(x_.data() + t * c.n_embd, lw.ffn_norm.data(), c.n_embd, c.rms_eps, h_.data() + t * c.n_embd);
    }
    matmuls({{&lw.w_gate, ffn_gate_.data()}, {&lw.w_up, ffn_up_.data()}}, h_.data(), n);
    for (size_t i = 0; i < nt * c.n_ff; ++i) {
      const float g = ffn_gate_[i];
      ffn_gate_[i] = g / (1.0f + std::exp(-g)) * ffn_up_[i];  // SwiGLU: silu(gate) * up
    }
    matmuls({{&lw.w_down, h_.data()}}, ffn_gate_.data(), n);
    for (size_t i = 0; i < nt * c.n_embd; ++i) x_[i] += h_[i];
  }

  // Only the rows whose logits are wanted go through the output head.
  const int first = all_logits ? 0 : n - 1;
  const int rows = n - first;
  for (int t = first; t < n; ++t) {
    rms_norm(x_.data() + t * c.n_embd, w.output_norm.data(), c.n_embd, c.rms_eps, h_.data() + (t - first) * c.n_embd);
  }
  ensure(logits_, static_cast<size_t>(rows) * c.n_vocab);
  matmuls({{&w.output, logits_.data()}}, h_.data(), rows);
  n_past_ += n;
  return {logits_.data(), static_cast<size_t>(rows) * c.n_vocab};
}

}  // namespace rpu
