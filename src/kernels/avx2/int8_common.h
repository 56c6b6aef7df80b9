// Pieces the AVX2 integer kernels share (int8_kernels.cpp, kquant_kernels.cpp): the software
// prefetch along the packed weights, the activation-word broadcast, the register pin, a
// group's rows, the 4/5-bit code unpacking and its maddubs step, and the store of 8 results. AVX2
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

// Chunk C's codes of a 4- or 5-bit block (Q4_0, Q5_0, Q4_K, Q5_K): the nibbles, plus with a fifth
// bit (the 32-byte plane after the 4 chunks) bit C (low half) or bit 4 + C (high half) moved to bit 4 (16-bit shifts; bits crossing a byte
// are masked off).
template <bool kFifth, int C>
inline void nibble_codes(const uint8_t* blk, __m256i& lo, __m256i& hi) {
  const __m256i low_mask = _mm256_set1_epi8(0x0f);
  const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + C * 32));
  lo = _mm256_and_si256(packed, low_mask);
  hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_mask);
  if constexpr (kFifth) {
    const __m256i plane = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 128));
    const __m256i fifth = _mm256_set1_epi8(0x10);
    lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(plane, 4 - C), fifth));
    hi = _mm256_or_si256(hi, _mm256_and_si256(C == 0 ? plane : _mm256_srli_epi16(plane, C), fifth));
  }
}

// Chunk C for NT tokens added to int16 sums (2 maddubs): 4-bit codes <= 15 (pairs <= 3810: a
// block's 8 maddubs fit one sum), 5-bit <= 31 (pairs <= 7874: 4 per sum, so two sums a block).
template <int NT, bool kFifth, int C>
inline void nibble_chunk(const uint8_t* blk, const int8_t* const xb[], __m256i (&sum16)[NT]) {
  __m256i lo, hi;
  nibble_codes<kFifth, C>(blk, lo, hi);
  for (int t = 0; t < NT; ++t) {
    sum16[t] = _mm256_add_epi16(sum16[t], _mm256_maddubs_epi16(lo, broadcast_word(xb[t], C)));
    sum16[t] = _mm256_add_epi16(sum16[t], _mm256_maddubs_epi16(hi, broadcast_word(xb[t], 4 + C)));
  }
  pin(sum16);
}

// One 8-row group's Y rows for n = 1..4 tokens from t0 (group: its packed blocks, n_blocks of
// them; y[t, rows], the group's first row row0, `valid` of its 8 rows real): the shape of every
// int8 and K-quant kernel here, one instantiation per token count, kernels[n] taking n.
using GroupKernel = void (*)(const uint8_t* group, int64_t n_blocks, const QuantizedInput& xq, int64_t t0, float* y,
                             int64_t rows, int64_t row0, int64_t valid);

// Y rows [row_begin, row_end) (a multiple of 8 first) for n_tokens tokens, group by group: four
// tokens per pass share every weight load and unpack, a remainder of 1..3 goes in one pass.
inline void run_groups(const GroupKernel (&kernels)[5], const uint8_t* packed, int64_t group_bytes, int64_t n_blocks,
                       const QuantizedInput& xq, int64_t n_tokens, float* y, int64_t rows, int64_t row_begin,
                       int64_t row_end) {
  for (int64_t row0 = row_begin; row0 < row_end; row0 += 8) {
    const uint8_t* group = packed + (row0 / 8) * group_bytes;
    const int64_t valid = row_end - row0 < 8 ? row_end - row0 : 8;
    for (int64_t t = 0; t < n_tokens; t += 4) {
      kernels[n_tokens - t < 4 ? n_tokens - t : 4](group, n_blocks, xq, t, y, rows, row0, valid);
    }
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
