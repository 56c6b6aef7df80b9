#include "model/encoder_forward.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "kernels/quant.h"
#include "model/matmul_batch.h"

namespace rpu {
namespace {

// out = (x - mean) / sqrt(var + eps) * weight + bias, for one vector of n values (in place is fine).
void layer_norm(const float* x, const std::vector<float>& weight, const std::vector<float>& bias, int n, float eps,
                float* out) {
  double sum = 0.0;
  for (int i = 0; i < n; ++i) sum += x[i];
  const double mean = sum / n;
  double sum_sq = 0.0;
  for (int i = 0; i < n; ++i) sum_sq += (x[i] - mean) * (x[i] - mean);
  const double scale = 1.0 / std::sqrt(sum_sq / n + eps);
  for (int i = 0; i < n; ++i) {
    out[i] = static_cast<float>((x[i] - mean) * scale) * weight[static_cast<size_t>(i)] + bias[static_cast<size_t>(i)];
  }
}

// GELU, tanh form (as ggml_gelu).
float gelu(float x) {
  constexpr float kSqrt2OverPi = 0.79788456080286535588f;
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + 0.044715f * x * x)));
}

void add_bias(float* y, const std::vector<float>& bias) {
  for (size_t i = 0; i < bias.size(); ++i) y[i] += bias[i];
}

void ensure(std::vector<float>& buffer, size_t n) {
  if (buffer.size() < n) buffer.resize(n);
}

const Model& supported_encoder(const Model& model) {
  const ArchSpec& arch = *model.config().arch;
  if (!arch.encoder) fail("'{}' ({}) is not an encoder model", model.file().path(), arch.name);
  if (arch.positions != Positions::kLearned || arch.norm != NormKind::kLayer || arch.ffn != FfnKind::kGelu) {
    fail("'{}': the {} encoder layout is not supported yet", model.file().path(), arch.name);
  }
  return model;
}

}  // namespace

EncoderForward::EncoderForward(const Model& model, ThreadPool* pool, std::optional<Pooling> pooling)
    : model_(supported_encoder(model)),
      config_(model.config()),
      pool_(pool),
      kernels_(model.kernels()),
      pooling_(pooling.value_or(model.config().pooling)) {
  if (pooling_ == Pooling::kNone) fail("pooling 'none' gives no embedding per input; use mean, cls or last");
}

void EncoderForward::for_tokens(int n_tokens, const std::function<void(int)>& fn) {
  // Per token a whole embedding row or more (norms, GELU over n_ff): by the embedding size.
  for_each_token(pool_, n_tokens, config_.n_embd, fn);
}

std::vector<std::vector<float>> EncoderForward::embed(std::span<const std::vector<int32_t>> inputs) {
  if (pooling_ == Pooling::kRank) {
    fail("this model is a cross-encoder (pooling rank): it scores query-document pairs and has no embeddings");
  }
  run(inputs);
  std::vector<std::vector<float>> out;
  out.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) out.push_back(pool(input_first_[i], static_cast<int>(inputs[i].size())));
  return out;
}

std::vector<std::vector<float>> EncoderForward::classify(std::span<const std::vector<int32_t>> inputs) {
  const ModelWeights& w = model_.weights();
  if (w.n_cls_out == 0) fail("this model has no classification head (pooling is {}, not rank)", pooling_name(config_.pooling));
  run(inputs);
  const int n = static_cast<int>(inputs.size()), d = config_.n_embd;
  if (n == 0) return {};
  // First-token states [n, n_embd] through the pooler (tanh) and the classifier.
  std::vector<float> first(static_cast<size_t>(n) * d), pooled(static_cast<size_t>(n) * d);
  for (int i = 0; i < n; ++i) {
    const float* row = x_.data() + static_cast<size_t>(input_first_[static_cast<size_t>(i)]) * d;
    std::copy(row, row + d, first.data() + static_cast<size_t>(i) * d);
  }
  const float* y = first.data();
  if (w.cls.view.rows > 0) {
    matmul_batch(kernels_, pool_, xq_, {{&w.cls, pooled.data()}}, first.data(), n);
    for (int i = 0; i < n; ++i) {
      float* p = pooled.data() + static_cast<size_t>(i) * d;
      add_bias(p, w.cls_b);
      for (int j = 0; j < d; ++j) p[j] = std::tanh(p[j]);
    }
    y = pooled.data();
  }
  std::vector<std::vector<float>> out(static_cast<size_t>(n));
  if (w.cls_out.view.rows == 0) {
    for (int i = 0; i < n; ++i) out[static_cast<size_t>(i)].assign(y + static_cast<size_t>(i) * d, y + static_cast<size_t>(i + 1) * d);
    return out;
  }
  std::vector<float> scores(static_cast<size_t>(n) * w.n_cls_out);
  matmul_batch(kernels_, pool_, xq_, {{&w.cls_out, scores.data()}}, y, n);
  for (int i = 0; i < n; ++i) {
    float* s = scores.data() + static_cast<size_t>(i) * w.n_cls_out;
    add_bias(s, w.cls_out_b);
    out[static_cast<size_t>(i)].assign(s, s + w.n_cls_out);
  }
  return out;
}

void EncoderForward::run(std::span<const std::vector<int32_t>> inputs) {
  const ModelConfig& c = config_;
  // Validate everything before computing anything.
  size_t total = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& tokens = inputs[i];
    if (tokens.empty()) fail("input {} has no tokens", i);
    if (static_cast<int>(tokens.size()) > max_tokens()) {
      fail("input {} has {} tokens but this model reads at most {}", i, tokens.size(), max_tokens());
    }
    for (int32_t token : tokens) {
      if (token < 0 || token >= c.n_vocab) fail("token id {} is outside the vocabulary (0..{})", token, c.n_vocab - 1);
    }
    total += tokens.size();
  }
  n_tokens_ = total;
  if (inputs.empty()) return;
  ensure(x_, total * c.n_embd);
  ensure(h_, total * c.n_embd);
  ensure(q_, total * c.q_dim());
  ensure(k_, total * c.kv_dim());
  ensure(v_, total * c.kv_dim());
  ensure(attn_, total * c.q_dim());
  ensure(ffn_, total * c.n_ff);
  input_first_.clear();
  for (size_t i = 0, t = 0; i < inputs.size(); t += inputs[i].size(), ++i) input_first_.push_back(static_cast<int>(t));

  embed_inputs(inputs);
  for (int l = 0; l < c.n_layer; ++l) layer(l, inputs);
}

void EncoderForward::embed_inputs(std::span<const std::vector<int32_t>> inputs) {
  const ModelConfig& c = config_;
  const ModelWeights& w = model_.weights();
  std::vector<std::pair<int32_t, int>> token_pos(n_tokens_);  // (token id, position in its input)
  for (size_t i = 0; i < inputs.size(); ++i) {
    for (size_t p = 0; p < inputs[i].size(); ++p) {
      token_pos[static_cast<size_t>(input_first_[i]) + p] = {inputs[i][p], static_cast<int>(p)};
    }
  }
  for_tokens(static_cast<int>(n_tokens_), [&](int t) {
    float* x = x_.data() + static_cast<size_t>(t) * c.n_embd;
    float* pos = h_.data() + static_cast<size_t>(t) * c.n_embd;
    dequantize_row(w.token_embd.type, w.token_embd.row(token_pos[static_cast<size_t>(t)].first), x, c.n_embd);
    dequantize_row(w.position_embd.type, w.position_embd.row(token_pos[static_cast<size_t>(t)].second), pos, c.n_embd);
    for (int i = 0; i < c.n_embd; ++i) x[i] += pos[i];
    add_bias(x, w.token_type0);
    if (!w.input_norm.empty()) layer_norm(x, w.input_norm, w.input_norm_b, c.n_embd, c.layer_norm_eps, x);
  });
}

void EncoderForward::layer(int index, std::span<const std::vector<int32_t>> inputs) {
  const ModelConfig& c = config_;
  const LayerWeights& lw = model_.weights().layers[static_cast<size_t>(index)];
  const int n = static_cast<int>(n_tokens_);
  matmul_batch(kernels_, pool_, xq_, {{&lw.wq, q_.data()}, {&lw.wk, k_.data()}, {&lw.wv, v_.data()}}, x_.data(), n);
  for_tokens(n, [&](int t) {
    add_bias(q_.data() + static_cast<size_t>(t) * c.q_dim(), lw.bq);
    add_bias(k_.data() + static_cast<size_t>(t) * c.kv_dim(), lw.bk);
    add_bias(v_.data() + static_cast<size_t>(t) * c.kv_dim(), lw.bv);
  });
  attention(inputs);
  matmul_batch(kernels_, pool_, xq_, {{&lw.wo, h_.data()}}, attn_.data(), n);
  for_tokens(n, [&](int t) {
    float* x = x_.data() + static_cast<size_t>(t) * c.n_embd;
    float* o = h_.data() + static_cast<size_t>(t) * c.n_embd;
    add_bias(o, lw.bo);
    for (int i = 0; i < c.n_embd; ++i) x[i] += o[i];
    layer_norm(x, lw.attn_output_norm, lw.attn_output_norm_b, c.n_embd, c.layer_norm_eps, x);
  });
  matmul_batch(kernels_, pool_, xq_, {{&lw.w_up, ffn_.data()}}, x_.data(), n);
  for_tokens(n, [&](int t) {
    float* up = ffn_.data() + static_cast<size_t>(t) * c.n_ff;
    add_bias(up, lw.b_up);
    for (int i = 0; i < c.n_ff; ++i) up[i] = gelu(up[i]);
  });
  matmul_batch(kernels_, pool_, xq_, {{&lw.w_down, h_.data()}}, ffn_.data(), n);
  for_tokens(n, [&](int t) {
    float* x = x_.data() + static_cast<size_t>(t) * c.n_embd;
    float* d = h_.data() + static_cast<size_t>(t) * c.n_embd;
    add_bias(d, lw.b_down);
    for (int i = 0; i < c.n_embd; ++i) x[i] += d[i];
    layer_norm(x, lw.layer_output_norm, lw.layer_output_norm_b, c.n_embd, c.layer_norm_eps, x);
  });
}

void EncoderForward::attention(std::span<const std::vector<int32_t>> inputs) {
  const ModelConfig& c = config_;
  const int hd = c.head_dim, group = c.n_head / c.n_head_kv;
  AttentionParams params;
  params.head_dim = hd;
  params.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  // One task per (input, head): all of that input's queries against all of its keys.
  const int64_t n_tasks = static_cast<int64_t>(inputs.size()) * c.n_head;
  auto run = [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> scores;
    if (scores.size() < static_cast<size_t>(max_tokens())) scores.resize(static_cast<size_t>(max_tokens()));
    for (int64_t task = begin; task < end; ++task) {
      const size_t input = static_cast<size_t>(task / c.n_head);
      const int head = static_cast<int>(task % c.n_head);
      const size_t first = static_cast<size_t>(input_first_[input]);
      const int64_t n = static_cast<int64_t>(inputs[input].size());
      // Bidirectional: every query sees all n positions, i.e. attends as if it were the last.
      const KvRows kv = f32_rows(k_.data() + first * c.kv_dim(), v_.data() + first * c.kv_dim(), c.kv_dim(),
                                 static_cast<int64_t>(head / group) * hd);
      for (int64_t t = 0; t < n; ++t) {
        const size_t q_offset = (first + static_cast<size_t>(t)) * c.q_dim() + static_cast<size_t>(head) * hd;
        kernels_.attend(q_.data() + q_offset, kv, n - 1, params, scores.data(), attn_.data() + q_offset);
      }
    }
  };
  if (pool_ == nullptr) {
    run(0, n_tasks);
  } else {
    pool_->parallel_for(n_tasks, run);
  }
}

std::vector<float> EncoderForward::pool(int first, int n) const {
  const size_t d = embd_size();
  std::vector<double> sum(d, 0.0);
  int from = first, count = n;
  if (pooling_ == Pooling::kCls) count = 1;
  if (pooling_ == Pooling::kLast) from = first + n - 1, count = 1;
  for (int t = from; t < from + count; ++t) {
    const float* row = x_.data() + static_cast<size_t>(t) * d;
    for (size_t j = 0; j < d; ++j) sum[j] += row[j];
  }
  double norm = 0.0;
  for (double& v : sum) {
    v /= count;
    norm += v * v;
  }
  norm = std::sqrt(norm);
  std::vector<float> out(d);
  for (size_t j = 0; j < d; ++j) out[j] = static_cast<float>(norm > 0 ? sum[j] / norm : 0.0);
  return out;
}

}  // namespace rpu
