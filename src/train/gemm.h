// Dense matrix products for training: C[M, N] += A[M, K] B[K, N] with A and B given by
// element strides, so one routine serves y = x W^T, dx = dy W and dW = dy^T x without
// transposing anything in memory. The float version is cache-blocked (packed panels, a
// register-tile micro-kernel the compiler vectorises); the double version is a plain loop
// for gradient checks.
#pragma once

#include <cstdint>

#include "core/thread_pool.h"

namespace rpu::train {

// A strided read-only matrix view: element (i, j) is data[i * row_stride + j * col_stride].
template <typename T>
struct StridedMatrix {
  const T* data;
  int64_t row_stride;
  int64_t col_stride;
  T at(int64_t i, int64_t j) const { return data[i * row_stride + j * col_stride]; }
};

// C[M, N] (row stride ldc) += A[M, K] B[K, N]. Threads (pool may be null) own disjoint
// tiles of C, so the result does not depend on the thread count.
template <typename T>
void gemm_accumulate(int64_t m, int64_t n, int64_t k, StridedMatrix<T> a, StridedMatrix<T> b, T* c, int64_t ldc,
                     ThreadPool* pool);

}  // namespace rpu::train
