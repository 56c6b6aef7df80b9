// The trainer's bf16 panel kernels (kernels/bf16_panels.h) with AVX512-BF16: vcvtne2ps2bh rounds
// two f32 rows to bf16 at once, vdpbf16ps multiplies bf16 pairs into f32 accumulators. Called
// only after bf16_panels_native() has checked the CPU (kernels/bf16_panels.cpp).
#include <immintrin.h>

#include "kernels/bf16_panels.h"

// Only the functions below are compiled for AVX512-BF16 (the project's per-ISA rule: no
// file-wide -m flags; inline code from the headers above keeps the baseline target).
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")
#endif

namespace rpu::avx512 {
namespace {

// 16 floats of row `even` and 16 of row `odd` as 16 bf16 pairs (even in the low half, as
// vdpbf16ps pairs them), rounded to nearest even by the hardware: one conversion gives
// [even 0..15, odd 0..15] as 16-bit words, one word permutation interleaves them.
inline __m512i pairs16(const float* even, const float* odd) {
  const __m512i both = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(_mm512_loadu_ps(odd), _mm512_loadu_ps(even)));
  const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22,
                                              6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_permutexvar_epi16(interleave, both);
}

inline __m256i pairs8(const float* even, const float* odd) {
  const __m256i both = reinterpret_cast<__m256i>(_mm256_cvtne2ps_pbh(_mm256_loadu_ps(odd), _mm256_loadu_ps(even)));
  const __m256i interleave = _mm256_set_epi16(15, 7, 14, 6, 13, 5, 12, 4, 11, 3, 10, 2, 9, 1, 8, 0);
  return _mm256_permutexvar_epi16(interleave, both);
}

void to_pairs(const float* staged, int64_t pairs, int width, uint32_t* out) {
  for (int64_t p = 0; p < pairs; ++p) {
    const float* even = staged + 2 * p * width;
    const float* odd = even + width;
    uint32_t* dst = out + p * width;
    int j = 0;
    for (; j + 16 <= width; j += 16) _mm512_storeu_si512(dst + j, pairs16(even + j, odd + j));
    for (; j + 8 <= width; j += 8) _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + j), pairs8(even + j, odd + j));
  }
}

// One 8 x 32 tile of C: 8 rows x 2 zmm = 16 accumulators; per k pair two B loads and one
// broadcast pair of A per row.
void multiply_tile(int64_t pairs, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, int rows, int cols) {
  static_assert(kBf16PanelRows == 8 && kBf16PanelCols == 32, "the register tile below is written for 8 x 32");
  __m512 acc[kBf16PanelRows][2];
  for (auto& row : acc) row[0] = row[1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < pairs; ++p) {
    const __m512bh b0 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(b + p * kBf16PanelCols));
    const __m512bh b1 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(b + p * kBf16PanelCols + 16));
    const uint32_t* ap = a + p * kBf16PanelRows;
#pragma GCC unroll 8
    for (int r = 0; r < kBf16PanelRows; ++r) {
      const __m512bh av = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(ap[r])));
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, b1);
    }
  }
  const __mmask16 m0 = cols >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << cols) - 1);
  const __mmask16 m1 = cols >= 32 ? __mmask16(0xFFFF) : cols <= 16 ? __mmask16(0) : __mmask16((1u << (cols - 16)) - 1);
  for (int r = 0; r < rows; ++r) {
    float* crow = c + r * ldc;
    _mm512_mask_storeu_ps(crow, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, crow), acc[r][0]));
    _mm512_mask_storeu_ps(crow + 16, m1, _mm512_add_ps(_mm512_maskz_loadu_ps(m1, crow + 16), acc[r][1]));
  }
}

}  // namespace

const Bf16PanelKernels& bf16_panel_set() {
  static const Bf16PanelKernels set{"avx512bf16", to_pairs, multiply_tile};
  return set;
}

}  // namespace rpu::avx512

#include "target_end.h"
