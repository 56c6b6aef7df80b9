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

// A packed nibble block (4 x 64 B; with kFifthBit, Q5_0's / Q5_K's 8 x 64-bit masks at blk +
// 256) as 8 chunks of one byte per code at out: chunk c = columns 4c..4c+3 of the 16 rows.
template <bool kFifthBit>
inline void unpack_nibble_codes(const uint8_t* blk, uint8_t* out) {
  for (int c = 0; c < 4; ++c) {
    __m512i lo, hi;
    split_nibbles(_mm512_loadu_si512(blk + c * 64), lo, hi);
    if constexpr (kFifthBit) add_fifth_bits(blk + 256, c, lo, hi);
    _mm512_storeu_si512(out + c * 64, lo);
    _mm512_storeu_si512(out + (4 + c) * 64, hi);
  }
}

// Q6_K: row r's 6-bit codes of columns 16h+4c..16h+4c+3 in bytes 4r..4r+3, nibbles | plane bits.
template <int kChunk>
inline __m512i q6_codes(__m512i nibbles, __m512i plane, __m512i high_mask) {
  // Bits 2c..2c+1 of each plane byte moved to bits 4..5 (16-bit shifts: the mask drops what
  // crossed from the neighbouring byte), then nibbles | (moved & 0x30) in one ternary op.
  __m512i moved = plane;
  if constexpr (kChunk == 0) moved = _mm512_slli_epi16(plane, 4);
  if constexpr (kChunk == 1) moved = _mm512_slli_epi16(plane, 2);
  if constexpr (kChunk == 3) moved = _mm512_srli_epi16(plane, 2);
  return _mm512_ternarylogic_epi32(nibbles, moved, high_mask, 0xf8);  // a | (b & c)
}

// Chunk c of a packed Q6_K block (4 x 64 B nibbles, then the two 64 B high-bit planes) as one
// byte per code: columns 4c.. to out chunk c, 16+4c.. to chunk c+4.
template <int kChunk>
inline void unpack_q6_k_chunk(const uint8_t* blk, __m512i plane_lo, __m512i plane_hi, uint8_t* out) {
  const __m512i high_mask = _mm512_set1_epi8(0x30);
  __m512i lo, hi;
  split_nibbles(_mm512_loadu_si512(blk + kChunk * 64), lo, hi);
  _mm512_storeu_si512(out + kChunk * 64, q6_codes<kChunk>(lo, plane_lo, high_mask));
  _mm512_storeu_si512(out + (kChunk + 4) * 64, q6_codes<kChunk>(hi, plane_hi, high_mask));
}

// A packed Q6_K block's 32 columns x 16 rows as 8 chunks of one byte per code at out.
inline void unpack_q6_k_codes(const uint8_t* blk, uint8_t* out) {
  const __m512i plane_lo = _mm512_loadu_si512(blk + 256), plane_hi = _mm512_loadu_si512(blk + 320);
  unpack_q6_k_chunk<0>(blk, plane_lo, plane_hi, out);
  unpack_q6_k_chunk<1>(blk, plane_lo, plane_hi, out);
  unpack_q6_k_chunk<2>(blk, plane_lo, plane_hi, out);
  unpack_q6_k_chunk<3>(blk, plane_lo, plane_hi, out);
}

}  // namespace rpu::avx512
