// Q4_K, Q5_K and Q6_K matmul with AVX2 (no VNNI), in the 8-row layout of int8_kernels.cpp: one 32-bit
// lane of a ymm register per row, so one 32-byte load holds 4 consecutive codes of each of 8
// rows and maddubs against 4 broadcast activation bytes advances all 8 dot products. Before,
// these formats went through the dequantize-to-f32 fallback, 2-3x slower than the bytes allow:
// Q6_K is the tied output head of most Q4_0 / Q4_K_M files (a fifth of Llama-3.2-1B's bytes).
//
// Layout per 8-row group and 256-column super-block:
//   Q4_K: 8 f16 d, 8 f16 dmin, then per 32 columns: 4 chunks x 32 B of nibbles arranged as
//         Q4_0's (chunk c byte 4r+k: low nibble = column 4c+k, high = column 16+4c+k of row r),
//         8 scale bytes and 8 min bytes (the 6-bit values unpacked): 32 + 8 x 144 = 1184 bytes
//         (8 x 148: the scales take 16 bytes per row instead of 12)
//   Q5_K: as Q4_K with Q5_0's 32 B fifth-bit plane after the nibbles: 32 + 8 x 176 = 1440 bytes
//   Q6_K: 8 f16 d, then per 32 columns: the low 4 bits as Q4_K's nibbles (128 B), 2 x 32 B of
//         the high 2 bits (plane h, byte 4r+k, bits 2c..2c+1 = row r's column 16h+4c+k), 8 int8
//         scales of columns 0-15 and 8 of columns 16-31: 16 + 8 x 208 = 1680 = 8 x 210 bytes,
//         exactly the file's, so decode reads what llama.cpp reads.
// Missing rows of a last partial group are zero.
//
// Arithmetic. maddubs multiplies unsigned codes by signed activation bytes into int16 pairs:
//   Q4_K / Q5_K: codes 0..15 / 0..31, pairs <= 3810 / 7874, so 4 maddubs sum in int16; value =
//         d sc u - dmin m, so a block adds d sc dx dot - dmin m dx sum(q).
//   Q6_K: codes 0..63, pairs <= 16002, so two maddubs per int16 sum, then widened; value =
//         d sc (u - 32), the -32 folded in as -32 sum(q) of each 16-column half (sum16).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "avx2.h"
#include "core/error.h"
#include "kernels/blocks.h"

#include "target_begin.h"  // only the code below is compiled for AVX2

#include "int8_common.h"  // AVX2 code itself: included after the target switch on purpose

namespace rpu::avx2 {
namespace {

constexpr int64_t kK4Head = 32;
// Bytes per 8 rows x 32 columns and per 8 rows x 256 columns, Q4_K / Q5_K.
constexpr int64_t k4_block(bool fifth) { return fifth ? 176 : 144; }
constexpr int64_t k4_super(bool fifth) { return kK4Head + 8 * k4_block(fifth); }  // 1184 / 1440
constexpr int64_t kQ6KHead = 16, kQ6KBlock = 208, kQ6KSuper = kQ6KHead + 8 * kQ6KBlock;  // 1680

int64_t super_bytes(DType type) {
  return type == DType::Q4_K ? k4_super(false) : type == DType::Q5_K ? k4_super(true) : kQ6KSuper;
}

// Super-block s of up to 8 rows (null = missing row) into dst (zeroed by the caller). Q5_K's
// fifth bits go in a plane after the nibbles, as Q5_0's (int8_kernels.cpp): byte 4r+k, bit c =
// column 4c+k's, bit 4+c = column 16+4c+k's.
template <bool kFifth>
void pack_k4_super(const uint8_t* const rows[8], int64_t s, uint8_t* dst) {
  using Block = std::conditional_t<kFifth, BlockQ5_K, BlockQ4_K>;
  constexpr int64_t kBlock = k4_block(kFifth), kScales = kFifth ? 160 : 128;
  uint16_t* d = reinterpret_cast<uint16_t*>(dst);
  for (int r = 0; r < 8; ++r) {
    if (rows[r] == nullptr) continue;
    Block blk;
    std::memcpy(&blk, rows[r] + s * sizeof(Block), sizeof blk);
    d[r] = blk.d;
    d[8 + r] = blk.dmin;
    for (int b = 0; b < 8; ++b) {
      uint8_t* block = dst + kK4Head + b * kBlock;
      uint8_t codes[32];
      for (int l = 0; l < 32; ++l) codes[l] = (blk.qs[32 * (b / 2) + l] >> (4 * (b % 2))) & 0x0f;
      for (int k = 0; k < 16; ++k) block[(k / 4) * 32 + r * 4 + k % 4] = static_cast<uint8_t>(codes[k] | (codes[k + 16] << 4));
      if constexpr (kFifth) {
        for (int c = 0; c < 4; ++c) {
          for (int k = 0; k < 4; ++k) {
            const uint32_t lo = (blk.qh[4 * c + k] >> b) & 1u, hi = (blk.qh[16 + 4 * c + k] >> b) & 1u;
            block[128 + r * 4 + k] = static_cast<uint8_t>(block[128 + r * 4 + k] | (lo << c) | (hi << (4 + c)));
          }
        }
      }
      k4_unpack(b, blk.scales, block[kScales + r], block[kScales + 8 + r]);
    }
  }
}

void pack_q6_k_super(const uint8_t* const rows[8], int64_t s, uint8_t* dst) {
  uint16_t* d = reinterpret_cast<uint16_t*>(dst);
  for (int r = 0; r < 8; ++r) {
    if (rows[r] == nullptr) continue;
    BlockQ6_K blk;
    std::memcpy(&blk, rows[r] + s * sizeof(BlockQ6_K), sizeof blk);
    d[r] = blk.d;
    for (int j = 0; j < 256; ++j) {
      const int half = j / 128, g = (j % 128) / 32, l = j % 32;
      const int low = (blk.ql[64 * half + 32 * (g & 1) + l] >> (4 * (g >> 1))) & 0x0f;
      const int high = (blk.qh[32 * half + l] >> (2 * g)) & 3;
      uint8_t* block = dst + kQ6KHead + (j / 32) * kQ6KBlock;
      const int col = j % 32, h = col / 16, c = (col % 16) / 4, k = col % 4;
      block[c * 32 + r * 4 + k] |= static_cast<uint8_t>(low << (4 * h));
      block[128 + h * 32 + r * 4 + k] |= static_cast<uint8_t>(high << (2 * c));
      block[192 + h * 8 + r] = static_cast<uint8_t>(blk.scales[j / 16]);
    }
  }
}

// 8 bytes as 8 f32 lanes (unsigned or signed).
inline __m256 bytes_u8(const uint8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}
inline __m256 bytes_s8(const uint8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}
inline __m256 halves8(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

template <int NT, bool kFifth>
void group_k4(const uint8_t* group, int64_t n_super, const QuantizedInput& xq, int64_t t0, float* y, int64_t rows,
              int64_t row0, int64_t valid) {
  constexpr int64_t kBlock = k4_block(kFifth), kSuper = k4_super(kFifth), kScales = kFifth ? 160 : 128;
  const int64_t cols = xq.cols, nb = cols / 32;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t sb = 0; sb < n_super; ++sb) {
    const uint8_t* super = group + sb * kSuper;
    const __m256 d = halves8(super), dmin = halves8(super + 16);
    for (int b = 0; b < 8; ++b) {
      const uint8_t* blk = super + kK4Head + b * kBlock;
      for (int64_t line = 0; line < kBlock; line += 64) prefetch_ahead(blk, line);
      const int64_t gb = sb * 8 + b;
      const int8_t* xb[NT];
      for (int t = 0; t < NT; ++t) xb[t] = xq.q.data() + (t0 + t) * cols + gb * 32;
      // Q4_K: one int16 sum per token for the whole block; Q5_K: one per two chunks.
      __m256i first[NT], second[NT];
      for (int t = 0; t < NT; ++t) first[t] = _mm256_setzero_si256();
      nibble_chunk<NT, kFifth, 0>(blk, xb, first);
      nibble_chunk<NT, kFifth, 1>(blk, xb, first);
      if constexpr (kFifth) {
        for (int t = 0; t < NT; ++t) second[t] = _mm256_setzero_si256();
      }
      nibble_chunk<NT, kFifth, 2>(blk, xb, kFifth ? second : first);
      nibble_chunk<NT, kFifth, 3>(blk, xb, kFifth ? second : first);
      const __m256 scale = _mm256_mul_ps(d, bytes_u8(blk + kScales));
      const __m256 min = _mm256_mul_ps(dmin, bytes_u8(blk + kScales + 8));
      for (int t = 0; t < NT; ++t) {
        const size_t at = static_cast<size_t>((t0 + t) * nb + gb);
        const float dx = xq.d[at];
        const __m256i dot32 = kFifth ? _mm256_add_epi32(_mm256_madd_epi16(first[t], ones), _mm256_madd_epi16(second[t], ones))
                                     : _mm256_madd_epi16(first[t], ones);
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot32), _mm256_mul_ps(scale, _mm256_set1_ps(dx)), acc[t]);
        acc[t] = _mm256_fnmadd_ps(min, _mm256_set1_ps(dx * static_cast<float>(xq.sum[at])), acc[t]);
      }
    }
  }
  for (int t = 0; t < NT; ++t) store_rows(y + (t0 + t) * rows + row0, acc[t], valid);
}

// Codes of chunk c: 4 low bits from the nibbles, bits 4-5 from bits 2c..2c+1 of the plane.
template <int C>
inline __m256i q6_codes(__m256i nibbles, __m256i plane) {
  __m256i high;
  if constexpr (C == 0) high = _mm256_slli_epi16(plane, 4);
  else if constexpr (C == 1) high = _mm256_slli_epi16(plane, 2);
  else if constexpr (C == 2) high = plane;
  else high = _mm256_srli_epi16(plane, 2);
  return _mm256_or_si256(nibbles, _mm256_and_si256(high, _mm256_set1_epi8(0x30)));
}

// Chunks C and C + 1 of a Q6_K block for NT tokens: each half's two maddubs summed in int16
// (<= 32004), widened and added to lo / hi.
template <int NT, int C>
inline void q6_chunk_pair(const uint8_t* blk, const int8_t* const xb[], __m256i lo[], __m256i hi[]) {
  const __m256i ones = _mm256_set1_epi16(1), low_mask = _mm256_set1_epi8(0x0f);
  const __m256i plane_lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 128));
  const __m256i plane_hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 160));
  const __m256i p0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + C * 32));
  const __m256i p1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + (C + 1) * 32));
  const __m256i lo0 = q6_codes<C>(_mm256_and_si256(p0, low_mask), plane_lo);
  const __m256i lo1 = q6_codes<C + 1>(_mm256_and_si256(p1, low_mask), plane_lo);
  const __m256i hi0 = q6_codes<C>(_mm256_and_si256(_mm256_srli_epi16(p0, 4), low_mask), plane_hi);
  const __m256i hi1 = q6_codes<C + 1>(_mm256_and_si256(_mm256_srli_epi16(p1, 4), low_mask), plane_hi);
  for (int t = 0; t < NT; ++t) {
    const __m256i l16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo0, broadcast_word(xb[t], C)),
                                         _mm256_maddubs_epi16(lo1, broadcast_word(xb[t], C + 1)));
    const __m256i h16 = _mm256_add_epi16(_mm256_maddubs_epi16(hi0, broadcast_word(xb[t], 4 + C)),
                                         _mm256_maddubs_epi16(hi1, broadcast_word(xb[t], 5 + C)));
    lo[t] = _mm256_add_epi32(lo[t], _mm256_madd_epi16(l16, ones));
    hi[t] = _mm256_add_epi32(hi[t], _mm256_madd_epi16(h16, ones));
  }
}

template <int NT>
void group_q6_k(const uint8_t* group, int64_t n_super, const QuantizedInput& xq, int64_t t0, float* y, int64_t rows,
                int64_t row0, int64_t valid) {
  const int64_t cols = xq.cols, nb = cols / 32;
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t sb = 0; sb < n_super; ++sb) {
    const uint8_t* super = group + sb * kQ6KSuper;
    const __m256 d = halves8(super);
    for (int b = 0; b < 8; ++b) {
      const uint8_t* blk = super + kQ6KHead + b * kQ6KBlock;
      for (int64_t line = 0; line < kQ6KBlock; line += 64) prefetch_ahead(blk, line);
      const int64_t gb = sb * 8 + b;
      const int8_t* xb[NT];
      __m256i lo[NT], hi[NT];
      for (int t = 0; t < NT; ++t) {
        const size_t at = static_cast<size_t>((t0 + t) * nb + gb);
        xb[t] = xq.q.data() + (t0 + t) * cols + gb * 32;
        lo[t] = _mm256_set1_epi32(-32 * xq.sum16[2 * at]);
        hi[t] = _mm256_set1_epi32(-32 * xq.sum16[2 * at + 1]);
      }
      q6_chunk_pair<NT, 0>(blk, xb, lo, hi);
      q6_chunk_pair<NT, 2>(blk, xb, lo, hi);
      const __m256 sc_lo = _mm256_mul_ps(d, bytes_s8(blk + 192));
      const __m256 sc_hi = _mm256_mul_ps(d, bytes_s8(blk + 200));
      for (int t = 0; t < NT; ++t) {
        const __m256 dx = _mm256_set1_ps(xq.d[static_cast<size_t>((t0 + t) * nb + gb)]);
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lo[t]), _mm256_mul_ps(sc_lo, dx), acc[t]);
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hi[t]), _mm256_mul_ps(sc_hi, dx), acc[t]);
      }
    }
  }
  for (int t = 0; t < NT; ++t) store_rows(y + (t0 + t) * rows + row0, acc[t], valid);
}

// k[n] = the kernel for n tokens per pass (1..4).
template <bool kFifth>
void k4_kernels(GroupKernel (&k)[5]) {
  k[1] = &group_k4<1, kFifth>;
  k[2] = &group_k4<2, kFifth>;
  k[3] = &group_k4<3, kFifth>;
  k[4] = &group_k4<4, kFifth>;
}

void q6_k_kernels(GroupKernel (&k)[5]) {
  k[1] = &group_q6_k<1>;
  k[2] = &group_q6_k<2>;
  k[3] = &group_q6_k<3>;
  k[4] = &group_q6_k<4>;
}

}  // namespace

bool packs_kquant(DType type) { return type == DType::Q4_K || type == DType::Q5_K || type == DType::Q6_K; }

void pack_kquant(const MatrixView& w, WeightMatrix& out) {
  if (w.cols % kQK_K != 0) fail("cannot pack {} rows of {} columns (not a multiple of {})", dtype_name(w.type), w.cols, kQK_K);
  const int64_t n_super = w.cols / kQK_K;
  const int64_t groups = (w.rows + kRowsPerGroup - 1) / kRowsPerGroup;
  const int64_t group_bytes = n_super * super_bytes(w.type);
  out.packed_bytes = static_cast<size_t>(groups * group_bytes);
  out.packed = allocate_aligned(out.packed_bytes);  // zero-filled
  out.row_granule = kRowsPerGroup;
  for (int64_t g = 0; g < groups; ++g) {
    const uint8_t* rows[8];
    group_rows(w, g, rows);
    uint8_t* dst = out.packed.get() + g * group_bytes;
    for (int64_t s = 0; s < n_super; ++s) {
      uint8_t* super = dst + s * super_bytes(w.type);
      if (w.type == DType::Q4_K) {
        pack_k4_super<false>(rows, s, super);
      } else if (w.type == DType::Q5_K) {
        pack_k4_super<true>(rows, s, super);
      } else {
        pack_q6_k_super(rows, s, super);
      }
    }
  }
}

void matmul_kquant(const WeightMatrix& w, const QuantizedInput& xq, int64_t n_tokens, float* y, int64_t row_begin,
                   int64_t row_end) {
  if (row_begin % kRowsPerGroup != 0) fail("row range must start at a multiple of {}", kRowsPerGroup);
  GroupKernel kernels[5] = {};  // by tokens per pass, 1..4
  switch (w.view.type) {
    case DType::Q4_K: k4_kernels<false>(kernels); break;
    case DType::Q5_K: k4_kernels<true>(kernels); break;
    case DType::Q6_K: q6_k_kernels(kernels); break;
    default: fail("no AVX2 K-quant kernel for {}", dtype_name(w.view.type));
  }
  const int64_t n_super = w.view.cols / kQK_K;
  run_groups(kernels, w.packed.get(), n_super * super_bytes(w.view.type), n_super, xq, n_tokens, y, w.view.rows,
             row_begin, row_end);
}

}  // namespace rpu::avx2

#include "target_end.h"
