// e^x in 16 f32 lanes for the AVX-512 set's softmax and SwiGLU. AVX-512 code: include it only
// from src/kernels/avx512/*.cpp, AFTER the file's target pragma (so it is compiled for the set's
// instructions and never leaks into baseline code).
#pragma once

#include <immintrin.h>

namespace rpu::avx512 {

// e^x for 16 lanes, for the softmax (x <= 0 and mostly near 0): split x*log2(e) = n + f with
// |f| <= 1/2, 2^f by a degree-6 polynomial, 2^n through the exponent. Relative error below
// 2e-7 for |x| < 4, growing as |x| * 2^-24 beyond (the rounding of x*log2(e)); weights that
// small barely count in a softmax. Kept as is: attention outputs depend on its exact bits.
inline __m512 exp_lanes(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));  // below this e^x underflows f32 anyway
  const __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f));
  const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(t, n);
  __m512 p = _mm512_set1_ps(1.535336188319500e-4f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.339887440266574e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.618437357674640e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550332471162809e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402264791363012e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931472028550421e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);  // p * 2^n
}

// e^x for 16 lanes to about 1 ulp at any x (SwiGLU's e^-g spans the whole f32 range): n =
// round(x / ln 2), r = x - n ln 2 in two fmas (ln 2 split into a short high part and the rest,
// Cody-Waite, so n * high is exact), e^r by Cephes expf's degree-7 polynomial, times 2^n.
// +inf beyond x ~ 88.7, 0 below -88.
inline __m512 exp_lanes_precise(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-88.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

}  // namespace rpu::avx512
