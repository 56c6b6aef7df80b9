// Integer-format matmul with AVX2 (no VNNI): _mm256_maddubs_epi16 + _mm256_madd_epi16.
//
// Layout. Rows are packed in groups of 8; within a group, each 32-value block b of all 8 rows
// is stored together, so one 32-byte load holds 4 consecutive weights of each of the 8 rows
// (32-bit lane r = row r) and is multiplied against 4 activation bytes broadcast to every
// lane. Per group and block:
//   Q8_0: 8 chunks x 32 B of the signed weights (chunk c = columns 4c..4c+3), then 8 f16 scales
//   Q4_0: 4 chunks x 32 B of the original nibble bytes (chunk c = bytes 4c..4c+3: low nibbles
//         are columns 4c..4c+3, high nibbles 16+4c..16+4c+3), then 8 f16 scales
//   Q5_0: as Q4_0, then one 32-byte plane of fifth bits (byte 4r+k: bit c is the fifth bit of
//         row r's column 4c+k, bit 4+c that of column 16+4c+k), then 8 f16 scales
// The block sizes equal the originals (272 = 8x34, 144 = 8x18, 176 = 8x22), so decode reads
// exactly the bytes of the file. Missing rows of a last partial group are zero (scale 0).
//
// Arithmetic. maddubs multiplies unsigned by signed bytes and adds adjacent pairs into
// int16 with saturation, so every pair sum must stay within +-32767:
//   Q8_0: signed weights w in -128..127, activations q in -127..127. The operands are |w|
//         (0..128, unsigned) and q with w's sign applied (_mm256_sign_epi8, -127..127, never
//         -128 since |q| <= 127, zero where w = 0); |w| * sign(q, w) = w * q and a pair is at
//         most 2 * 128 * 127 = 32512. (Signing the weights instead would turn w = -128 into
//         -128 again for negative q.) Each maddubs is widened at once by madd with ones.
//   Q4_0 / Q5_0: unsigned codes u (0..15 / 0..31) times q: pairs at most 3810 / 7874, so 8 /
//         4 maddubs results are summed in int16 before one madd widens them. The value is
//         d * (u - z) with z = 8 / 16: the int32 dot sum u*q is corrected by -z * sum(q).
// The int32 dot of each block is then scaled by d_w * d_x in f32.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "avx2.h"
#include "core/error.h"
#include "kernels/blocks.h"

#include "target_begin.h"  // only the code below is compiled for AVX2

#include "int8_common.h"  // AVX2 code itself: included after the target switch on purpose

namespace rpu::avx2 {
namespace {

struct Format {
  int64_t group_block_bytes;  // bytes per 8 rows x 32 columns
  int32_t zero_point;
};

Format format_of(DType type) {
  switch (type) {
    case DType::Q8_0: return {272, 0};
    case DType::Q4_0: return {144, 8};
    case DType::Q5_0: return {176, 16};
    default: fail("no AVX2 integer layout for {}", dtype_name(type));
  }
}

template <typename Block>
const Block* block_of(const uint8_t* row, int64_t b) {
  return reinterpret_cast<const Block*>(row) + b;
}

void pack_block(DType type, const uint8_t* const src_rows[8], int64_t b, uint8_t* dst) {
  uint16_t scales[8] = {};
  switch (type) {
    case DType::Q8_0: {
      for (int r = 0; r < 8; ++r) {
        if (src_rows[r] == nullptr) continue;
        const auto* blk = block_of<BlockQ8_0>(src_rows[r], b);
        for (int c = 0; c < 8; ++c) std::memcpy(dst + c * 32 + r * 4, blk->qs + 4 * c, 4);
        scales[r] = blk->d;
      }
      std::memcpy(dst + 256, scales, sizeof scales);
      return;
    }
    case DType::Q4_0: {
      for (int r = 0; r < 8; ++r) {
        if (src_rows[r] == nullptr) continue;
        const auto* blk = block_of<BlockQ4_0>(src_rows[r], b);
        for (int c = 0; c < 4; ++c) std::memcpy(dst + c * 32 + r * 4, blk->qs + 4 * c, 4);
        scales[r] = blk->d;
      }
      std::memcpy(dst + 128, scales, sizeof scales);
      return;
    }
    case DType::Q5_0: {
      uint8_t* plane = dst + 128;
      for (int r = 0; r < 8; ++r) {
        if (src_rows[r] == nullptr) continue;
        const auto* blk = block_of<BlockQ5_0>(src_rows[r], b);
        for (int c = 0; c < 4; ++c) std::memcpy(dst + c * 32 + r * 4, blk->qs + 4 * c, 4);
        uint32_t qh;
        std::memcpy(&qh, blk->qh, 4);
        for (int c = 0; c < 4; ++c) {
          for (int k = 0; k < 4; ++k) {
            const uint32_t lo = (qh >> (4 * c + k)) & 1u, hi = (qh >> (16 + 4 * c + k)) & 1u;
            plane[r * 4 + k] = static_cast<uint8_t>(plane[r * 4 + k] | (lo << c) | (hi << (4 + c)));
          }
        }
        scales[r] = blk->d;
      }
      std::memcpy(dst + 160, scales, sizeof scales);
      return;
    }
    default: fail("no AVX2 integer layout for {}", dtype_name(type));
  }
}

// Y rows of one 8-row group for NT tokens. Specialised per format so the inner loop has no
// branches; NT tokens share each weight load and unpack (prefill), NT = 1 is decode.
template <DType kType, int NT>
void group_kernel(const uint8_t* group, int64_t nb, const QuantizedInput& xq, int64_t t0, float* y, int64_t rows,
                  int64_t row0, int64_t valid) {
  constexpr int64_t kBlockBytes = kType == DType::Q8_0 ? 272 : kType == DType::Q4_0 ? 144 : 176;
  constexpr int32_t kZero = kType == DType::Q8_0 ? 0 : kType == DType::Q4_0 ? 8 : 16;
  const int64_t cols = xq.cols;
  const int8_t* xrow[NT];
  const float* xd[NT];
  const int32_t* xsum[NT];
  for (int t = 0; t < NT; ++t) {
    xrow[t] = xq.q.data() + (t0 + t) * cols;
    xd[t] = xq.d.data() + (t0 + t) * nb;
    xsum[t] = xq.sum.data() + (t0 + t) * nb;
  }
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + b * kBlockBytes;
    for (int64_t line = 0; line < kBlockBytes; line += 64) prefetch_ahead(blk, line);
    const int8_t* xb[NT];
    for (int t = 0; t < NT; ++t) xb[t] = xrow[t] + b * 32;
    __m256i dot[NT];
    if constexpr (kType == DType::Q8_0) {
      for (int t = 0; t < NT; ++t) dot[t] = _mm256_setzero_si256();
      for (int c = 0; c < 8; ++c) {
        const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + c * 32));
        const __m256i aw = _mm256_abs_epi8(w);
        for (int t = 0; t < NT; ++t) {
          const __m256i sx = _mm256_sign_epi8(broadcast_word(xb[t], c), w);
          dot[t] = _mm256_add_epi32(dot[t], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sx), ones));
        }
        pin(dot);
      }
    } else {
      // Q4_0: one int16 sum per token for the whole block; Q5_0: one per two chunks.
      constexpr bool kFifth = kType == DType::Q5_0;
      __m256i first[NT], second[NT];
      for (int t = 0; t < NT; ++t) first[t] = second[t] = _mm256_setzero_si256();
      nibble_chunk<NT, kFifth, 0>(blk, xb, first);
      nibble_chunk<NT, kFifth, 1>(blk, xb, first);
      nibble_chunk<NT, kFifth, 2>(blk, xb, kFifth ? second : first);
      nibble_chunk<NT, kFifth, 3>(blk, xb, kFifth ? second : first);
      for (int t = 0; t < NT; ++t) {
        __m256i sum = _mm256_madd_epi16(first[t], ones);
        if constexpr (kFifth) sum = _mm256_add_epi32(sum, _mm256_madd_epi16(second[t], ones));
        dot[t] = _mm256_sub_epi32(sum, _mm256_set1_epi32(kZero * xsum[t][b]));
      }
    }
    const __m256 scales = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kBlockBytes - 16)));
    for (int t = 0; t < NT; ++t) {
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[t]), _mm256_mul_ps(scales, _mm256_set1_ps(xd[t][b])), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) store_rows(y + (t0 + t) * rows + row0, acc[t], valid);
}

template <DType kType>
void matmul_type(const WeightMatrix& w, const QuantizedInput& xq, int64_t n_tokens, float* y, int64_t row_begin,
                 int64_t row_end) {
  static constexpr GroupKernel kKernels[5] = {nullptr, &group_kernel<kType, 1>, &group_kernel<kType, 2>,
                                              &group_kernel<kType, 3>, &group_kernel<kType, 4>};
  const int64_t nb = w.view.cols / 32;
  run_groups(kKernels, w.packed.get(), nb * format_of(kType).group_block_bytes, nb, xq, n_tokens, y, w.view.rows,
             row_begin, row_end);
}

}  // namespace

bool packs_int8(DType type) { return type == DType::Q8_0 || type == DType::Q4_0 || type == DType::Q5_0; }

void pack_int8(const MatrixView& w, WeightMatrix& out) {
  const Format format = format_of(w.type);
  if (w.cols % 32 != 0) fail("cannot pack {} rows of {} columns (not a multiple of 32)", dtype_name(w.type), w.cols);
  const int64_t nb = w.cols / 32;
  const int64_t groups = (w.rows + kRowsPerGroup - 1) / kRowsPerGroup;
  out.packed_bytes = static_cast<size_t>(groups * nb * format.group_block_bytes);
  out.packed = allocate_aligned(out.packed_bytes);
  out.row_granule = kRowsPerGroup;
  for (int64_t g = 0; g < groups; ++g) {
    const uint8_t* rows[8];
    group_rows(w, g, rows);
    uint8_t* dst = out.packed.get() + g * nb * format.group_block_bytes;
    for (int64_t b = 0; b < nb; ++b) pack_block(w.type, rows, b, dst + b * format.group_block_bytes);
  }
}

void matmul_int8(const WeightMatrix& w, const QuantizedInput& xq, int64_t n_tokens, float* y, int64_t row_begin,
                 int64_t row_end) {
  if (row_begin % kRowsPerGroup != 0) fail("row range must start at a multiple of {}", kRowsPerGroup);
  switch (w.view.type) {
    case DType::Q8_0: return matmul_type<DType::Q8_0>(w, xq, n_tokens, y, row_begin, row_end);
    case DType::Q4_0: return matmul_type<DType::Q4_0>(w, xq, n_tokens, y, row_begin, row_end);
    case DType::Q5_0: return matmul_type<DType::Q5_0>(w, xq, n_tokens, y, row_begin, row_end);
    default: fail("no AVX2 integer kernel for {}", dtype_name(w.view.type));
  }
}

}  // namespace rpu::avx2

#include "target_end.h"
