// Dense matrix products for training: C[M, N] += A[M, K] B[K, N] with A and B given by
// element strides, so one routine serves y = x W^T, dx = dy W and dW = dy^T x without
// transposing anything in memory. The float version is cache-blocked (packed panels, a
// register-tile micro-kernel) in one of two precisions: f32 (a micro-kernel the compiler
// vectorises) or bf16 (operands rounded to bf16 when packed, f32 accumulation with
// AVX512-BF16's vdpbf16ps; kernels/bf16_panels.h). Master weights, gradients and the optimizer
// stay f32 either way. The double version is a plain loop for gradient checks.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/thread_pool.h"

// Hot loops of the float training ops are plain C++; these clones let the compiler vectorise
// them for the widest instruction set the CPU has (picked once at load time), while the
// binary still runs on any x86-64. Helpers they call should be always_inline so that they
// are compiled into each clone.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define RPU_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define RPU_VECTOR_CLONES
#endif
#define RPU_ALWAYS_INLINE inline __attribute__((always_inline))

namespace rpu::train {

// A strided read-only matrix view: element (i, j) is data[i * row_stride + j * col_stride].
template <typename T>
struct StridedMatrix {
  const T* data;
  int64_t row_stride;
  int64_t col_stride;
  T at(int64_t i, int64_t j) const { return data[i * row_stride + j * col_stride]; }
};

// Operand precision of gemm_accumulate<float>: f32, or both operands rounded to bf16 when packed
// and multiplied into f32 accumulators (the bf16 panel kernels, kernels/bf16_panels.h).
enum class GemmPrecision { kF32, kBf16 };
const char* to_string(GemmPrecision precision);
// "f32" or "bf16"; throws rpu::Error naming `source` (e.g. "--precision") for anything else.
GemmPrecision parse_gemm_precision(std::string_view text, std::string_view source);
// True when this CPU has the bf16 products (x86-64 with AVX512 F/BW/VL/DQ and BF16).
bool bf16_gemm_supported();
// The process-wide precision, chosen on first use: RPU_TRAIN_GEMM (f32|bf16) if set, else bf16
// where the CPU has AVX512-BF16, else f32. Throws rpu::Error for a bad RPU_TRAIN_GEMM or bf16
// forced on a CPU without it (commands call this at start-up, so the error comes first).
GemmPrecision gemm_precision();
// Overrides it (the --precision flag; tests). Throws rpu::Error for bf16 on a CPU without it.
void set_gemm_precision(GemmPrecision precision);

// C[M, N] (row stride ldc) += A[M, K] B[K, N]. Threads (pool may be null) own disjoint
// tiles of C, so the result does not depend on the thread count.
template <typename T>
void gemm_accumulate(int64_t m, int64_t n, int64_t k, StridedMatrix<T> a, StridedMatrix<T> b, T* c, int64_t ldc,
                     ThreadPool* pool);

}  // namespace rpu::train
