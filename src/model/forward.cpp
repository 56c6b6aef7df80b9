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

void add_bias(float* y, const std::vector<float>& bias) {
  for (size_t i = 0; i < bias.size(); ++i) y[i] += bias[i];
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

void ForwardPass::for_tokens(int n_tokens, const std::function<void(int)>& fn) {
  if (pool_ == nullptr || n_tokens == 1) {
    for (int t = 0; t < n_tokens; ++t) fn(t);
    return;
  }
  pool_->parallel_for(n_tokens, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) fn(static_cast<int>(t));
  });
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

void ForwardPass::apply_rope(float* vectors, int t, int n_heads) {
  const int hd = config_.head_dim;
  const int half = config_.rope_dim / 2;
  {
    const float pos = static_cast<float>(n_past_ + t) * config_.rope_position_scale;
    for (int i = 0; i < half; ++i) {
      const float angle = pos * rope_inv_freq_[static_cast<size_t>(i)];
      const float cos_a = std::cos(angle);
      const float sin_a = std::sin(angle);
      // Which two dims of the head form rotation pair i depends on the architecture.
      const int a = config_.arch->rope_style == RopeStyle::kAdjacent ? 2 * i : i;
      const int b = config_.arch->rope_style == RopeStyle::kAdjacent ? 2 * i + 1 : i + half;
      for (int h = 0; h < n_heads; ++h) {
        float* v = vectors + static_cast<size_t>(h) * hd;
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
  if (kernels_.attend_block != nullptr && n_tokens > 1) {
    // Prefill: blocks of 16 consecutive queries per head, head-major as above.
    const int64_t blocks = (n_tokens + 15) / 16;
    auto run_blocks = [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        const int h = static_cast<int>(task / blocks);
        const int t0 = static_cast<int>(task % blocks) * 16;
        const int n_q = std::min(16, n_tokens - t0);
        const size_t head_offset = static_cast<size_t>(h / group) * hd;
        kernels_.attend_block(q_.data() + static_cast<size_t>(t0) * q_dim + static_cast<size_t>(h) * hd, q_dim, n_q,
                              cache_.key(layer, 0) + head_offset, cache_.value(layer, 0) + head_offset, config_.kv_dim(),
                              n_past_ + t0, hd, scale, attn_.data() + static_cast<size_t>(t0) * q_dim + static_cast<size_t>(h) * hd,
                              q_dim);
      }
    };
    const int64_t block_tasks = blocks * config_.n_head;
    if (pool_ == nullptr) {
      run_blocks(0, block_tasks);
    } else {
      pool_->parallel_for(block_tasks, run_blocks);
    }
    return;
  }
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
    for_tokens(n, [&](int t) {
      rms_norm(x_.data() + t * c.n_embd, lw.attn_norm.data(), c.n_embd, c.rms_eps, h_.data() + t * c.n_embd);
    });
    matmuls({{&lw.wq, q_.data()}, {&lw.wk, k_.data()}, {&lw.wv, v_.data()}}, h_.data(), n);
    for_tokens(n, [&](int t) {
      float* q = q_.data() + static_cast<size_t>(t) * c.q_dim();
      float* k = k_.data() + static_cast<size_t>(t) * c.kv_dim();
      float* v = v_.data() + static_cast<size_t>(t) * c.kv_dim();
      add_bias(q, lw.bq);
      add_bias(k, lw.bk);
      add_bias(v, lw.bv);
      if (!lw.q_norm.empty()) {
        for (int h = 0; h < c.n_head; ++h) {
          rms_norm(q + h * c.head_dim, lw.q_norm.data(), c.head_dim, c.rms_eps, q + h * c.head_dim);
        }
      }
      if (!lw.k_norm.empty()) {
        for (int h = 0; h < c.n_head_kv; ++h) {
          rms_norm(k + h * c.head_dim, lw.k_norm.data(), c.head_dim, c.rms_eps, k + h * c.head_dim);
        }
      }
      apply_rope(q, t, c.n_head);
      apply_rope(k, t, c.n_head_kv);
      std::copy_n(k, c.kv_dim(), cache_.key(layer, n_past_ + t));
      std::copy_n(v, c.kv_dim(), cache_.value(layer, n_past_ + t));
    });
    attention(layer, n);
    matmuls({{&lw.wo, h_.data()}}, attn_.data(), n);
    for_tokens(n, [&](int t) {
      float* x = x_.data() + t * c.n_embd;
      const float* o = h_.data() + t * c.n_embd;
      for (int i = 0; i < c.n_embd; ++i) x[i] += o[i];
      rms_norm(x, lw.ffn_norm.data(), c.n_embd, c.rms_eps, h_.data() + t * c.n_embd);
    });
    matmuls({{&lw.w_gate, ffn_gate_.data()}, {&lw.w_up, ffn_up_.data()}}, h_.data(), n);
    for_tokens(n, [&](int t) {
      float* gate = ffn_gate_.data() + static_cast<size_t>(t) * c.n_ff;
      const float* up = ffn_up_.data() + static_cast<size_t>(t) * c.n_ff;
      for (int i = 0; i < c.n_ff; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];  // SwiGLU
    });
    matmuls({{&lw.w_down, h_.data()}}, ffn_gate_.data(), n);
    for_tokens(n, [&](int t) {
      float* x = x_.data() + t * c.n_embd;
      const float* d = h_.data() + t * c.n_embd;
      for (int i = 0; i < c.n_embd; ++i) x[i] += d[i];
    });
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
