// Scalar reference kernels: the plainest correct code, the oracle every fast variant is
// tested against. Weights are dequantized one row at a time, then dotted in f32.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/kernels.h"
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

void attend_ref(const float* q, const float* k, const float* v, int64_t stride, int64_t n_pos, int64_t head_dim,
                float scale, float* scores, float* out) {
  float max_score = -INFINITY;
  for (int64_t p = 0; p < n_pos; ++p) {
    const float* kp = k + p * stride;
    float dot = 0.0f;
    for (int64_t i = 0; i < head_dim; ++i) dot += q[i] * kp[i];
    scores[p] = dot * scale;
    max_score = std::max(max_score, scores[p]);
  }
  float total = 0.0f;
  for (int64_t p = 0; p < n_pos; ++p) {
    scores[p] = std::exp(scores[p] - max_score);
    total += scores[p];
  }
  std::fill(out, out + head_dim, 0.0f);
  for (int64_t p = 0; p < n_pos; ++p) {
    const float weight = scores[p] / total;
    const float* vp = v + p * stride;
    for (int64_t i = 0; i < head_dim; ++i) out[i] += weight * vp[i];
  }
}

const KernelSet& reference_kernels() {
  static const KernelSet set{"ref", &pack_ref, &wants_quantized_input_ref, &quantize_input_ref, &matmul_ref, &attend_ref, nullptr,
                             &attend_kv_ref};
  return set;
}

}  // namespace rpu
