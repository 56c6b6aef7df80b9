// In-memory images of the GGUF / ggml quantized block formats, byte for byte as they sit in a
// model file, plus the typed scalar reference kernels for each. SIMD kernels include this
// header to reuse the layouts and to fall back to (or test against) the reference code.
//
// Conventions shared by every format:
//  * every multi-byte field is little-endian (as on disk; rpu only targets little-endian hosts);
//  * "f16" fields hold IEEE half bits (see core/fp16.h);
//  * a block holds kQK (32) values, a K "super-block" holds kQK_K (256) values;
//  * all fields are naturally aligned, so no packing pragma is needed; the static_asserts pin
//    the sizes to the GGUF type sizes in core/dtype.cpp.
#pragma once

#include <cstdint>

namespace rpu {

inline constexpr int kQK = 32;     // values per legacy block (Q4_0 ... Q8_1)
inline constexpr int kQK_K = 256;  // values per K super-block (Q2_K ... Q8_K)

// ---- Legacy 32-value blocks -------------------------------------------------------------
// Nibble formats store value j (0..15) in the low nibble of qs[j] and value j+16 in its high
// nibble, i.e. the two halves of the block are interleaved byte by byte.

// x = (q - 8) * d, q in 0..15.
struct BlockQ4_0 {
  uint16_t d;  // f16
  uint8_t qs[kQK / 2];
};

// x = q * d + m, q in 0..15.
struct BlockQ4_1 {
  uint16_t d;  // f16
  uint16_t m;  // f16
  uint8_t qs[kQK / 2];
};

// x = (q - 16) * d, q in 0..31. Bit 4 of value j is bit j of the little-endian word qh.
struct BlockQ5_0 {
  uint16_t d;  // f16
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};

// x = q * d + m, q in 0..31; high bits as in Q5_0.
struct BlockQ5_1 {
  uint16_t d;  // f16
  uint16_t m;  // f16
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};

// x = q * d, q signed 8-bit.
struct BlockQ8_0 {
  uint16_t d;  // f16
  int8_t qs[kQK];
};

// As Q8_0 plus s = d * sum(qs), which dot-product kernels use to fold in Q4_1/Q5_1 mins.
// Dequantization ignores s.
struct BlockQ8_1 {
  uint16_t d;  // f16
  uint16_t s;  // f16
  int8_t qs[kQK];
};

// ---- K super-blocks (256 values) ---------------------------------------------------------
// Several formats spread 2-bit fields over "128-value halves": within half h, value
// 128*h + 32*s + l (s = 0..3, l = 0..31) lives in byte 32*h + l of the 2-bit array at bit
// position 2*s. Sub-blocks are always consecutive runs of values (16 or 32 long).

// 16 sub-blocks of 16: x = d * (scales[i] & 15) * q - dmin * (scales[i] >> 4), q in 0..3.
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];  // 2-bit values, "128-value halves" layout
  uint16_t d;             // f16
  uint16_t dmin;          // f16
};

// 16 sub-blocks of 16: x = d * (sc[i] - 32) * (q - 4), q in 0..7 (3 bits), sc in 0..63.
// Low 2 bits of q come from qs ("128-value halves"); bit 2 of value j is bit j/32 of
// hmask[j % 32]. The 6-bit scales are packed into 12 bytes, see q3k_unpack_scales.
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[12];
  uint16_t d;  // f16
};

// 8 sub-blocks of 32: x = d * sc[i] * q - dmin * m[i], q in 0..15, 6-bit sc/m packed into 12
// bytes (see k4_unpack). Value 64*p + l (l < 32) is the low nibble of qs[32*p + l], value
// 64*p + 32 + l its high nibble.
struct BlockQ4_K {
  uint16_t d;     // f16
  uint16_t dmin;  // f16
  uint8_t scales[12];
  uint8_t qs[kQK_K / 2];
};

// As Q4_K with q in 0..31: bit 4 of value j is bit j/32 of qh[j % 32].
struct BlockQ5_K {
  uint16_t d;     // f16
  uint16_t dmin;  // f16
  uint8_t scales[12];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};

// 16 sub-blocks of 16: x = d * scales[i] * (q - 32), q in 0..63. Within half h, value
// 128*h + 32*s + l takes its low nibble from ql[64*h + 32*(s & 1) + l] (low nibble for s < 2,
// high nibble for s >= 2) and its top 2 bits from qh[32*h + l] at bit position 2*s.
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;  // f16
};

// Activation format for K dot products: x = d * q with a full float d; bsums[i] is the sum
// of the 16 values of group i, precomputed for the min terms of Q2_K/Q4_K/Q5_K.
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

// ---- Packed sub-block scales -------------------------------------------------------------

// Q4_K / Q5_K: eight 6-bit scales sc[0..7] and eight 6-bit mins m[0..7] in 12 bytes.
//   bytes 0..3 : sc[0..3] in bits 0..5, bits 6..7 = top 2 bits of sc[4..7]
//   bytes 4..7 : m[0..3]  in bits 0..5, bits 6..7 = top 2 bits of m[4..7]
//   bytes 8..11: low nibble = low 4 bits of sc[4..7], high nibble = low 4 bits of m[4..7]
inline void k4_unpack(int j, const uint8_t* s, uint8_t& sc, uint8_t& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = static_cast<uint8_t>((s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4));
    m = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// Inverse of k4_unpack; sc and m must already be in 0..63.
inline void k4_pack(const uint8_t* sc, const uint8_t* m, uint8_t* s) {
  for (int j = 0; j < 4; ++j) {
    s[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = static_cast<uint8_t>(m[j] | ((m[j + 4] >> 4) << 6));
    s[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0x0f) | ((m[j + 4] & 0x0f) << 4));
  }
}

// Q3_K: sixteen 6-bit biased scales (stored value = scale + 32) in 12 bytes.
//   bytes 0..7 : low nibble = low 4 bits of sc[0..7], high nibble = low 4 bits of sc[8..15]
//   bytes 8..11: byte 8 + k holds the top 2 bits of sc[k], sc[k+4], sc[k+8], sc[k+12] at
//                bit positions 0, 2, 4, 6.
// Returns the signed scales (-32..31).
inline void q3k_unpack_scales(const uint8_t* s, int8_t* out) {
  for (int i = 0; i < 16; ++i) {
    const int low = i < 8 ? (s[i] & 0x0f) : (s[i - 8] >> 4);
    const int high = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
    out[i] = static_cast<int8_t>((low | (high << 4)) - 32);
  }
}

// Inverse of q3k_unpack_scales; scales must be in -32..31.
inline void q3k_pack_scales(const int8_t* scales, uint8_t* s) {
  for (int k = 0; k < 12; ++k) s[k] = 0;
  for (int i = 0; i < 16; ++i) {
    const int v = scales[i] + 32;
    if (i < 8) {
      s[i] = static_cast<uint8_t>(s[i] | (v & 0x0f));
    } else {
      s[i - 8] = static_cast<uint8_t>(s[i - 8] | ((v & 0x0f) << 4));
    }
    s[8 + i % 4] = static_cast<uint8_t>(s[8 + i % 4] | ((v >> 4) << (2 * (i / 4))));
  }
}

// ---- Typed scalar reference kernels ------------------------------------------------------
// `nb` counts blocks (values / block size). Dequantizers are the definition of each format's
// meaning; quantizers produce blocks whose dequantization approximates the input.
namespace ref {

void dequantize_q4_0(const BlockQ4_0* x, float* y, int64_t nb);
void dequantize_q4_1(const BlockQ4_1* x, float* y, int64_t nb);
void dequantize_q5_0(const BlockQ5_0* x, float* y, int64_t nb);
void dequantize_q5_1(const BlockQ5_1* x, float* y, int64_t nb);
void dequantize_q8_0(const BlockQ8_0* x, float* y, int64_t nb);
void dequantize_q8_1(const BlockQ8_1* x, float* y, int64_t nb);
void dequantize_q2_K(const BlockQ2_K* x, float* y, int64_t nb);
void dequantize_q3_K(const BlockQ3_K* x, float* y, int64_t nb);
void dequantize_q4_K(const BlockQ4_K* x, float* y, int64_t nb);
void dequantize_q5_K(const BlockQ5_K* x, float* y, int64_t nb);
void dequantize_q6_K(const BlockQ6_K* x, float* y, int64_t nb);
void dequantize_q8_K(const BlockQ8_K* x, float* y, int64_t nb);

void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t nb);
void quantize_q4_1(const float* x, BlockQ4_1* y, int64_t nb);
void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t nb);
void quantize_q5_1(const float* x, BlockQ5_1* y, int64_t nb);
void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t nb);
void quantize_q8_1(const float* x, BlockQ8_1* y, int64_t nb);
void quantize_q2_K(const float* x, BlockQ2_K* y, int64_t nb);
void quantize_q3_K(const float* x, BlockQ3_K* y, int64_t nb);
void quantize_q4_K(const float* x, BlockQ4_K* y, int64_t nb);
void quantize_q5_K(const float* x, BlockQ5_K* y, int64_t nb);
void quantize_q6_K(const float* x, BlockQ6_K* y, int64_t nb);
void quantize_q8_K(const float* x, BlockQ8_K* y, int64_t nb);

}  // namespace ref
}  // namespace rpu
