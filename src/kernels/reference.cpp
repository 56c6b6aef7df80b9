// Scalar reference kernels: the plainest correct code, the oracle every fast variant is
// tested against. Weights are dequantized one row at a time, then dotted in f32.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/kv_rows.h"
#include "kernels/quant.h"

namespace rpu {
namespace {

void pack_ref(const MatrixView& w, WeightMatrix& out) {
  out.view = w;
  out.packed.reset();
  out.packed_bytes = 0;
  out.row_granule = 1;
}

bool wants_quantized_input_ref(const WeightMatrix&) { return false; }

void matmul_ref(const WeightMatrix& w, const float* x, const QuantizedInput&, int64_t n_tokens, float* y,
                int64_t row_begin, int64_t row_end) {
  const MatrixView& v = w.view;
  thread_local std::vector<float> row;
  row.resize(static_cast<size_t>(v.cols));
  for (int64_t r = row_begin; r < row_end; ++r) {
    dequantize_row(v.type, v.row(r), row.data(), v.cols);
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float* xt = x + t * v.cols;
      float sum = 0.0f;
      for (int64_t c = 0; c < v.cols; ++c) sum += row[c] * xt[c];
      y[t * v.rows + r] = sum;
    }
  }
}

}  // namespace

// Sequential f32 arithmetic in the plainest order: the oracle of every set's attend and
// attend_block (tests/unit/test_kernels.cpp).
float attend_span_ref(const float* q, const KvRows& kv, int64_t first, int64_t end, const AttentionParams& a,
                      float* scores, float* out) {
  const int64_t hd = a.head_dim, n = end - first;
  thread_local std::vector<float> row;
  row.resize(static_cast<size_t>(hd));
  for (int64_t p = first; p < end; ++p) {
    kv_slice_to_f32(kv.k_type, kv.key(p), kv.offset, hd, row.data());
    float dot = 0.0f;
    for (int64_t i = 0; i < hd; ++i) dot += q[i] * row[static_cast<size_t>(i)];
    scores[p - first] = dot * a.scale;
  }
  if (a.softcap > 0) soft_cap_scores(scores, n, a.softcap);
  const float max_score = *std::max_element(scores, scores + n);
  float total = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    scores[i] = std::exp(scores[i] - max_score);
    total += scores[i];
  }
  std::fill(out, out + hd, 0.0f);
  for (int64_t p = first; p < end; ++p) {
    const float weight = scores[p - first] / total;
    kv_slice_to_f32(kv.v_type, kv.value(p), kv.offset, hd, row.data());
    for (int64_t i = 0; i < hd; ++i) out[i] += weight * row[static_cast<size_t>(i)];
  }
  return max_score + std::log(total);
}

void attend_ref(const float* q, const KvRows& kv, int64_t pos, const AttentionParams& a, float* scores, float* out) {
  attend_span_ref(q, kv, a.visible_from(pos), pos + 1, a, scores, out);
}

void merge_attention_spans(const float* outs, int64_t out_stride, const float* lse, int64_t n, int64_t head_dim,
                           float* out) {
  const float top = *std::max_element(lse, lse + n);
  float total = 0.0f;
  for (int64_t i = 0; i < n; ++i) total += std::exp(lse[i] - top);
  std::fill(out, out + head_dim, 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    const float w = std::exp(lse[i] - top) / total;
    for (int64_t d = 0; d < head_dim; ++d) out[d] += w * outs[i * out_stride + d];
  }
}

uint64_t sum_words_ref(const uint64_t* words, int64_t n) {
  // Four independent sums keep the loads, not the adds, the bottleneck.
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += words[i];
    s1 += words[i + 1];
    s2 += words[i + 2];
    s3 += words[i + 3];
  }
  for (; i < n; ++i) s0 += words[i];
  return s0 + s1 + s2 + s3;
}

void swiglu_ref(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

const KernelSet& reference_kernels() {
  static const KernelSet set{"ref", &pack_ref, &wants_quantized_input_ref, &quantize_input_ref, &matmul_ref, &attend_ref,
                             nullptr, nullptr, &swiglu_ref, nullptr, nullptr, &sum_words_ref, nullptr};
  return set;
}

}  // namespace rpu
