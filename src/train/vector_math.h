// Element-wise math for the float training ops that the compiler can vectorise: std::exp is
// a library call per value (no SIMD), which made exp about a sixth of the attention softmax
// and SwiGLU time. Double (gradient checks) keeps the library's exact functions.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "train/gemm.h"  // RPU_ALWAYS_INLINE

namespace rpu::train {

// e^x for float within 2 ulp over the normal range: x = n ln2 + r, |r| <= ln2 / 2, e^r by
// Cephes' degree-6 polynomial, 2^n built in the exponent bits. Inputs are clamped to
// [-87.3, 88.3] (results stay normal: e^-87.3 ~ 1.2e-38 stands in for smaller values, which
// only ever meet sums of order 1 here), so there is no branch per value.
RPU_ALWAYS_INLINE float exp_vectorizable(float x) {
  x = std::min(std::max(x, -87.3f), 88.3f);
  // n = round(x / ln2): adding and taking away 1.5 * 2^23 rounds to an integer (std::floor
  // would not vectorise without -fno-trapping-math).
  constexpr float kRound = 12582912.0f;
  const float n = (x * 1.44269504088896341f + kRound) - kRound;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;  // ln2 split in two for exactness
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  return er * std::bit_cast<float>(bits);
}

template <typename T>
RPU_ALWAYS_INLINE T exp_of(T x) {
  if constexpr (std::is_same_v<T, float>) {
    return exp_vectorizable(x);
  } else {
    return std::exp(x);
  }
}

}  // namespace rpu::train
