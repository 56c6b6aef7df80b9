// Vectorised dequantisation of the K super-block formats into f32 rows, for the float
// fallback matmul (a weight row is expanded once, then dotted with every token). Same
// formulas as the reference: y = (d * sc) * q - (dmin * m), y = (d * sc) * (q - 32); GCC may
// contract the first into one FMA, so a value can differ from the reference in its last bit.
#include <immintrin.h>

#include <cstring>

#include "avx2.h"
#include "core/fp16.h"
#include "kernels/blocks.h"
#include "kernels/quant.h"

#include "target_begin.h"  // only the code below is compiled for AVX2

namespace rpu::avx2 {
namespace {

// 8 bytes (the low 8 of a 128-bit register) -> 8 floats.
inline __m256 u8_to_ps(__m128i bytes) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes)); }
inline __m256 i8_to_ps(__m128i bytes) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes)); }

// Stores the 32 unsigned bytes of q as dl * q - ml, 8 at a time.
inline void store32(__m256i q, __m256 dl, __m256 ml, float* out) {
  const __m128i parts[2] = {_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1)};
  for (int h = 0; h < 2; ++h) {
    for (int k = 0; k < 2; ++k) {
      const __m128i bytes = k == 0 ? parts[h] : _mm_unpackhi_epi64(parts[h], parts[h]);
      const __m256 v = u8_to_ps(bytes);
      _mm256_storeu_ps(out + 16 * h + 8 * k, _mm256_sub_ps(_mm256_mul_ps(dl, v), ml));
    }
  }
}

void dequantize_q4_k(const uint8_t* src, float* y, int64_t nb) {
  const __m256i low_mask = _mm256_set1_epi8(0x0f);
  for (int64_t i = 0; i < nb; ++i, y += kQK_K) {
    BlockQ4_K blk;
    std::memcpy(&blk, src + i * sizeof(BlockQ4_K), sizeof blk);
    const float d = f16_to_f32(blk.d), dmin = f16_to_f32(blk.dmin);
    for (int p = 0; p < 4; ++p) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs + 32 * p));
      const __m256i halves[2] = {_mm256_and_si256(q, low_mask), _mm256_and_si256(_mm256_srli_epi16(q, 4), low_mask)};
      for (int h = 0; h < 2; ++h) {
        uint8_t sc, m;
        k4_unpack(2 * p + h, blk.scales, sc, m);
        store32(halves[h], _mm256_set1_ps(d * static_cast<float>(sc)), _mm256_set1_ps(dmin * static_cast<float>(m)),
                       y + 64 * p + 32 * h);
      }
    }
  }
}

void dequantize_q6_k(const uint8_t* src, float* y, int64_t nb) {
  const __m256i low_mask = _mm256_set1_epi8(0x0f);
  const __m256i two_bits = _mm256_set1_epi8(0x03);
  const __m256i offset = _mm256_set1_epi8(32);
  for (int64_t i = 0; i < nb; ++i, y += kQK_K) {
    BlockQ6_K blk;
    std::memcpy(&blk, src + i * sizeof(BlockQ6_K), sizeof blk);
    const float d = f16_to_f32(blk.d);
    for (int half = 0; half < 2; ++half) {
      const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.ql + 64 * half));
      const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.ql + 64 * half + 32));
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh + 32 * half));
      // Group s (values 128*half + 32*s + l) takes nibble (s >> 1) of ql[s & 1] and bits 2s of qh.
      const __m256i lows[4] = {_mm256_and_si256(ql0, low_mask), _mm256_and_si256(ql1, low_mask),
                               _mm256_and_si256(_mm256_srli_epi16(ql0, 4), low_mask),
                               _mm256_and_si256(_mm256_srli_epi16(ql1, 4), low_mask)};
      for (int s = 0; s < 4; ++s) {
        const __m256i high = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * s), two_bits);
        const __m256i q = _mm256_sub_epi8(_mm256_or_si256(lows[s], _mm256_slli_epi16(high, 4)), offset);
        const int base = 128 * half + 32 * s;
        // Sub-blocks of 16: values base..base+15 and base+16..base+31 have their own scale.
        const __m128i parts[2] = {_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1)};
        for (int k = 0; k < 2; ++k) {
          const __m256 dl = _mm256_set1_ps(d * static_cast<float>(blk.scales[(base + 16 * k) / 16]));
          _mm256_storeu_ps(y + base + 16 * k, _mm256_mul_ps(dl, i8_to_ps(parts[k])));
          _mm256_storeu_ps(y + base + 16 * k + 8,
                           _mm256_mul_ps(dl, i8_to_ps(_mm_unpackhi_epi64(parts[k], parts[k]))));
        }
      }
    }
  }
}

}  // namespace

void dequantize_row_fast(DType type, const uint8_t* src, float* dst, int64_t n) {
  switch (type) {
    case DType::Q4_K: return dequantize_q4_k(src, dst, n / kQK_K);
    case DType::Q6_K: return dequantize_q6_k(src, dst, n / kQK_K);
    default: return dequantize_row(type, src, dst, n);
  }
}

}  // namespace rpu::avx2

#include "target_end.h"
