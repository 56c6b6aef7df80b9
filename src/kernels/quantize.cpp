// Scalar reference quantizers for the plain float types and the legacy 32-value blocks, and
// the quantize_row entry point. The K super-block quantizers live in quantize_k.cpp.
//
// The legacy formats use a single scale per block (and a min for the *_1 variants), chosen
// from the block's extremes the way ggml's reference quantizers do. Unlike a naive port, the
// quants are computed against the f16 value actually stored, rounded so the representable
// range still covers the block's extremes; every value then lands within half a step of its
// dequantized value (see tests/unit/test_quant.cpp for the bounds that follow).

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "core/error.h"
#include "core/fp16.h"
#include "kernels/blocks.h"
#include "kernels/quant.h"

namespace rpu {
namespace {

// round(v) clamped to [lo, hi]; NaN maps to lo. Clamping happens in float so the conversion
// to int is always defined, whatever the input.
int round_clamp(float v, int lo, int hi) {
  if (!(v > static_cast<float>(lo))) return lo;
  if (!(v < static_cast<float>(hi))) return hi;
  // Adding 1.5 * 2^23 leaves round-to-nearest-even(v) in the low mantissa bits (valid for
  // |v| < 2^22, which the clamp guarantees). Unlike std::nearbyint, this never becomes a
  // libm call on baseline x86-64, and the quantizers call it for every candidate level.
  const float shifted = v + 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  return (bits & 0x007fffff) - 0x00400000;
}

// Smallest finite f16 >= v (saturating at the largest finite half). Rounding a scale up
// guarantees the quantization grid reaches the block's extreme value.
uint16_t f16_ceil(float v) {
  uint16_t h = f32_to_f16(v);
  if ((h & 0x7fffu) >= 0x7c00u) return static_cast<uint16_t>((h & 0x8000u) | 0x7bffu);  // inf / NaN
  if (f16_to_f32(h) < v) {
    if (h & 0x8000u) {
      h = static_cast<uint16_t>(h - 1);  // towards zero (h is not -0 here: -0 < v means v > 0)
    } else if (h != 0x7bffu) {
      h = static_cast<uint16_t>(h + 1);
    }
  }
  return h;
}

// Largest finite f16 <= v.
uint16_t f16_floor(float v) { return static_cast<uint16_t>(f16_ceil(-v) ^ 0x8000u); }

// f16 with the magnitude of v rounded up, keeping its sign.
uint16_t f16_away(float v) { return v < 0 ? f16_floor(v) : f16_ceil(v); }

// Symmetric blocks (Q4_0, Q5_0): the value of largest magnitude is mapped onto the extra
// negative level -2^(bits-1), as ggml does, so its sign decides the sign of d. Values of the
// opposite sign reach at most +2^(bits-1) and are clamped one level short of it.
template <int kBits, typename Block>
float quantize_symmetric(const float* x, Block& b, int* q) {
  constexpr int kHalf = 1 << (kBits - 1);
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < kQK; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  b.d = f16_away(max / -static_cast<float>(kHalf));
  const float d = f16_to_f32(b.d);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < kQK; ++j) q[j] = round_clamp(x[j] * id, -kHalf, kHalf - 1) + kHalf;
  return d;
}

// Affine blocks (Q4_1, Q5_1): x = q * d + m spanning [min, max] in 2^bits - 1 steps. m is
// rounded down and d up so that the grid [m, m + qmax * d] contains the whole block.
template <int kBits, typename Block>
void quantize_affine(const float* x, Block& b, int* q) {
  constexpr int kMax = (1 << kBits) - 1;
  float min = x[0], max = x[0];
  for (int j = 1; j < kQK; ++j) {
    min = std::min(min, x[j]);
    max = std::max(max, x[j]);
  }
  if (!(max > min)) {  // constant block (or NaNs): the min alone represents it
    b.m = f32_to_f16(min);
    b.d = 0;
    for (int j = 0; j < kQK; ++j) q[j] = 0;
    return;
  }
  b.m = f16_floor(min);
  const float m = f16_to_f32(b.m);
  b.d = f16_ceil((max - m) / static_cast<float>(kMax));
  const float d = f16_to_f32(b.d);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < kQK; ++j) q[j] = round_clamp((x[j] - m) * id, 0, kMax);
}

template <typename Block>
void pack_nibbles(Block& b, const int* q) {
  for (int j = 0; j < kQK / 2; ++j) {
    b.qs[j] = static_cast<uint8_t>((q[j] & 0x0f) | ((q[j + kQK / 2] & 0x0f) << 4));
  }
}

template <typename Block>
void pack_q5(Block& b, const int* q) {
  pack_nibbles(b, q);
  uint32_t qh = 0;
  for (int j = 0; j < kQK; ++j) qh |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
  for (int k = 0; k < 4; ++k) b.qh[k] = static_cast<uint8_t>(qh >> (8 * k));
}

// Q8_0 / Q8_1: d = amax / 127 rounded up to f16, q = round(x / d) in -127..127.
template <typename Block>
float quantize_q8(const float* x, Block& b) {
  float amax = 0.0f;
  for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
  b.d = f16_ceil(amax / 127.0f);
  const float d = f16_to_f32(b.d);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < kQK; ++j) b.qs[j] = static_cast<int8_t>(round_clamp(x[j] * id, -127, 127));
  return d;
}

}  // namespace

namespace ref {

void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    int q[kQK];
    quantize_symmetric<4>(x, y[i], q);
    pack_nibbles(y[i], q);
  }
}

void quantize_q4_1(const float* x, BlockQ4_1* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    int q[kQK];
    quantize_affine<4>(x, y[i], q);
    pack_nibbles(y[i], q);
  }
}

void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    int q[kQK];
    quantize_symmetric<5>(x, y[i], q);
    pack_q5(y[i], q);
  }
}

void quantize_q5_1(const float* x, BlockQ5_1* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    int q[kQK];
    quantize_affine<5>(x, y[i], q);
    pack_q5(y[i], q);
  }
}

void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) quantize_q8(x, y[i]);
}

void quantize_q8_1(const float* x, BlockQ8_1* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    const float d = quantize_q8(x, y[i]);
    int sum = 0;
    for (int j = 0; j < kQK; ++j) sum += y[i].qs[j];
    y[i].s = f32_to_f16(d * static_cast<float>(sum));
  }
}

}  // namespace ref

namespace {

template <typename T, typename Convert>
void store_elements(const float* src, void* dst, int64_t n, Convert convert) {
  auto* bytes = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n; ++i) {
    const T v = convert(src[i]);
    std::memcpy(bytes + i * static_cast<int64_t>(sizeof(T)), &v, sizeof(T));  // dst may be unaligned
  }
}

// Runs a typed block quantizer, going through an aligned bounce buffer when dst lacks the
// block struct's natural alignment.
template <typename Block>
void run_blocks(void (*kernel)(const float*, Block*, int64_t), const float* src, void* dst, int64_t nb,
                int values_per_block) {
  static_assert(std::is_trivially_copyable_v<Block>);
  if (reinterpret_cast<uintptr_t>(dst) % alignof(Block) == 0) {
    kernel(src, static_cast<Block*>(dst), nb);
    return;
  }
  constexpr int64_t kChunk = 16;
  Block tmp[kChunk];
  auto* bytes = static_cast<uint8_t*>(dst);
  for (int64_t done = 0; done < nb; done += kChunk) {
    const int64_t count = std::min(kChunk, nb - done);
    kernel(src + done * values_per_block, tmp, count);
    std::memcpy(bytes + done * static_cast<int64_t>(sizeof(Block)), tmp, static_cast<size_t>(count) * sizeof(Block));
  }
}

}  // namespace

bool can_quantize(DType type) {
  switch (type) {
    case DType::F32: case DType::F16: case DType::BF16:
    case DType::Q4_0: case DType::Q4_1: case DType::Q5_0: case DType::Q5_1:
    case DType::Q8_0: case DType::Q8_1:
    case DType::Q2_K: case DType::Q3_K: case DType::Q4_K: case DType::Q5_K:
    case DType::Q6_K: case DType::Q8_K:
      return true;
    default:
      return false;
  }
}

void quantize_row(DType type, const float* src, void* dst, int64_t n) {
  const DTypeInfo* info = find_dtype(static_cast<uint32_t>(type));
  if (info == nullptr) fail("cannot quantize to unknown tensor type id {}", static_cast<uint32_t>(type));
  if (!can_quantize(type)) fail("quantizing to {} is not supported", info->name);
  if (n < 0 || n % info->block_size != 0) {
    fail("cannot quantize {} values to {}: not a whole number of {}-value blocks", n, info->name,
         info->block_size);
  }
  const int64_t nb = n / info->block_size;
  switch (type) {
    case DType::F32: if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
    case DType::F16: return store_elements<uint16_t>(src, dst, n, [](float v) { return f32_to_f16(v); });
    case DType::BF16: return store_elements<uint16_t>(src, dst, n, [](float v) { return f32_to_bf16(v); });
    case DType::Q4_0: return run_blocks(ref::quantize_q4_0, src, dst, nb, kQK);
    case DType::Q4_1: return run_blocks(ref::quantize_q4_1, src, dst, nb, kQK);
    case DType::Q5_0: return run_blocks(ref::quantize_q5_0, src, dst, nb, kQK);
    case DType::Q5_1: return run_blocks(ref::quantize_q5_1, src, dst, nb, kQK);
    case DType::Q8_0: return run_blocks(ref::quantize_q8_0, src, dst, nb, kQK);
    case DType::Q8_1: return run_blocks(ref::quantize_q8_1, src, dst, nb, kQK);
    case DType::Q2_K: return run_blocks(ref::quantize_q2_K, src, dst, nb, kQK_K);
    case DType::Q3_K: return run_blocks(ref::quantize_q3_K, src, dst, nb, kQK_K);
    case DType::Q4_K: return run_blocks(ref::quantize_q4_K, src, dst, nb, kQK_K);
    case DType::Q5_K: return run_blocks(ref::quantize_q5_K, src, dst, nb, kQK_K);
    case DType::Q6_K: return run_blocks(ref::quantize_q6_K, src, dst, nb, kQK_K);
    case DType::Q8_K: return run_blocks(ref::quantize_q8_K, src, dst, nb, kQK_K);
    default: break;
  }
  fail("quantizing to {} is not supported", info->name);
}

}  // namespace rpu
