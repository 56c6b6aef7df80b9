// 64-byte code chunks of the AVX-512 packed integer layouts (int8_kernels.cpp describes them)
// as u8 operands for vpdpbusd, shared by the decode kernels and the prompt tiles. AVX-512 code:
// include it only from src/kernels/avx512/*.cpp, AFTER the file's target pragma.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace rpu::avx512 {

// A chunk of packed nibble bytes -> its low nibbles (columns 4c..4c+3 of each of 16 rows) and its
// high nibbles (columns 16+4c..16+4c+3).
inline void split_nibbles(__m512i packed, __m512i& lo, __m512i& hi) {
  const __m512i low_mask = _mm512_set1_epi8(0x0f);
  lo = _mm512_and_si512(packed, low_mask);
  hi = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low_mask);
}

// Q5_0 / Q5_K: 16 added to each code whose fifth bit is set. masks: the block's 8 x 64-bit masks
// (chunk c's low half at c, its high half at 4 + c; bit 4r+k = row r's column k of the chunk).
inline void add_fifth_bits(const uint8_t* masks, int c, __m512i& lo, __m512i& hi) {
  const __m512i fifth_bit = _mm512_set1_epi8(0x10);
  uint64_t m_lo, m_hi;
  std::memcpy(&m_lo, masks + c * 8, 8);
  std::memcpy(&m_hi, masks + 32 + c * 8, 8);
  lo = _mm512_mask_add_epi8(lo, m_lo, lo, fifth_bit);
  hi = _mm512_mask_add_epi8(hi, m_hi, hi, fifth_bit);
}

}  // namespace rpu::avx512
