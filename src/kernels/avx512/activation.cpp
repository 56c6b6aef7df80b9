// SwiGLU's product out = silu(gate) * up, 16 values at a time with a vector exp accurate to
// about 1 ulp (exp_lanes_precise). Per value the same formula as swiglu_ref, g / (1 + e^-g) * up,
// so it differs from the oracle only by the exp's last-bit rounding.
#include <immintrin.h>

#include <cstdint>

#include "avx512.h"

#include "target_begin.h"  // only the code below is compiled for AVX512

#include "exp_lanes.h"  // AVX-512 code itself: included after the target switch on purpose

namespace rpu::avx512 {
namespace {

inline __m512 swiglu16(__m512 g, __m512 u) {
  const __m512 e = exp_lanes_precise(_mm512_sub_ps(_mm512_setzero_ps(), g));  // e^-g; +inf for g < -88: silu -> -0
  return _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e)), u);
}

}  // namespace

void swiglu(const float* gate, const float* up, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, swiglu16(_mm512_loadu_ps(gate + i), _mm512_loadu_ps(up + i)));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(out + i, m, swiglu16(_mm512_maskz_loadu_ps(m, gate + i), _mm512_maskz_loadu_ps(m, up + i)));
  }
}

}  // namespace rpu::avx512

#include "target_end.h"
