// Pieces the AVX2 integer kernels share (int8_kernels.cpp, kquant_kernels.cpp): the software
// prefetch along the packed weights, the activation-word broadcast, the register pin, a
// group's rows and the store of its 8 results. AVX2
// code: include it only from src/kernels/avx2/*.cpp, AFTER the file's target_begin.h.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/kernels.h"

namespace rpu::avx2 {

// Software prefetch distance along the packed weights (read front to back once per token
// tile). Measured on a 36 MB Q8_0 matrix, one thread, decode: ~25-30% faster than leaving it
// to the hardware prefetcher (4 KiB ahead helped less, 12-16 KiB no more); no change when the
// weights are in cache. Prefetches past the end of the buffer never fault; the address is
// formed as an integer so no out-of-range pointer is ever created.
constexpr uintptr_t kPrefetchAhead = 8192;

inline void prefetch_ahead(const uint8_t* p, int64_t line) {
  _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(p) + kPrefetchAhead + line), _MM_HINT_T0);
}

// The 4 activation bytes q[4i..4i+3] of a block, in every 32-bit lane.
inline __m256i broadcast_word(const int8_t* q, int i) {
  int32_t word;
  std::memcpy(&word, q + 4 * i, 4);
  return _mm256_set1_epi32(word);
}

// Pins the accumulators in registers at this point. Without it GCC re-associates the integer
// sums of a fully unrolled block into a tree, computing all 32 products of a 4-token tile
// first and spilling them to the stack.
template <typename T, int N>
inline void pin(T (&v)[N]) {
  for (int i = 0; i < N; ++i) asm("" : "+x"(v[i]));
}

// The rows of 8-row group g of w (null past the last row: a partial group's missing rows are
// packed as zeros).
inline void group_rows(const MatrixView& w, int64_t g, const uint8_t* (&rows)[8]) {
  for (int r = 0; r < 8; ++r) {
    const int64_t row = g * 8 + r;
    rows[r] = row < w.rows ? w.row(row) : nullptr;
  }
}

// Stores the 8 rows' results of one token (y[0..valid)): a partial last group writes only its
// rows, through a mask, so nothing past the output row is touched.
inline void store_rows(float* y, __m256 acc, int64_t valid) {
  if (valid == 8) {
    _mm256_storeu_ps(y, acc);
    return;
  }
  const __m256i mask =
      _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(valid)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  _mm256_maskstore_ps(y, mask, acc);
}

}  // namespace rpu::avx2
