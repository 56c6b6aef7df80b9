// The AVX512-BF16 pieces of the training GEMM (train/gemm.cpp drives them): operands are
// rounded to bf16 once, when packed, and multiplied with vdpbf16ps into f32 accumulators.
// Kept in src/train rather than the kernel table (src/kernels): the table serves inference
// over model tensors chosen by RPU_KERNELS, while this is the trainer's own strided product,
// chosen by the training precision (RPU_TRAIN_GEMM / --precision) on a separate CPU bit.
//
// Panel layouts (uint32 = two bf16, the even k in the low half, as vdpbf16ps pairs them):
//   A panel: kBf16MR rows of A over k pairs:  a[p * kBf16MR + r] = (A[r][2p], A[r][2p+1])
//   B panel: kBf16NR cols of B over k pairs:  b[p * kBf16NR + j] = (B[2p][j], B[2p+1][j])
#pragma once

#include <cstdint>

namespace rpu::train {

constexpr int kBf16MR = 8;
constexpr int kBf16NR = 32;

// True when this CPU runs the functions below (x86-64 with AVX512 F/BW/VL/DQ and BF16).
bool bf16_gemm_supported();

namespace avx512bf16 {

// staged [2 * pairs, width] floats (row k of the panel at staged + k * width; width is a
// multiple of 8) -> out [pairs, width] bf16 pairs, rounded to nearest even.
void to_pairs(const float* staged, int64_t pairs, int width, uint32_t* out);

// C[rows, cols] (row stride ldc) += A panel x B panel over `pairs` k pairs.
void multiply_tile(int64_t pairs, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, int rows, int cols);

}  // namespace avx512bf16
}  // namespace rpu::train
