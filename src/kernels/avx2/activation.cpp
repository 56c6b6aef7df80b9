// SwiGLU's product out = silu(gate) * up, 8 values at a time: per value the same formula as
// swiglu_ref, g / (1 + e^-g) * up, with e^-g from a vector exp accurate to about 1 ulp, so it
// differs from the oracle only by the exp's last-bit rounding (the AVX-512 set's swiglu, in
// 8 lanes and without vscalefps).
#include <immintrin.h>

#include <cstdint>

#include "avx2.h"

#include "target_begin.h"  // only the code below is compiled for AVX2

#include "exp8.h"  // AVX2 code itself: included after the target switch on purpose

namespace rpu::avx2 {
namespace {

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
