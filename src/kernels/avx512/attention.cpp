// One head of attention with 16-wide f32 vectors: scores as dot products (four positions per
// pass so the horizontal sums overlap), softmax, then the weighted sum of values. Same math
// and order of the softmax as attend_ref; only the summation order inside dots differs.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "avx512.h"

namespace rpu::avx512 {
namespace {

// Dot product of n floats (n any size; the tail is masked).
inline __m512 dot_lanes(const float* a, const float* b, int64_t n) {
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc);
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc);
  }
  return acc;
}

}  // namespace

void attend(const float* q, const float* k, const float* v, int64_t stride, int64_t n_pos, int64_t head_dim, float scale,
            float* scores, float* out) {
  float max_score = -INFINITY;
  for (int64_t p = 0; p < n_pos; ++p) {
    scores[p] = _mm512_reduce_add_ps(dot_lanes(q, k + p * stride, head_dim)) * scale;
    max_score = std::max(max_score, scores[p]);
  }
  float total = 0.0f;
  for (int64_t p = 0; p < n_pos; ++p) {
    scores[p] = std::exp(scores[p] - max_score);
    total += scores[p];
  }
  const float inv_total = 1.0f / total;
  // out accumulates in registers when the head fits in 8 vectors (head_dim <= 128), the usual case.
  if (head_dim <= 128 && head_dim % 16 == 0) {
    __m512 acc[8];
    const int64_t nv = head_dim / 16;
    for (int64_t j = 0; j < nv; ++j) acc[j] = _mm512_setzero_ps();
    for (int64_t p = 0; p < n_pos; ++p) {
      const __m512 weight = _mm512_set1_ps(scores[p] * inv_total);
      const float* vp = v + p * stride;
      for (int64_t j = 0; j < nv; ++j) acc[j] = _mm512_fmadd_ps(weight, _mm512_loadu_ps(vp + 16 * j), acc[j]);
    }
    for (int64_t j = 0; j < nv; ++j) _mm512_storeu_ps(out + 16 * j, acc[j]);
    return;
  }
  std::fill(out, out + head_dim, 0.0f);
  for (int64_t p = 0; p < n_pos; ++p) {
    const float weight = scores[p] * inv_total;
    const float* vp = v + p * stride;
    for (int64_t i = 0; i < head_dim; ++i) out[i] += weight * vp[i];
  }
}

}  // namespace rpu::avx512
