// One head of attention with 8-wide f32 vectors: scores as dot products (four positions per
// pass, their horizontal sums combined with hadd), softmax, then the weighted sum of values
// in slices of up to 64 dimensions held in registers. Same math and order of the softmax as
// attend_ref; only the summation order inside dots differs.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "avx2.h"

// Only the code below is compiled for AVX2 (function by function, not the whole file):
// inline and template code from the headers above keeps the baseline target, so a copy of
// it emitted here can never be the one the linker keeps for baseline callers.
// GCC: push_options/target; clang (which ignores those) applies the same target attribute to
// every function defined up to the matching pop.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

namespace rpu::avx2 {
namespace {

// Lanes 0..n-1 set (n in 0..8), for masked loads of a ragged tail.
inline __m256i tail_mask(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// The four horizontal sums [sum a, sum b, sum c, sum d].
inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

// q . k_p for NP consecutive positions, as NP vectors of partial sums.
template <int NP>
inline void dots(const float* q, const float* k, int64_t stride, int64_t n, __m256 acc[NP]) {
  for (int p = 0; p < NP; ++p) acc[p] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 qv = _mm256_loadu_ps(q + i);
    for (int p = 0; p < NP; ++p) acc[p] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k + p * stride + i), acc[p]);
  }
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    const __m256 qv = _mm256_maskload_ps(q + i, m);
    for (int p = 0; p < NP; ++p) acc[p] = _mm256_fmadd_ps(qv, _mm256_maskload_ps(k + p * stride + i, m), acc[p]);
  }
}

// out[0 .. 8*NV) = sum_p weight_p * v_p[0 .. 8*NV), accumulated in registers.
template <int NV>
void weighted_sum(const float* weights, const float* v, int64_t stride, int64_t n_pos, float* out) {
  __m256 acc[NV];
  for (int j = 0; j < NV; ++j) acc[j] = _mm256_setzero_ps();
  for (int64_t p = 0; p < n_pos; ++p) {
    const __m256 weight = _mm256_broadcast_ss(weights + p);
    const float* vp = v + p * stride;
    for (int j = 0; j < NV; ++j) acc[j] = _mm256_fmadd_ps(weight, _mm256_loadu_ps(vp + 8 * j), acc[j]);
  }
  for (int j = 0; j < NV; ++j) _mm256_storeu_ps(out + 8 * j, acc[j]);
}

using WeightedSum = void (*)(const float*, const float*, int64_t, int64_t, float*);
constexpr WeightedSum kWeightedSums[9] = {nullptr,          &weighted_sum<1>, &weighted_sum<2>,
                                          &weighted_sum<3>, &weighted_sum<4>, &weighted_sum<5>,
                                          &weighted_sum<6>, &weighted_sum<7>, &weighted_sum<8>};

}  // namespace

void attend(const float* q, const float* k, const float* v, int64_t stride, int64_t n_pos, int64_t head_dim, float scale,
            float* scores, float* out) {
  int64_t p = 0;
  for (; p + 4 <= n_pos; p += 4) {
    __m256 acc[4];
    dots<4>(q, k + p * stride, stride, head_dim, acc);
    _mm_storeu_ps(scores + p, _mm_mul_ps(hsum4(acc[0], acc[1], acc[2], acc[3]), _mm_set1_ps(scale)));
  }
  for (; p < n_pos; ++p) {
    __m256 acc[1];
    dots<1>(q, k + p * stride, stride, head_dim, acc);
    scores[p] = _mm_cvtss_f32(hsum4(acc[0], acc[0], acc[0], acc[0])) * scale;
  }
  float max_score = -INFINITY;
  for (p = 0; p < n_pos; ++p) max_score = std::max(max_score, scores[p]);
  float total = 0.0f;
  for (p = 0; p < n_pos; ++p) {
    scores[p] = std::exp(scores[p] - max_score);
    total += scores[p];
  }
  const float inv_total = 1.0f / total;
  for (p = 0; p < n_pos; ++p) scores[p] *= inv_total;  // the softmax weights
  // Whole vectors in slices of up to 8 registers; a ragged tail of < 8 dimensions scalar.
  int64_t j = 0;
  while (head_dim - j >= 8) {
    const int64_t nv = std::min<int64_t>(8, (head_dim - j) / 8);
    kWeightedSums[nv](scores, v + j, stride, n_pos, out + j);
    j += 8 * nv;
  }
  if (j < head_dim) {
    std::fill(out + j, out + head_dim, 0.0f);
    for (p = 0; p < n_pos; ++p) {
      const float* vp = v + p * stride;
      for (int64_t i = j; i < head_dim; ++i) out[i] += scores[p] * vp[i];
    }
  }
}

}  // namespace rpu::avx2

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
