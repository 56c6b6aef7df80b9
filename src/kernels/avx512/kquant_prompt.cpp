// Prompt tiles for the K-quant formats (Q4_K, Q5_K, Q6_K) in their AVX-512 packed layout
// (int8_kernels.cpp describes it). Decode reads the packed codes in place, a group of 16 rows
// at a time; a prompt of more than 16 tokens first unpacks a panel of groups into one byte per
// code plus the blocks' f32 scales, once per panel, and then runs every 4 tokens of the prompt
// over it in a register tile of several groups x 4 tokens, like the Q8_0 prefill tile: each
// unpacked chunk feeds 4 tokens and each activation word all the tile's groups, and the nibble,
// fifth-bit and 6-bit unpacking and the scale conversions are paid once per panel, not once per
// 4 tokens. Each (row, token) is the decode kernel's exact arithmetic (integer dots, then the
// same f32 operations in the same order), so a token's outputs are bit for bit the same as when
// it is decoded alone (batch invariance).
//
// Unpacked block of a 16-row group, 32 columns:
//   Q4_K / Q5_K: 8 chunks x 64 B of codes (chunk c = columns 4c..4c+3, byte 4r+k = row r),
//                16 f32 d*sc, 16 f32 dmin*m                                     (640 bytes)
//   Q6_K:        8 chunks x 64 B of codes, 16 f32 d*sc of columns 0-15, 16 of 16-31 (640 bytes)
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "avx512.h"
#include "core/error.h"

#include "target_begin.h"  // only the code below is compiled for AVX512

#include "int8_chunks.h"  // AVX-512 code itself: included after the target switch on purpose

namespace rpu::avx512 {
namespace {

constexpr int64_t kUnpackedBlock = 640;
constexpr int kPanelGroups = 3;  // Q4_K / Q5_K: 3 groups x 4 tokens, as the Q8_0 prefill tile
constexpr int kQ6PanelGroups = 2;  // Q6_K: two integer dots per (group, token): 2 x 4 x 2 + 8 registers

// Packed super-block sizes (int8_kernels.cpp's layout).
template <DType T>
constexpr int64_t kSuperBytes = T == DType::Q4_K ? 2368 : T == DType::Q5_K ? 2880 : 3360;

// One 16-row group's packed K-quant codes -> unpacked blocks (n_super x 8 of them) at out.
template <DType T>
void unpack_group(const uint8_t* group, int64_t n_super, uint8_t* out) {
  for (int64_t sb = 0; sb < n_super; ++sb) {
    const uint8_t* super = group + sb * kSuperBytes<T>;
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(super)));
    // Q4_K / Q5_K: 16 f16 dmin after the 16 f16 d (Q6_K has none).
    [[maybe_unused]] const __m512 dmin =
        T == DType::Q6_K ? _mm512_setzero_ps() : _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(super + 32)));
    for (int b = 0; b < 8; ++b) {
      uint8_t* o = out + (sb * 8 + b) * kUnpackedBlock;
      if constexpr (T == DType::Q6_K) {
        // [16 f16 d] then per block: 4 x 64 B nibbles, 2 x 64 B high-bit planes, 16 + 16 int8 scales.
        const uint8_t* blk = super + 32 + b * 416;
        unpack_q6_k_codes(blk, o);
        for (int h = 0; h < 2; ++h) {
          const __m512 sc = _mm512_cvtepi32_ps(
              _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 384 + 16 * h))));
          _mm512_storeu_ps(o + 512 + 64 * h, _mm512_mul_ps(d, sc));
        }
      } else {
        // [16 f16 d][16 f16 dmin] then per block: 4 x 64 B nibbles, Q5_K's 8 x 64-bit fifth-bit
        // masks, 16 scales, 16 mins.
        constexpr bool kFifthBit = T == DType::Q5_K;
        constexpr int64_t kBlockBytes = kFifthBit ? 352 : 288, kScales = kFifthBit ? 320 : 256;
        const uint8_t* blk = super + 64 + b * kBlockBytes;
        unpack_nibble_codes<kFifthBit>(blk, o);
        const __m512 sc = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kScales))));
        const __m512 m = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kScales + 16))));
        _mm512_storeu_ps(o + 512, _mm512_mul_ps(d, sc));
        _mm512_storeu_ps(o + 576, _mm512_mul_ps(dmin, m));
      }
    }
  }
}

template <int NG, int NT>
inline void zero_tile(__m512 (&acc)[NG][NT]) {
  for (int g = 0; g < NG; ++g) {
    for (int t = 0; t < NT; ++t) acc[g][t] = _mm512_setzero_ps();
  }
}

// acc[g][t] -> y rows row0 + 16g.. of token t0 + t (rows past the matrix's end not stored).
template <int NG, int NT>
inline void store_tile(const __m512 (&acc)[NG][NT], float* y, int64_t t0, int64_t rows, int64_t row0) {
  for (int g = 0; g < NG; ++g) {
    const __mmask16 store_mask = static_cast<__mmask16>((1u << std::min<int64_t>(16, rows - row0 - 16 * g)) - 1u);
    for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(y + (t0 + t) * rows + row0 + 16 * g, store_mask, acc[g][t]);
  }
}

// Y rows of NG unpacked Q4_K / Q5_K groups (group g at panel + g * group_bytes) for NT tokens
// from t0: per block, sum u*q from 0, then acc += cvt(dot) * (d*sc * dx) - dmin*m * (dx * sum q),
// as int8_kernels.cpp's group_kernel_k4 does it.
template <int NG, int NT>
void k4_tile(const uint8_t* panel, int64_t group_bytes, int64_t nb, const QuantizedInput& xq, int64_t t0, float* y,
             int64_t rows, int64_t row0) {
  __m512 acc[NG][NT];
  zero_tile(acc);
  for (int64_t b = 0; b < nb; ++b) {
    const int32_t* words[NT];
    __m512i dot[NG][NT];
    for (int t = 0; t < NT; ++t) {
      words[t] = reinterpret_cast<const int32_t*>(xq.q.data() + (t0 + t) * xq.cols + b * 32);
      for (int g = 0; g < NG; ++g) dot[g][t] = _mm512_setzero_si512();
    }
    for (int c = 0; c < 8; ++c) {
      __m512i w[NG];
      for (int g = 0; g < NG; ++g) w[g] = _mm512_loadu_si512(panel + g * group_bytes + b * kUnpackedBlock + c * 64);
      for (int t = 0; t < NT; ++t) {
        const __m512i x = _mm512_set1_epi32(words[t][c]);
        for (int g = 0; g < NG; ++g) dot[g][t] = _mm512_dpbusd_epi32(dot[g][t], w[g], x);
      }
    }
    for (int g = 0; g < NG; ++g) {
      const float* f = reinterpret_cast<const float*>(panel + g * group_bytes + b * kUnpackedBlock + 512);
      const __m512 scale = _mm512_loadu_ps(f), min = _mm512_loadu_ps(f + 16);
      for (int t = 0; t < NT; ++t) {
        const size_t row = static_cast<size_t>((t0 + t) * nb + b);
        const float dx = xq.d[row];
        acc[g][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[g][t]), _mm512_mul_ps(scale, _mm512_set1_ps(dx)), acc[g][t]);
        acc[g][t] = _mm512_fnmadd_ps(min, _mm512_set1_ps(dx * static_cast<float>(xq.sum[row])), acc[g][t]);
      }
    }
  }
  store_tile(acc, y, t0, rows, row0);
}

// The same for Q6_K: per block two integer dots, columns 0-15 and 16-31, each from -32 * the
// half's sum of q and with its own scale, as group_kernel_q6_k does it.
template <int NG, int NT>
void q6_tile(const uint8_t* panel, int64_t group_bytes, int64_t nb, const QuantizedInput& xq, int64_t t0, float* y,
             int64_t rows, int64_t row0) {
  __m512 acc[NG][NT];
  zero_tile(acc);
  for (int64_t b = 0; b < nb; ++b) {
    const int32_t* words[NT];
    __m512i lo[NG][NT], hi[NG][NT];
    for (int t = 0; t < NT; ++t) {
      const size_t row = static_cast<size_t>((t0 + t) * nb + b);
      words[t] = reinterpret_cast<const int32_t*>(xq.q.data() + (t0 + t) * xq.cols + b * 32);
      const __m512i start_lo = _mm512_set1_epi32(-32 * xq.sum16[2 * row]);
      const __m512i start_hi = _mm512_set1_epi32(-32 * xq.sum16[2 * row + 1]);
      for (int g = 0; g < NG; ++g) {
        lo[g][t] = start_lo;
        hi[g][t] = start_hi;
      }
    }
    for (int c = 0; c < 4; ++c) {
      __m512i w_lo[NG], w_hi[NG];
      for (int g = 0; g < NG; ++g) {
        const uint8_t* blk = panel + g * group_bytes + b * kUnpackedBlock;
        w_lo[g] = _mm512_loadu_si512(blk + c * 64);
        w_hi[g] = _mm512_loadu_si512(blk + (c + 4) * 64);
      }
      for (int t = 0; t < NT; ++t) {
        const __m512i x_lo = _mm512_set1_epi32(words[t][c]), x_hi = _mm512_set1_epi32(words[t][c + 4]);
        for (int g = 0; g < NG; ++g) {
          lo[g][t] = _mm512_dpbusd_epi32(lo[g][t], w_lo[g], x_lo);
          hi[g][t] = _mm512_dpbusd_epi32(hi[g][t], w_hi[g], x_hi);
        }
      }
    }
    for (int g = 0; g < NG; ++g) {
      const float* f = reinterpret_cast<const float*>(panel + g * group_bytes + b * kUnpackedBlock + 512);
      const __m512 sc_lo = _mm512_loadu_ps(f), sc_hi = _mm512_loadu_ps(f + 16);
      for (int t = 0; t < NT; ++t) {
        const __m512 dx = _mm512_set1_ps(xq.d[static_cast<size_t>((t0 + t) * nb + b)]);
        acc[g][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(lo[g][t]), _mm512_mul_ps(sc_lo, dx), acc[g][t]);
        acc[g][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(hi[g][t]), _mm512_mul_ps(sc_hi, dx), acc[g][t]);
      }
    }
  }
  store_tile(acc, y, t0, rows, row0);
}

template <DType T, int NG, int NT>
void tile(const uint8_t* panel, int64_t group_bytes, int64_t nb, const QuantizedInput& xq, int64_t t0, float* y,
          int64_t rows, int64_t row0) {
  if constexpr (T == DType::Q6_K) {
    q6_tile<NG, NT>(panel, group_bytes, nb, xq, t0, y, rows, row0);
  } else {
    k4_tile<NG, NT>(panel, group_bytes, nb, xq, t0, y, rows, row0);
  }
}

// Every token against an unpacked panel of NG groups: 4-token tiles, then single tokens.
template <DType T, int NG>
void panel_tokens(const uint8_t* panel, int64_t group_bytes, int64_t nb, const QuantizedInput& xq, int64_t n_tokens,
                  float* y, int64_t rows, int64_t row0) {
  int64_t t = 0;
  for (; t + 4 <= n_tokens; t += 4) tile<T, NG, 4>(panel, group_bytes, nb, xq, t, y, rows, row0);
  for (; t < n_tokens; ++t) tile<T, NG, 1>(panel, group_bytes, nb, xq, t, y, rows, row0);
}

template <DType T>
void prompt_matmul(const WeightMatrix& w, const QuantizedInput& xq, int64_t n_tokens, float* y, int64_t row_begin,
                   int64_t row_end) {
  constexpr int kGroups = T == DType::Q6_K ? kQ6PanelGroups : kPanelGroups;
  const int64_t n_super = w.view.cols / 256, nb = n_super * 8;
  const int64_t unpacked_group_bytes = nb * kUnpackedBlock;
  thread_local std::vector<uint8_t> panel;  // per thread, grown once
  if (panel.size() < static_cast<size_t>(kGroups * unpacked_group_bytes)) {
    panel.resize(static_cast<size_t>(kGroups * unpacked_group_bytes));
  }
  for (int64_t row0 = row_begin; row0 < row_end;) {
    const int64_t groups = std::min<int64_t>(kGroups, (row_end - row0 + kRowsPerGroup - 1) / kRowsPerGroup);
    for (int64_t g = 0; g < groups; ++g) {
      const uint8_t* packed = w.packed.get() + (row0 / kRowsPerGroup + g) * n_super * kSuperBytes<T>;
      unpack_group<T>(packed, n_super, panel.data() + g * unpacked_group_bytes);
    }
    if (groups == kGroups) {
      panel_tokens<T, kGroups>(panel.data(), unpacked_group_bytes, nb, xq, n_tokens, y, w.view.rows, row0);
    } else if (groups == 2) {  // Q4_K / Q5_K at a range's end (Q6_K panels are at most 2 groups)
      panel_tokens<T, 2>(panel.data(), unpacked_group_bytes, nb, xq, n_tokens, y, w.view.rows, row0);
    } else {
      panel_tokens<T, 1>(panel.data(), unpacked_group_bytes, nb, xq, n_tokens, y, w.view.rows, row0);
    }
    row0 += groups * kRowsPerGroup;
  }
}

}  // namespace

int64_t kquant_panel_rows(DType type) { return (type == DType::Q6_K ? kQ6PanelGroups : kPanelGroups) * kRowsPerGroup; }

void matmul_kquant_prompt(const WeightMatrix& w, const QuantizedInput& xq, int64_t n_tokens, float* y,
                          int64_t row_begin, int64_t row_end) {
  switch (w.view.type) {
    case DType::Q4_K: return prompt_matmul<DType::Q4_K>(w, xq, n_tokens, y, row_begin, row_end);
    case DType::Q5_K: return prompt_matmul<DType::Q5_K>(w, xq, n_tokens, y, row_begin, row_end);
    case DType::Q6_K: return prompt_matmul<DType::Q6_K>(w, xq, n_tokens, y, row_begin, row_end);
    default: fail("no K-quant prompt tile for {}", dtype_name(w.view.type));
  }
}

}  // namespace rpu::avx512

#include "target_end.h"
