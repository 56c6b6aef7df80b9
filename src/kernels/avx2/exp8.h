// e^x in 8 f32 lanes for the AVX2 set's SwiGLU and softmax. AVX2 code: include it only from
// src/kernels/avx2/*.cpp, AFTER the file's target_begin.h (so it is compiled for the set's
// instructions and never leaks into baseline code).
#pragma once

#include <immintrin.h>

namespace rpu::avx2 {

// 2^n for integer-valued n in [-127, 128] as two factors 2^(n/2) and 2^(n - n/2), each a normal
// float built in the exponent field: one factor would overflow for n = 128, which e^x needs for
// x in (88.38, 88.72) where the product with p < 1 is still finite.
inline __m256 times_pow2(__m256 p, __m256 n) {
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i half = _mm256_srai_epi32(ni, 1);
  const __m256i rest = _mm256_sub_epi32(ni, half);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 a = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, bias), 23));
  const __m256 b = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(rest, bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, a), b);
}

// e^x to about 1 ulp: n = round(x / ln 2), r = x - n ln 2 in two fmas (Cody-Waite: ln 2 split
// so n * high is exact), e^r by Cephes expf's degree-7 polynomial, times 2^n. x is clamped to
// [-88, 88.72]: 0-ish below (e^-88 ~ 6e-39), +inf above (n = 129 would not fit the split).
inline __m256 exp_precise(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-88.0f)), _mm256_set1_ps(88.7228f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  return times_pow2(p, n);
}

}  // namespace rpu::avx2
