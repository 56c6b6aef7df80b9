// SwiGLU's product out = silu(gate) * up, 8 values at a time: per value the same formula as
// swiglu_ref, g / (1 + e^-g) * up, with e^-g from a vector exp accurate to about 1 ulp, so it
// differs from the oracle only by the exp's last-bit rounding (the AVX-512 set's swiglu, in
// 8 lanes and without vscalefps).
#include <immintrin.h>

#include <cstdint>

#include "avx2.h"

#include "target_begin.h"  // only the code below is compiled for AVX2

namespace rpu::avx2 {
namespace {

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

inline __m256 swiglu8(__m256 g, __m256 u) {
  // e^-g above the clamp (g < -88.72) is +inf, so silu -> g / inf = -0, as the reference gives.
  const __m256 minus_g = _mm256_sub_ps(_mm256_setzero_ps(), g);
  __m256 e = exp_precise(minus_g);
  e = _mm256_blendv_ps(e, _mm256_set1_ps(__builtin_inff()), _mm256_cmp_ps(minus_g, _mm256_set1_ps(88.7228f), _CMP_GT_OQ));
  return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}

}  // namespace

void swiglu(const float* gate, const float* up, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, swiglu8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  if (i < n) {
    // The tail through a zero-padded copy (AVX2 has no masked float loads of arbitrary lanes
    // without a lane mask vector; this is at most 7 values per row).
    alignas(32) float g[8] = {}, u[8] = {}, o[8];
    for (int64_t j = i; j < n; ++j) {
      g[j - i] = gate[j];
      u[j - i] = up[j];
    }
    _mm256_store_ps(o, swiglu8(_mm256_load_ps(g), _mm256_load_ps(u)));
    for (int64_t j = i; j < n; ++j) out[j] = o[j - i];
  }
}

}  // namespace rpu::avx2

#include "target_end.h"
