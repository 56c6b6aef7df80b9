// Integer-format matmul with AVX-512 VNNI.
//
// Layout. Rows are packed in groups of 16; within a group, each 32-value block b of all 16
// rows is stored together, so one 64-byte load holds 4 consecutive weights of each of the
// 16 rows (lane r = row r) and _mm512_dpbusd_epi32 against 4 broadcast activation bytes
// advances all 16 dot products at once. Per group and block:
//   Q8_0: 8 chunks x 64 B of (q + 128) as u8 (chunk c = columns 4c..4c+3), then 16 f16 scales
//   Q4_0: 4 chunks x 64 B of the original nibble bytes (chunk c = bytes 4c..4c+3: low nibbles
//         are columns 4c..4c+3, high nibbles 16+4c..16+4c+3), then 16 f16 scales
//   Q5_0: as Q4_0, then 8 x 64-bit masks of the fifth bits (mask for chunk c, half h has bit
//         4r+k set when row r's column 16h+4c+k has its fifth bit), then 16 f16 scales
//   Q6_K: per 256-value super-block, 16 f16 d, then per 32 columns: 4 chunks x 64 B of the
//         low 4 bits arranged as Q4_0's nibbles (byte k = columns k and k+16), then 2 x 64 B
//         of the high 2 bits (plane h, byte 4r+k, bits 2c..2c+1 = row r's column 16h+4c+k),
//         then 16 int8 scales of the first 16 columns and 16 of the last 16
//   Q4_K: per 256-value super-block, 16 f16 d and 16 f16 dmin, then per 32 columns: 4 chunks
//         x 64 B of nibbles arranged as Q4_0's (byte k = columns k and k+16), then 16 6-bit
//         scales and 16 6-bit mins as bytes (2368 = 16 x 148 bytes per 256 columns)
//   Q5_K: as Q4_K with Q5_0's 8 x 64-bit fifth-bit masks after the nibbles of each 32 columns
//         (2880 = 16 x 180 bytes per 256 columns)
// The block sizes equal the originals (544 = 16x34, 288 = 16x18, 352 = 16x22, Q6_K 3360 =
// 16x210 per 256 columns), so decode reads exactly the bytes llama.cpp would: Q6_K is most
// often the tied output head, the largest single matrix of a small model, and keeping its
// codes at 6 bits (instead of one byte each, 30% more) is worth the in-register unpacking.
// Missing rows of a last partial group are zero.
//
// Arithmetic. Every format stores unsigned codes u with value = d * (u - z): z = 128, 8, 16.
// dpbusd(u8 codes, s8 activations) gives sum u*q exactly in int32; starting the accumulator
// at -z * sum(q) makes it sum (u - z) * q, which is then scaled by d_w * d_x in f32.
//
// Tiles. Decode (one token) is bound by the bytes read and walks one group at a time.
// Prefill is bound by the vector pipes: besides the 8 dpbusd per token and block, each
// needs the codes unpacked (3 ops per chunk, shared by the tile's tokens) and the f32
// scaling (convert, multiply, fused add per token, group and block). A tile of several
// groups x tokens per pass spreads the unpacking over more products and keeps enough
// independent dpbusd chains in flight to hide their latency (see tile_kernel).
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "avx512.h"
#include "core/error.h"
#include "core/fp16.h"
#include "kernels/blocks.h"

#include "target_begin.h"  // only the code below is compiled for AVX512

#include "int8_chunks.h"  // AVX-512 code itself: included after the target switch on purpose

namespace rpu::avx512 {
namespace {

struct Format {
  int64_t group_block_bytes;  // bytes per 16 rows x 32 columns
  int32_t zero_point;
};

Format format_of(DType type) {
  switch (type) {
    case DType::Q8_0: return {544, 128};
    case DType::Q4_0: return {288, 8};
    case DType::Q5_0: return {352, 16};
    case DType::Q6_K: return {420, 32};  // 3360 bytes per 256 columns = 420 per 32
    case DType::Q4_K: return {296, 0};   // 2368 bytes per 256 columns = 296 per 32
    case DType::Q5_K: return {360, 0};   // 2880 bytes per 256 columns = 360 per 32
    default: fail("no AVX-512 integer layout for {}", dtype_name(type));
  }
}

// Q6_K super-block s of 16 rows -> [16 f16 d][8 x (256 B nibbles, 2 x 64 B high-bit planes,
// 16 lo scales, 16 hi scales)] (3360 bytes).
void pack_q6_k_superblock(const uint8_t* const src_rows[16], int64_t s, uint8_t* dst) {
  uint16_t* d = reinterpret_cast<uint16_t*>(dst);
  for (int r = 0; r < 16; ++r) {
    if (src_rows[r] == nullptr) continue;
    BlockQ6_K blk;
    std::memcpy(&blk, src_rows[r] + s * sizeof(BlockQ6_K), sizeof blk);
    d[r] = blk.d;
    for (int j = 0; j < 256; ++j) {
      const int half = j / 128, g = (j % 128) / 32, l = j % 32;
      const int low = (blk.ql[64 * half + 32 * (g & 1) + l] >> (4 * (g >> 1))) & 0x0f;
      const int high = (blk.qh[32 * half + l] >> (2 * g)) & 3;
      uint8_t* block = dst + 32 + (j / 32) * 416;
      const int col = j % 32, h = col / 16, c = (col % 16) / 4, k = col % 4;
      block[c * 64 + r * 4 + k] |= static_cast<uint8_t>(low << (4 * h));
      block[256 + h * 64 + r * 4 + k] |= static_cast<uint8_t>(high << (2 * c));
      block[384 + h * 16 + r] = static_cast<uint8_t>(blk.scales[j / 16]);
    }
  }
}

// Q4_K / Q5_K super-block s of 16 rows -> [16 f16 d][16 f16 dmin] then per 32 columns
// [256 B nibbles][Q5_K only: 64 B fifth-bit masks][16 sc][16 m].
template <bool kFifthBit>
void pack_k4_superblock(const uint8_t* const src_rows[16], int64_t s, uint8_t* dst) {
  using Block = std::conditional_t<kFifthBit, BlockQ5_K, BlockQ4_K>;
  constexpr int64_t kBlockBytes = kFifthBit ? 352 : 288;
  constexpr int64_t kScales = kFifthBit ? 320 : 256;
  uint16_t* d = reinterpret_cast<uint16_t*>(dst);
  for (int r = 0; r < 16; ++r) {
    if (src_rows[r] == nullptr) continue;
    Block blk;
    std::memcpy(&blk, src_rows[r] + s * sizeof(Block), sizeof blk);
    d[r] = blk.d;
    d[16 + r] = blk.dmin;
    for (int b = 0; b < 8; ++b) {
      uint8_t* block = dst + 64 + b * kBlockBytes;
      uint8_t codes[32];
      for (int l = 0; l < 32; ++l) codes[l] = (blk.qs[32 * (b / 2) + l] >> (4 * (b % 2))) & 0x0f;
      for (int k = 0; k < 16; ++k) {
        block[(k / 4) * 64 + r * 4 + (k % 4)] = static_cast<uint8_t>(codes[k] | (codes[k + 16] << 4));
      }
      if constexpr (kFifthBit) {
        uint64_t masks[8];
        std::memcpy(masks, block + 256, sizeof masks);
        for (int l = 0; l < 32; ++l) {
          if ((blk.qh[l] >> b) & 1) masks[(l / 16) * 4 + (l % 16) / 4] |= uint64_t{1} << (4 * r + l % 4);
        }
        std::memcpy(block + 256, masks, sizeof masks);
      }
      k4_unpack(b, blk.scales, block[kScales + r], block[kScales + 16 + r]);
    }
  }
}

// Q4_K / Q5_K for NT tokens: sum over blocks of d*sc*dx*dot(q, xq) - dmin*m*dx*sum(xq).
template <int NT, bool kFifthBit>
void group_kernel_k4(const uint8_t* group, int64_t n_super, const QuantizedInput& xq, int64_t t0, float* y,
                       int64_t rows, int64_t row0) {
  const int64_t cols = xq.cols;
  constexpr int64_t kSuperBytes = kFifthBit ? 2880 : 2368;
  constexpr int64_t kBlockBytes = kFifthBit ? 352 : 288;
  constexpr int64_t kScales = kFifthBit ? 320 : 256;
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t sb = 0; sb < n_super; ++sb) {
    const uint8_t* super = group + sb * kSuperBytes;
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(super)));
    const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(super + 32)));
    for (int b = 0; b < 8; ++b) {
      const uint8_t* blk = super + 64 + b * kBlockBytes;
      const int64_t gb = sb * 8 + b;
      const int32_t* words[NT];
      __m512i dot[NT];
      for (int t = 0; t < NT; ++t) {
        words[t] = reinterpret_cast<const int32_t*>(xq.q.data() + (t0 + t) * cols + gb * 32);
        dot[t] = _mm512_setzero_si512();
      }
      for (int c = 0; c < 4; ++c) {
        __m512i lo, hi;
        split_nibbles(_mm512_loadu_si512(blk + c * 64), lo, hi);
        if constexpr (kFifthBit) add_fifth_bits(blk + 256, c, lo, hi);
        for (int t = 0; t < NT; ++t) {
          dot[t] = _mm512_dpbusd_epi32(dot[t], lo, _mm512_set1_epi32(words[t][c]));
          dot[t] = _mm512_dpbusd_epi32(dot[t], hi, _mm512_set1_epi32(words[t][4 + c]));
        }
      }
      const __m512 scale = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
                                                _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kScales)))));
      const __m512 min = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
                                                 _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kScales + 16)))));
      for (int t = 0; t < NT; ++t) {
        const size_t row = static_cast<size_t>((t0 + t) * cols / 32 + gb);
        const float dx = xq.d[row];
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[t]), _mm512_mul_ps(scale, _mm512_set1_ps(dx)), acc[t]);
        acc[t] = _mm512_fnmadd_ps(min, _mm512_set1_ps(dx * static_cast<float>(xq.sum[row])), acc[t]);
      }
    }
  }
  const int64_t valid = std::min<int64_t>(16, rows - row0);
  const __mmask16 store_mask = static_cast<__mmask16>((1u << valid) - 1u);
  for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(y + (t0 + t) * rows + row0, store_mask, acc[t]);
}

// Q6_K for NT tokens: per 32 columns, two 16-column halves with their own int8 scales.
template <int NT, int kChunk>
void q6_k_chunk(const uint8_t* blk, const int32_t* const words[NT], __m512i lo[NT], __m512i hi[NT]) {
  const __m512i low_mask = _mm512_set1_epi8(0x0f);
  const __m512i high_mask = _mm512_set1_epi8(0x30);
  const __m512i packed = _mm512_loadu_si512(blk + kChunk * 64);
  const __m512i w_lo = q6_codes<kChunk>(_mm512_and_si512(packed, low_mask), _mm512_loadu_si512(blk + 256), high_mask);
  const __m512i w_hi = q6_codes<kChunk>(_mm512_and_si512(_mm512_srli_epi16(packed, 4), low_mask),
                                        _mm512_loadu_si512(blk + 320), high_mask);
  for (int t = 0; t < NT; ++t) {
    lo[t] = _mm512_dpbusd_epi32(lo[t], w_lo, _mm512_set1_epi32(words[t][kChunk]));
    hi[t] = _mm512_dpbusd_epi32(hi[t], w_hi, _mm512_set1_epi32(words[t][kChunk + 4]));
  }
}

template <int NT>
void group_kernel_q6_k(const uint8_t* group, int64_t n_super, const QuantizedInput& xq, int64_t t0, float* y,
                       int64_t rows, int64_t row0) {
  const int64_t cols = xq.cols;
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t sb = 0; sb < n_super; ++sb) {
    const uint8_t* super = group + sb * 3360;
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(super)));
    for (int b = 0; b < 8; ++b) {
      const uint8_t* blk = super + 32 + b * 416;
      const int64_t gb = sb * 8 + b;  // 32-column block index in the row
      const int32_t* words[NT];
      __m512i lo[NT], hi[NT];
      for (int t = 0; t < NT; ++t) {
        const size_t row = static_cast<size_t>((t0 + t) * cols / 32 + gb);
        words[t] = reinterpret_cast<const int32_t*>(xq.q.data() + (t0 + t) * cols + gb * 32);
        lo[t] = _mm512_set1_epi32(-32 * xq.sum16[2 * row]);
        hi[t] = _mm512_set1_epi32(-32 * xq.sum16[2 * row + 1]);
      }
      q6_k_chunk<NT, 0>(blk, words, lo, hi);
      q6_k_chunk<NT, 1>(blk, words, lo, hi);
      q6_k_chunk<NT, 2>(blk, words, lo, hi);
      q6_k_chunk<NT, 3>(blk, words, lo, hi);
      const __m512 sc_lo = _mm512_mul_ps(
          d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 384)))));
      const __m512 sc_hi = _mm512_mul_ps(
          d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 400)))));
      for (int t = 0; t < NT; ++t) {
        const __m512 dx = _mm512_set1_ps(xq.d[static_cast<size_t>((t0 + t) * cols / 32 + gb)]);
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(lo[t]), _mm512_mul_ps(sc_lo, dx), acc[t]);
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(hi[t]), _mm512_mul_ps(sc_hi, dx), acc[t]);
      }
    }
  }
  const int64_t valid = std::min<int64_t>(16, rows - row0);
  const __mmask16 store_mask = static_cast<__mmask16>((1u << valid) - 1u);
  for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(y + (t0 + t) * rows + row0, store_mask, acc[t]);
}

// Q6_K for NT tokens from a group unpacked to one byte per code (unpack_q6_k_group): per 32
// columns, two 16-column halves with their own int8 scales.
template <int NT>
void group_kernel_q6_k_bytes(const uint8_t* group, int64_t n_super, const QuantizedInput& xq, int64_t t0, float* y,
                       int64_t rows, int64_t row0) {
  const int64_t cols = xq.cols;
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t sb = 0; sb < n_super; ++sb) {
    const uint8_t* super = group + sb * 4384;
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(super)));
    for (int b = 0; b < 8; ++b) {
      const uint8_t* blk = super + 32 + b * 544;
      const int64_t gb = sb * 8 + b;  // 32-column block index in the row
      const int32_t* words[NT];
      __m512i lo[NT], hi[NT];
      for (int t = 0; t < NT; ++t) {
        const size_t row = static_cast<size_t>((t0 + t) * cols / 32 + gb);
        words[t] = reinterpret_cast<const int32_t*>(xq.q.data() + (t0 + t) * cols + gb * 32);
        lo[t] = _mm512_set1_epi32(-32 * xq.sum16[2 * row]);
        hi[t] = _mm512_set1_epi32(-32 * xq.sum16[2 * row + 1]);
      }
      for (int c = 0; c < 4; ++c) {
        const __m512i w_lo = _mm512_loadu_si512(blk + c * 64);
        const __m512i w_hi = _mm512_loadu_si512(blk + (c + 4) * 64);
        for (int t = 0; t < NT; ++t) {
          lo[t] = _mm512_dpbusd_epi32(lo[t], w_lo, _mm512_set1_epi32(words[t][c]));
          hi[t] = _mm512_dpbusd_epi32(hi[t], w_hi, _mm512_set1_epi32(words[t][c + 4]));
        }
      }
      const __m512 sc_lo = _mm512_mul_ps(
          d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 512)))));
      const __m512 sc_hi = _mm512_mul_ps(
          d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 528)))));
      for (int t = 0; t < NT; ++t) {
        const __m512 dx = _mm512_set1_ps(xq.d[static_cast<size_t>((t0 + t) * cols / 32 + gb)]);
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(lo[t]), _mm512_mul_ps(sc_lo, dx), acc[t]);
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(hi[t]), _mm512_mul_ps(sc_hi, dx), acc[t]);
      }
    }
  }
  const int64_t valid = std::min<int64_t>(16, rows - row0);
  const __mmask16 store_mask = static_cast<__mmask16>((1u << valid) - 1u);
  for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(y + (t0 + t) * rows + row0, store_mask, acc[t]);
}

// A 16-row Q6_K group as one byte per code, for several tokens to share: per super-block
// [16 f16 d][8 x (8 chunks x 64 B codes, 16 lo scales, 16 hi scales)] (4384 bytes).
void unpack_q6_k_group(const uint8_t* group, int64_t n_super, uint8_t* out) {
  for (int64_t sb = 0; sb < n_super; ++sb) {
    const uint8_t* super = group + sb * 3360;
    uint8_t* dst = out + sb * 4384;
    std::memcpy(dst, super, 32);
    for (int b = 0; b < 8; ++b) {
      const uint8_t* blk = super + 32 + b * 416;
      uint8_t* o = dst + 32 + b * 544;
      unpack_q6_k_codes(blk, o);
      std::memcpy(o + 512, blk + 384, 32);
    }
  }
}

void pack_block(DType type, const uint8_t* const src_rows[16], int64_t b, uint8_t* dst) {
  uint16_t* scales = nullptr;
  switch (type) {
    case DType::Q8_0: {
      for (int r = 0; r < 16; ++r) {
        if (src_rows[r] == nullptr) continue;
        const auto* blk = reinterpret_cast<const BlockQ8_0*>(src_rows[r]) + b;
        for (int c = 0; c < 8; ++c) {
          for (int k = 0; k < 4; ++k) dst[c * 64 + r * 4 + k] = static_cast<uint8_t>(blk->qs[4 * c + k] + 128);
        }
      }
      scales = reinterpret_cast<uint16_t*>(dst + 512);
      for (int r = 0; r < 16; ++r) {
        scales[r] = src_rows[r] ? reinterpret_cast<const BlockQ8_0*>(src_rows[r])[b].d : 0;
      }
      return;
    }
    case DType::Q4_0: {
      for (int r = 0; r < 16; ++r) {
        if (src_rows[r] == nullptr) continue;
        const auto* blk = reinterpret_cast<const BlockQ4_0*>(src_rows[r]) + b;
        for (int c = 0; c < 4; ++c) std::memcpy(dst + c * 64 + r * 4, blk->qs + 4 * c, 4);
      }
      scales = reinterpret_cast<uint16_t*>(dst + 256);
      for (int r = 0; r < 16; ++r) {
        scales[r] = src_rows[r] ? reinterpret_cast<const BlockQ4_0*>(src_rows[r])[b].d : 0;
      }
      return;
    }
    case DType::Q5_0: {
      uint64_t masks[8] = {};
      for (int r = 0; r < 16; ++r) {
        if (src_rows[r] == nullptr) continue;
        const auto* blk = reinterpret_cast<const BlockQ5_0*>(src_rows[r]) + b;
        for (int c = 0; c < 4; ++c) std::memcpy(dst + c * 64 + r * 4, blk->qs + 4 * c, 4);
        uint32_t qh;
        std::memcpy(&qh, blk->qh, 4);
        for (int h = 0; h < 2; ++h) {
          for (int c = 0; c < 4; ++c) {
            for (int k = 0; k < 4; ++k) {
              if ((qh >> (16 * h + 4 * c + k)) & 1u) masks[h * 4 + c] |= uint64_t{1} << (4 * r + k);
            }
          }
        }
      }
      std::memcpy(dst + 256, masks, sizeof(masks));
      scales = reinterpret_cast<uint16_t*>(dst + 320);
      for (int r = 0; r < 16; ++r) {
        scales[r] = src_rows[r] ? reinterpret_cast<const BlockQ5_0*>(src_rows[r])[b].d : 0;
      }
      return;
    }
    default: fail("no AVX-512 integer layout for {}", dtype_name(type));
  }
}

// Codes of one 64-byte chunk of a 16-row block as u8 operands for dpbusd: Q8_0's chunk as it
// is (columns 4c..4c+3); Q4_0 / Q5_0's low nibbles (columns 4c..) and high nibbles (16+4c..),
// with Q5_0's fifth bit added where its mask has it.
template <DType kType>
void unpack_chunk(const uint8_t* blk, int c, __m512i& lo, __m512i& hi) {
  const __m512i packed = _mm512_loadu_si512(blk + c * 64);
  if constexpr (kType == DType::Q8_0) {
    lo = packed;
    return;
  }
  split_nibbles(packed, lo, hi);
  if constexpr (kType == DType::Q5_0) add_fifth_bits(blk + 256, c, lo, hi);
}

// The packed layout of a 16-row block per format: its bytes, its 64-byte chunks of codes, and
// the word of a chunk's high-nibble columns (0: one byte per code, no high half).
template <DType kType>
struct PackedBlock {
  static constexpr int64_t kBytes = kType == DType::Q8_0 ? 544 : kType == DType::Q4_0 ? 288 : 352;
  static constexpr int kChunks = kType == DType::Q8_0 ? 8 : 4;
  static constexpr int kHalf = kType == DType::Q8_0 ? 0 : 4;
};

// Block b's integer dots for NG 16-row groups x NT tokens (rows token[t] of xq): each starts at
// the token's zero-point correction zsum[token * nb + b]; every unpacked weight chunk feeds NT
// tokens and every activation word NG groups. A token's arithmetic is the same in every tile
// shape (batch invariance).
template <DType kType, int NG, int NT>
inline __attribute__((always_inline)) void block_dots(const uint8_t* group0, int64_t group_bytes, int64_t nb, int64_t b,
                                                      const QuantizedInput& xq, const int32_t* zsum,
                                                      const int64_t (&token)[NT], __m512i (&dot)[NG][NT]) {
  using Block = PackedBlock<kType>;
  const int32_t* words[NT];  // token t's block b as 8 int32 words of 4 activations
  for (int t = 0; t < NT; ++t) {
    words[t] = reinterpret_cast<const int32_t*>(xq.q.data() + token[t] * xq.cols + b * 32);
    const __m512i start = _mm512_set1_epi32(zsum[token[t] * nb + b]);
    for (int g = 0; g < NG; ++g) dot[g][t] = start;
  }
  for (int c = 0; c < Block::kChunks; ++c) {
    __m512i lo[NG], hi[NG];
    for (int g = 0; g < NG; ++g) unpack_chunk<kType>(group0 + g * group_bytes + b * Block::kBytes, c, lo[g], hi[g]);
    for (int t = 0; t < NT; ++t) {
      const __m512i x_lo = _mm512_set1_epi32(words[t][c]);
      for (int g = 0; g < NG; ++g) dot[g][t] = _mm512_dpbusd_epi32(dot[g][t], lo[g], x_lo);
      if constexpr (Block::kHalf != 0) {
        const __m512i x_hi = _mm512_set1_epi32(words[t][Block::kHalf + c]);
        for (int g = 0; g < NG; ++g) dot[g][t] = _mm512_dpbusd_epi32(dot[g][t], hi[g], x_hi);
      }
    }
  }
}

// Lines [begin, end) a tile requests into L2, lines_per_block of them before each block's
// products (none by default).
struct LinePrefetch {
  const uint8_t* begin = nullptr;
  int64_t lines_per_block = 0;
  const uint8_t* end = nullptr;
};

// Y rows of NG consecutive 16-row groups (group g at group0 + g * group_bytes) for NT tokens
// from t0 (tokens past n_valid repeat the last valid one and are not stored), optionally
// requesting `prefetch`'s lines: a tile of NG x NT accumulators [16 rows] each. Every unpacked
// weight chunk feeds NT tokens and every activation word NG groups, so the unpacking and the
// scale arithmetic per product shrink as the tile grows (NG = 1, NT = 1 is decode).
// zsum[t * nb + b] = -z * sum(q) of token t's block b starts each integer dot at the zero-point
// correction. Specialised per format so the inner loop has no branches.
template <DType kType, int NG, int NT>
void tile_kernel(const uint8_t* group0, int64_t group_bytes, int64_t nb, const QuantizedInput& xq,
                 const int32_t* zsum, int64_t t0, float* y, int64_t rows, int64_t row0, int64_t n_valid = NT,
                 LinePrefetch prefetch = {}) {
  constexpr int64_t kBlockBytes = PackedBlock<kType>::kBytes;
  __m512 acc[NG][NT];
  for (int g = 0; g < NG; ++g) {
    for (int t = 0; t < NT; ++t) acc[g][t] = _mm512_setzero_ps();
  }
  int64_t token[NT];  // the tile's tokens, padding repeating the last valid one
  for (int t = 0; t < NT; ++t) token[t] = t0 + std::min<int64_t>(t, n_valid - 1);
  for (int64_t b = 0; b < nb; ++b) {
    for (int64_t l = 0; l < prefetch.lines_per_block; ++l) {
      const uint8_t* line = prefetch.begin + (b * prefetch.lines_per_block + l) * 64;
      if (line < prefetch.end) _mm_prefetch(reinterpret_cast<const char*>(line), _MM_HINT_T1);
    }
    __m512i dot[NG][NT];
    block_dots<kType, NG, NT>(group0, group_bytes, nb, b, xq, zsum, token, dot);
    for (int g = 0; g < NG; ++g) {
      const uint8_t* scale_bytes = group0 + g * group_bytes + b * kBlockBytes + (kBlockBytes - 32);
      const __m512 scales = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(scale_bytes)));
      for (int t = 0; t < NT; ++t) {
        const __m512 dx = _mm512_set1_ps(xq.d[static_cast<size_t>(token[t] * nb + b)]);
        acc[g][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[g][t]), _mm512_mul_ps(scales, dx), acc[g][t]);
      }
    }
  }
  for (int g = 0; g < NG; ++g) {
    const int64_t valid = std::min<int64_t>(16, rows - row0 - 16 * g);
    const __mmask16 store_mask = static_cast<__mmask16>((1u << valid) - 1u);
    for (int t = 0; t < n_valid; ++t) _mm512_mask_storeu_ps(y + (t0 + t) * rows + row0 + 16 * g, store_mask, acc[g][t]);
  }
}

// A decode step of 2-16 tokens against a panel of NG groups: 4-token tile_kernel passes over
// the panel (a last pass of 2-3 tokens padded: 4 tokens in the register tile take about the
// time of 2 alone; a last single token alone). The first pass reads the panel from L2, where
// the previous panel's passes requested it, and every pass requests its share of the next
// panel's lines [next, next_end) from DRAM into L2 (prefetcht1; one core's L1 tracks too few
// outstanding misses to cover DRAM latency while it computes, L2 tracks more). So the weights
// stream at the pace of the whole step's compute, each byte read from DRAM once, and the float
// accumulators stay in registers. Measured on the Qwen2.5-0.5B Q8_0 shape, 2 threads (`rpu
// bench -p 0 -n 32 -b 8,16`, binaries alternated; bench/RESULTS.md "Decode batches, round two"):
// 8 sequences 272-291 t/s with the former sweep of all tokens per block (accumulators in memory,
// L1 requests 4 blocks ahead), 313-368 with that sweep plus L2 requests 16 blocks ahead, 344-416
// with these passes; 16 sequences 380-442, 369-459 and 400-515. The next panel requested in the
// first pass alone: 335-342 (8); the panel after next: no better. Two panels of the largest
// matrices (Llama-3.2-1B's 8192-column FFN down, Q8_0: 2 x 418 KB) still fit a Zen 4 core's
// 1 MB L2.
template <DType kType, int NG>
void panel_passes(const uint8_t* group0, int64_t group_bytes, int64_t nb, const QuantizedInput& xq,
                  const int32_t* zsum, int64_t n_tokens, float* y, int64_t rows, int64_t row0, const uint8_t* next,
                  const uint8_t* next_end) {
  const int64_t passes = (n_tokens + 3) / 4;
  const int64_t lines = (next_end - next + 63) / 64;
  const int64_t lines_per_pass = (lines + passes - 1) / passes;
  const int64_t lines_per_block = (lines_per_pass + nb - 1) / nb;
  for (int64_t p = 0; p < passes; ++p) {
    const int64_t t0 = 4 * p;
    const uint8_t* begin = next + p * lines_per_pass * 64;
    const LinePrefetch prefetch{begin, lines_per_block, std::min(next_end, begin + lines_per_pass * 64)};
    const int64_t valid = std::min<int64_t>(4, n_tokens - t0);
    if (valid == 1) {
      tile_kernel<kType, NG, 1>(group0, group_bytes, nb, xq, zsum, t0, y, rows, row0, 1, prefetch);
    } else {
      tile_kernel<kType, NG, 4>(group0, group_bytes, nb, xq, zsum, t0, y, rows, row0, valid, prefetch);
    }
  }
}

// One token: codes unpacked in registers, 6 bits read per weight (decode is bound by the
// bytes read). Several: each group unpacked once to bytes that all tokens then share.
void matmul_q6_k(const WeightMatrix& w, const QuantizedInput& xq, int64_t n_tokens, float* y, int64_t row_begin,
                 int64_t row_end) {
  if (n_tokens > kKQuantPromptTokens) return matmul_kquant_prompt(w, xq, n_tokens, y, row_begin, row_end);
  const int64_t n_super = w.view.cols / 256;
  thread_local std::vector<uint8_t> unpacked;  // per thread, grown once
  if (n_tokens > 1 && unpacked.size() < static_cast<size_t>(n_super * 4384)) unpacked.resize(static_cast<size_t>(n_super * 4384));
  for (int64_t row0 = row_begin; row0 < row_end; row0 += kRowsPerGroup) {
    const uint8_t* group = w.packed.get() + (row0 / kRowsPerGroup) * n_super * 3360;
    if (n_tokens == 1) {
      group_kernel_q6_k<1>(group, n_super, xq, 0, y, w.view.rows, row0);
      continue;
    }
    unpack_q6_k_group(group, n_super, unpacked.data());
    int64_t t = 0;
    for (; t + 4 <= n_tokens; t += 4) group_kernel_q6_k_bytes<4>(unpacked.data(), n_super, xq, t, y, w.view.rows, row0);
    for (; t < n_tokens; ++t) group_kernel_q6_k_bytes<1>(unpacked.data(), n_super, xq, t, y, w.view.rows, row0);
  }
}

template <bool kFifthBit>
void matmul_k4(const WeightMatrix& w, const QuantizedInput& xq, int64_t n_tokens, float* y, int64_t row_begin,
               int64_t row_end) {
  if (n_tokens > kKQuantPromptTokens) return matmul_kquant_prompt(w, xq, n_tokens, y, row_begin, row_end);
  const int64_t n_super = w.view.cols / 256;
  const int64_t super_bytes = kFifthBit ? 2880 : 2368;
  for (int64_t row0 = row_begin; row0 < row_end; row0 += kRowsPerGroup) {
    const uint8_t* group = w.packed.get() + (row0 / kRowsPerGroup) * n_super * super_bytes;
    int64_t t = 0;
    for (; t + 4 <= n_tokens; t += 4) group_kernel_k4<4, kFifthBit>(group, n_super, xq, t, y, w.view.rows, row0);
    for (; t < n_tokens; ++t) group_kernel_k4<1, kFifthBit>(group, n_super, xq, t, y, w.view.rows, row0);
  }
}

// -z * sum(q) per token and block (z = the format's zero point), the start of every integer
// dot: a broadcast load in the tile instead of a multiply and a register broadcast per token.
const int32_t* zero_point_starts(const QuantizedInput& xq, int64_t n_tokens, int32_t z) {
  thread_local std::vector<int32_t> starts;  // per thread, grown once
  const size_t n = static_cast<size_t>(n_tokens * (xq.cols / 32));
  if (starts.size() < n) starts.resize(n);
  for (size_t i = 0; i < n; ++i) starts[i] = -z * xq.sum[i];
  return starts.data();
}

// All tokens against NG groups from row0: tiles of kTileTokens tokens, then 4, then single
// tokens for the remainder.
template <DType kType, int NG, int kTileTokens>
void token_tiles(const uint8_t* group0, int64_t group_bytes, int64_t nb, const QuantizedInput& xq,
                 const int32_t* zsum, int64_t n_tokens, float* y, int64_t rows, int64_t row0) {
  int64_t t = 0;
  for (; t + kTileTokens <= n_tokens; t += kTileTokens) {
    tile_kernel<kType, NG, kTileTokens>(group0, group_bytes, nb, xq, zsum, t, y, rows, row0);
  }
  if constexpr (kTileTokens > 4) {
    for (; t + 4 <= n_tokens; t += 4) tile_kernel<kType, NG, 4>(group0, group_bytes, nb, xq, zsum, t, y, rows, row0);
  }
  for (; t < n_tokens; ++t) tile_kernel<kType, NG, 1>(group0, group_bytes, nb, xq, zsum, t, y, rows, row0);
}

// Prefill tile: up to 3 groups (48 rows) by 4 tokens: 12 integer and 12 float accumulators.
// Each activation word is broadcast once for all the tile's groups: with one group per pass
// the broadcast loads (one per dpbusd) saturate the 512-bit load ports before the dpbusd
// pipes are busy (measured on Zen 5: 1 group x 8 tokens gains nothing over 1 x 4; 2 x 4
// gains 30%; 3 x 4 is the best shape that fits the 32 registers). Decode (one token) keeps
// one group at a time: it is bound by the bytes read.
constexpr int kPrefillGroups = 3;
constexpr int kPrefillTokens = 4;
// Steps of 2..kStreamTokens tokens (decode batches) take panel_passes: the weights streamed into
// L2 while the passes compute, memory-bound at these sizes. Larger ones (prefill) are
// compute-bound: token_tiles.
constexpr int64_t kStreamTokens = 16;
// ...unless the matrix fits in a core's L2 (a small model's matrices, e.g. the built-in 4.8M
// model's 768 x 256 Q8_0 FFN, 208 KB): read from cache, not DRAM, so token_tiles computes the
// same sums without the prefetches (a 4-token decode lane of the built-in model: see
// bench/RESULTS.md "Decode lanes").
constexpr size_t kCacheResidentBytes = size_t{512} << 10;

// f(std::integral_constant<int, NG>) for a run-time count of 1-3 groups: the tiles take NG as
// a template argument.
template <typename F>
inline void with_groups(int64_t groups, F&& f) {
  if (groups == 3) {
    f(std::integral_constant<int, 3>{});
  } else if (groups == 2) {
    f(std::integral_constant<int, 2>{});
  } else {
    f(std::integral_constant<int, 1>{});
  }
}

// Prompts of more than kStreamTokens tokens through Q5_0 matrices: each panel's codes
// are unpacked once into Q8_0's layout (u8 codes, chunk c = columns 4c..4c+3, then the 16 f16
// scales) and the Q8_0 tile runs over them, so the 3-7 unpacking operations per chunk and group
// (shift and masks, Q5_0's fifth-bit mask loads and adds) are paid once per panel instead of
// once per 4-token pass. The zero point stays the format's (zsum), and each integer dot is the
// same exact sum of (u - z) * q, so every output is bit for bit the packed tile's.
template <DType kType>
void unpack_panel_to_q8(const uint8_t* group0, int64_t group_bytes, int64_t nb, int64_t groups, uint8_t* dst) {
  constexpr int64_t kSrcBytes = PackedBlock<kType>::kBytes, kDstBytes = PackedBlock<DType::Q8_0>::kBytes;
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* src = group0 + g * group_bytes + b * kSrcBytes;
      uint8_t* out = dst + (g * nb + b) * kDstBytes;
      unpack_nibble_codes<kType == DType::Q5_0>(src, out);
      std::memcpy(out + kDstBytes - 32, src + kSrcBytes - 32, 32);
    }
  }
}

template <DType kType>
void matmul_type(const WeightMatrix& w, const QuantizedInput& xq, int64_t n_tokens, float* y, int64_t row_begin,
                 int64_t row_end) {
  static_assert(kPrefillGroups == 3, "the tile dispatch below covers 1-3 groups");
  const int64_t nb = w.view.cols / 32;
  const int64_t group_bytes = nb * format_of(kType).group_block_bytes;
  const int32_t* zsum = zero_point_starts(xq, n_tokens, format_of(kType).zero_point);
  const int64_t rows = w.view.rows;
  const bool prefill = n_tokens >= kPrefillTokens;
  const bool stream = n_tokens >= 2 && n_tokens <= kStreamTokens && w.packed_bytes > kCacheResidentBytes;
  constexpr bool kUnpacks = kType == DType::Q5_0;  // Q4_0 measured no faster unpacked (bench_kernels)
  for (int64_t row0 = row_begin; row0 < row_end;) {
    const uint8_t* group0 = w.packed.get() + (row0 / kRowsPerGroup) * group_bytes;
    const int64_t groups_left = (row_end - row0 + kRowsPerGroup - 1) / kRowsPerGroup;
    const int64_t groups = prefill || stream ? std::min<int64_t>(groups_left, kPrefillGroups) : 1;
    if (stream) {
      const int64_t next_groups = std::min<int64_t>(groups_left - groups, kPrefillGroups);
      const uint8_t* next = group0 + groups * group_bytes;
      const uint8_t* next_end = next + next_groups * group_bytes;
      with_groups(groups, [&](auto ng) {
        panel_passes<kType, ng()>(group0, group_bytes, nb, xq, zsum, n_tokens, y, rows, row0, next, next_end);
      });
    } else if constexpr (kUnpacks) {
      if (n_tokens > kStreamTokens) {
        thread_local std::vector<uint8_t> unpacked;  // per thread, grown once: one panel in Q8_0's layout
        const int64_t q8_group_bytes = nb * PackedBlock<DType::Q8_0>::kBytes;
        if (unpacked.size() < static_cast<size_t>(kPrefillGroups * q8_group_bytes)) {
          unpacked.resize(static_cast<size_t>(kPrefillGroups * q8_group_bytes));
        }
        unpack_panel_to_q8<kType>(group0, group_bytes, nb, groups, unpacked.data());
        with_groups(groups, [&](auto ng) {
          token_tiles<DType::Q8_0, ng(), kPrefillTokens>(unpacked.data(), q8_group_bytes, nb, xq, zsum, n_tokens, y, rows, row0);
        });
      } else {
        with_groups(groups, [&](auto ng) {
          token_tiles<kType, ng(), kPrefillTokens>(group0, group_bytes, nb, xq, zsum, n_tokens, y, rows, row0);
        });
      }
    } else {
      with_groups(groups, [&](auto ng) {
        token_tiles<kType, ng(), kPrefillTokens>(group0, group_bytes, nb, xq, zsum, n_tokens, y, rows, row0);
      });
    }
    row0 += groups * kRowsPerGroup;
  }
}

}  // namespace

bool packs_int8(DType type) {
  return type == DType::Q8_0 || type == DType::Q4_0 || type == DType::Q5_0 || type == DType::Q4_K ||
         type == DType::Q5_K || type == DType::Q6_K;
}

void pack_int8(const MatrixView& w, WeightMatrix& out) {
  const Format format = format_of(w.type);
  const int64_t nb = w.cols / 32;
  const int64_t groups = (w.rows + kRowsPerGroup - 1) / kRowsPerGroup;
  out.packed_bytes = static_cast<size_t>(groups * nb * format.group_block_bytes);
  out.packed = allocate_aligned(out.packed_bytes);
  out.row_granule = kRowsPerGroup;
  // matmul_type's prefill tiles span kPrefillGroups groups, the K-quant prompt tiles a panel.
  const bool group_tiles = w.type == DType::Q8_0 || w.type == DType::Q4_0 || w.type == DType::Q5_0;
  out.tile_rows = group_tiles ? kRowsPerGroup * kPrefillGroups : kquant_panel_rows(w.type);
  for (int64_t g = 0; g < groups; ++g) {
    const uint8_t* rows[16];
    for (int r = 0; r < 16; ++r) {
      const int64_t row = g * kRowsPerGroup + r;
      rows[r] = row < w.rows ? w.row(row) : nullptr;
    }
    uint8_t* dst = out.packed.get() + g * nb * format.group_block_bytes;
    if (w.type == DType::Q6_K) {
      for (int64_t s = 0; s < nb / 8; ++s) pack_q6_k_superblock(rows, s, dst + s * 3360);
      continue;
    }
    if (w.type == DType::Q4_K) {
      for (int64_t s = 0; s < nb / 8; ++s) pack_k4_superblock<false>(rows, s, dst + s * 2368);
      continue;
    }
    if (w.type == DType::Q5_K) {
      for (int64_t s = 0; s < nb / 8; ++s) pack_k4_superblock<true>(rows, s, dst + s * 2880);
      continue;
    }
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* block = dst + b * format.group_block_bytes;
      // Absent rows must read as value 0: Q8_0's zero code is 128 (the others have scale 0).
      if (w.type == DType::Q8_0) std::memset(block, 128, 512);
      pack_block(w.type, rows, b, block);
    }
  }
}

void matmul_int8(const WeightMatrix& w, const QuantizedInput& xq, int64_t n_tokens, float* y, int64_t row_begin,
                 int64_t row_end) {
  if (row_begin % kRowsPerGroup != 0) fail("row range must start at a multiple of {}", kRowsPerGroup);
  switch (w.view.type) {
    case DType::Q8_0: return matmul_type<DType::Q8_0>(w, xq, n_tokens, y, row_begin, row_end);
    case DType::Q4_0: return matmul_type<DType::Q4_0>(w, xq, n_tokens, y, row_begin, row_end);
    case DType::Q5_0: return matmul_type<DType::Q5_0>(w, xq, n_tokens, y, row_begin, row_end);
    case DType::Q6_K: return matmul_q6_k(w, xq, n_tokens, y, row_begin, row_end);
    case DType::Q4_K: return matmul_k4<false>(w, xq, n_tokens, y, row_begin, row_end);
    case DType::Q5_K: return matmul_k4<true>(w, xq, n_tokens, y, row_begin, row_end);
    default: fail("no AVX-512 integer kernel for {}", dtype_name(w.view.type));
  }
}

}  // namespace rpu::avx512

#include "target_end.h"
