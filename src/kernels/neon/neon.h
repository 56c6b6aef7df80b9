// The ARM64 kernel sets: `neon` (any ARMv8.0-A core: Cortex-A53/A57/A72, Raspberry Pi 3/4),
// `dotprod` (ARMv8.2 SDOT: Cortex-A55/A76/A78, Neoverse-N1, Apple M1+) and `i8mm` (SMMLA as
// well: Neoverse-V1/N2, Cortex-A710/X2 and later). All three share the packed weight layout,
// the activation quantizer, the float kernels and attention (plain ASIMD, which every AArch64
// core has); only the integer dot products differ. Code that needs dotprod or i8mm lives in
// its own file (int8_dotprod.cpp, int8_i8mm.cpp) under `#pragma GCC target` after its includes,
// and runs only after kernels.cpp has read the CPU's HWCAP bits.
#pragma once

#include "kernels/kernels.h"

namespace rpu::neon {

const KernelSet& neon_set();
const KernelSet& dotprod_set();
const KernelSet& i8mm_set();

// Integer formats (Q8_0, Q4_0, Q4_K, Q6_K) repacked two rows at a time. Each 16-byte chunk of
// the packed quants holds 8 bytes of the first row and the same 8 bytes of the second, so one
// SDOT against 8 activation bytes duplicated into both halves advances both rows (lanes
// r0, r0, r1, r1), and one SMMLA against 8 bytes of each of two tokens gives the 2x2 block
// (r0 t0, r0 t1, r1 t0, r1 t1). Per pair and block (32 columns) or super-block (256):
//   Q8_0 (68 B):  4 chunks (columns 8k..8k+7), then the two f16 scales
//   Q4_0 (36 B):  2 chunks of the nibble bytes qs[8k..8k+7] (low nibbles: columns 8k..8k+7,
//                 high nibbles: 16+8k..16+8k+7), then the two f16 scales
//   Q4_K (296 B): 16 chunks of qs (chunk 4p+k: low nibbles are block 2p, columns 8k..8k+7, high
//                 nibbles block 2p+1), then d0 d1 dmin0 dmin1 (f16), the 6-bit scales unpacked
//                 to bytes as pairs (sc0[j], sc1[j]) for j = 0..7, then the mins likewise
//   Q6_K (420 B): 16 chunks of ql, 8 chunks of qh (the file's byte order, two rows interleaved
//                 8 bytes at a time), the 16 sub-block scales as pairs (s0[i], s1[i]), d0 d1
// Sizes are the originals' (2x34, 2x18, 2x144 + 8 unpacked scale bytes, 2x210), so decode reads
// about the bytes of the file. A missing second row of an odd last pair is zero (scale 0).
constexpr int64_t kRowsPerPair = 2;
bool packs_int8(DType type);
void pack_int8(const MatrixView& w, WeightMatrix& out);
int64_t pair_block_bytes(DType type);  // per pair of rows and block (Q8_0, Q4_0) or super-block (K)

// The integer matmul per instruction set (int8_neon.cpp, int8_dotprod.cpp, int8_i8mm.cpp).
void matmul_int8_neon(const WeightMatrix& w, const QuantizedInput& xq, int64_t n_tokens, float* y,
                      int64_t row_begin, int64_t row_end);
void matmul_int8_dotprod(const WeightMatrix& w, const QuantizedInput& xq, int64_t n_tokens, float* y,
                         int64_t row_begin, int64_t row_end);
void matmul_int8_i8mm(const WeightMatrix& w, const QuantizedInput& xq, int64_t n_tokens, float* y,
                      int64_t row_begin, int64_t row_end);

// Float formats read in place (F32, F16 via FCVTL, BF16), a dequantize-then-dot fallback for the rest.
void matmul_float(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, int64_t row_begin,
                  int64_t row_end);

void quantize_input(const float* x, int64_t n_tokens, int64_t cols, QuantizedInput& out);

// The kernel table's attend and attend_block over KV rows of any cache type (attention.cpp).
void attend(const float* q, const KvRows& kv, int64_t pos, const AttentionParams& a, float* scores, float* out);
void attend_block(const float* q, int64_t q_stride, int64_t n_q, int64_t n_heads, const KvRows& kv,
                  int64_t first_pos, const AttentionParams& a, float* out, int64_t out_stride);

}  // namespace rpu::neon
