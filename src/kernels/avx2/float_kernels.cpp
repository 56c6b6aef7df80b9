// Matmul for weights kept in a float format (F32, F16, BF16), read in place with 8-wide FMA,
// and a fallback for formats without an integer layout: expand a row to f32 (vectorised for
// Q4_K / Q6_K), then dot in f32. Up to four tokens share each weight load.
#include <immintrin.h>

#include <cstring>
#include <vector>

#include "avx2.h"
#include "kernels/quant.h"

#include "target_begin.h"  // only the code below is compiled for AVX2

namespace rpu::avx2 {
namespace {

// 8 weights starting at column c, as f32.
template <DType kType>
inline __m256 load8(const uint8_t* row, int64_t c) {
  if constexpr (kType == DType::F32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + c);
  } else if constexpr (kType == DType::F16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(row) + c)));
  } else {  // BF16: the top half of an f32
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(row) + c));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16));
  }
}

// The last n < 8 weights from column c, zero-padded (never reads past the row).
template <DType kType>
inline __m256 load_tail(const uint8_t* row, int64_t c, int64_t n) {
  constexpr size_t kSize = kType == DType::F32 ? 4 : 2;
  alignas(32) uint8_t buffer[32] = {};
  std::memcpy(buffer, row + c * kSize, static_cast<size_t>(n) * kSize);
  return load8<kType>(buffer, 0);
}

inline __m256 load_tail_x(const float* x, int64_t n) {
  alignas(32) float buffer[8] = {};
  std::memcpy(buffer, x, static_cast<size_t>(n) * sizeof(float));
  return _mm256_load_ps(buffer);
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// One weight row against NT tokens. Two accumulators per token (16 columns per step) keep
// the FMA latency hidden when NT is small.
template <DType kType, int NT>
void rows_kernel(const uint8_t* row, int64_t cols, const float* x, int64_t t0, float* y, int64_t rows, int64_t r) {
  __m256 acc0[NT], acc1[NT];
  for (int t = 0; t < NT; ++t) acc0[t] = acc1[t] = _mm256_setzero_ps();
  const float* xt[NT];
  for (int t = 0; t < NT; ++t) xt[t] = x + (t0 + t) * cols;
  int64_t c = 0;
  for (; c + 16 <= cols; c += 16) {
    const __m256 w0 = load8<kType>(row, c);
    const __m256 w1 = load8<kType>(row, c + 8);
    for (int t = 0; t < NT; ++t) {
      acc0[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xt[t] + c), acc0[t]);
      acc1[t] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xt[t] + c + 8), acc1[t]);
    }
  }
  if (c + 8 <= cols) {
    const __m256 w0 = load8<kType>(row, c);
    for (int t = 0; t < NT; ++t) acc0[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xt[t] + c), acc0[t]);
    c += 8;
  }
  if (c < cols) {
    const __m256 w1 = load_tail<kType>(row, c, cols - c);
    for (int t = 0; t < NT; ++t) acc1[t] = _mm256_fmadd_ps(w1, load_tail_x(xt[t] + c, cols - c), acc1[t]);
  }
  for (int t = 0; t < NT; ++t) y[(t0 + t) * rows + r] = hsum(_mm256_add_ps(acc0[t], acc1[t]));
}

template <DType kType>
void matmul_rows(const uint8_t* data, uint64_t row_bytes, int64_t cols, const float* x, int64_t n_tokens, float* y,
                 int64_t rows, int64_t row_begin, int64_t row_end) {
  for (int64_t r = row_begin; r < row_end; ++r) {
    const uint8_t* row = data + static_cast<uint64_t>(r - row_begin) * row_bytes;
    int64_t t = 0;
    for (; t + 4 <= n_tokens; t += 4) rows_kernel<kType, 4>(row, cols, x, t, y, rows, r);
    switch (n_tokens - t) {
      case 3: rows_kernel<kType, 3>(row, cols, x, t, y, rows, r); break;
      case 2: rows_kernel<kType, 2>(row, cols, x, t, y, rows, r); break;
      case 1: rows_kernel<kType, 1>(row, cols, x, t, y, rows, r); break;
      default: break;
    }
  }
}

}  // namespace

void matmul_float(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, int64_t row_begin,
                  int64_t row_end) {
  const MatrixView& v = w.view;
  switch (v.type) {
    case DType::F32:
      return matmul_rows<DType::F32>(v.row(row_begin), v.row_bytes, v.cols, x, n_tokens, y, v.rows, row_begin, row_end);
    case DType::F16:
      return matmul_rows<DType::F16>(v.row(row_begin), v.row_bytes, v.cols, x, n_tokens, y, v.rows, row_begin, row_end);
    case DType::BF16:
      return matmul_rows<DType::BF16>(v.row(row_begin), v.row_bytes, v.cols, x, n_tokens, y, v.rows, row_begin, row_end);
    default: break;
  }
  thread_local std::vector<float> row;
  row.resize(static_cast<size_t>(v.cols));
  for (int64_t r = row_begin; r < row_end; ++r) {
    dequantize_row_fast(v.type, v.row(r), row.data(), v.cols);
    matmul_rows<DType::F32>(reinterpret_cast<const uint8_t*>(row.data()), 0, v.cols, x, n_tokens, y, v.rows, r, r + 1);
  }
}

}  // namespace rpu::avx2

#include "target_end.h"
