// Linear layers and their LoRA adapters (see ops.h), all expressed as strided products
// C += A B (train/gemm.h) so no matrix is ever transposed in memory.
#include <algorithm>
#include <vector>

#include "train/gemm.h"
#include "train/ops.h"

namespace rpu::train {
namespace {

// Views of a row-major matrix [rows, cols] as itself and as its transpose.
template <typename T>
StridedMatrix<T> plain(const T* data, int64_t cols) {
  return {data, cols, 1};
}
template <typename T>
StridedMatrix<T> transposed(const T* data, int64_t cols) {
  return {data, 1, cols};
}

}  // namespace

template <typename T>
void linear_forward(const T* x, const T* weight, const T* bias, int64_t n, int in, int out, T* y, ThreadPool* pool) {
  for (int64_t t = 0; t < n; ++t) {
    T* row = y + t * out;
    if (bias != nullptr) {
      std::copy(bias, bias + out, row);
    } else {
      std::fill(row, row + out, T(0));
    }
  }
  // y [n, out] += x [n, in] W^T [in, out]
  gemm_accumulate<T>(n, out, in, plain(x, in), transposed(weight, in), y, out, pool);
}

template <typename T>
void linear_backward(const T* x, const T* weight, const T* dy, int64_t n, int in, int out, T* dx, T* dweight,
                     T* dbias, ThreadPool* pool) {
  // dx [n, in] += dy [n, out] W [out, in]
  if (dx != nullptr) gemm_accumulate<T>(n, in, out, plain(dy, out), plain(weight, in), dx, in, pool);
  // dW [out, in] += dy^T [out, n] x [n, in]
  if (dweight != nullptr) gemm_accumulate<T>(out, in, n, transposed(dy, out), plain(x, in), dweight, in, pool);
  if (dbias != nullptr) {
    for (int64_t t = 0; t < n; ++t) {
      const T* row = dy + t * out;
      for (int o = 0; o < out; ++o) dbias[o] += row[o];
    }
  }
}

template <typename T>
void lora_forward(const T* x, const T* a, const T* b, double scale, int64_t n, int in, int out, int rank, T* xa,
                  T* y, ThreadPool* pool) {
  // xa [n, rank] = x [n, in] A^T [in, rank]
  std::fill(xa, xa + n * rank, T(0));
  gemm_accumulate<T>(n, rank, in, plain(x, in), transposed(a, in), xa, rank, pool);
  // y [n, out] += (scale * xa) [n, rank] B^T [rank, out]
  std::vector<T> scaled(xa, xa + n * rank);
  for (T& v : scaled) v *= static_cast<T>(scale);
  gemm_accumulate<T>(n, out, rank, plain(scaled.data(), rank), transposed(b, rank), y, out, pool);
}

template <typename T>
void lora_backward(const T* x, const T* a, const T* b, double scale, const T* xa, const T* dy, int64_t n, int in,
                   int out, int rank, T* dx, T* da, T* db, ThreadPool* pool) {
  const T s = static_cast<T>(scale);
  if (db != nullptr) {
    // dB [out, rank] += dy^T [out, n] (scale * xa) [n, rank]
    std::vector<T> scaled(xa, xa + n * rank);
    for (T& v : scaled) v *= s;
    gemm_accumulate<T>(out, rank, n, transposed(dy, out), plain(scaled.data(), rank), db, rank, pool);
  }
  if (da == nullptr && dx == nullptr) return;
  // g [n, rank] = scale * dy [n, out] B [out, rank]: the gradient at xa.
  std::vector<T> g(static_cast<size_t>(n * rank), T(0));
  gemm_accumulate<T>(n, rank, out, plain(dy, out), plain(b, rank), g.data(), rank, pool);
  for (T& v : g) v *= s;
  // dA [rank, in] += g^T [rank, n] x [n, in];  dx [n, in] += g [n, rank] A [rank, in]
  if (da != nullptr) gemm_accumulate<T>(rank, in, n, transposed(g.data(), rank), plain(x, in), da, in, pool);
  if (dx != nullptr) gemm_accumulate<T>(n, in, rank, plain(g.data(), rank), plain(a, in), dx, in, pool);
}

#define RPU_INSTANTIATE(T)                                                                                        \
  template void linear_forward<T>(const T*, const T*, const T*, int64_t, int, int, T*, ThreadPool*);             \
  template void linear_backward<T>(const T*, const T*, const T*, int64_t, int, int, T*, T*, T*, ThreadPool*);    \
  template void lora_forward<T>(const T*, const T*, const T*, double, int64_t, int, int, int, T*, T*,            \
                                ThreadPool*);                                                                    \
  template void lora_backward<T>(const T*, const T*, const T*, double, const T*, const T*, int64_t, int, int,    \
                                 int, T*, T*, T*, ThreadPool*);
RPU_INSTANTIATE(float)
RPU_INSTANTIATE(double)
#undef RPU_INSTANTIATE

}  // namespace rpu::train
