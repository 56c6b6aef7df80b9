// Matmul for weights kept in a float format (F32, F16, BF16), read in place, and a fallback
// for formats without an integer layout yet: dequantize a row with the reference code,
// then dot in f32. Four tokens share each weight row load.
#include <immintrin.h>

#include <vector>

#include "avx512.h"
#include "kernels/quant.h"

#include "target_begin.h"  // only the code below is compiled for AVX512

namespace rpu::avx512 {
namespace {

// 16 weights starting at column c, as f32.
template <DType kType>
inline __m512 load16(const uint8_t* row, int64_t c) {
  if constexpr (kType == DType::F32) {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + c);
  } else if constexpr (kType == DType::F16) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(reinterpret_cast<const uint16_t*>(row) + c)));
  } else {  // BF16: the top half of an f32
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(reinterpret_cast<const uint16_t*>(row) + c));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
  }
}

template <DType kType, int NT>
void rows_kernel(const uint8_t* row, int64_t cols, const float* x, int64_t t0, float* y, int64_t rows, int64_t r) {
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  int64_t c = 0;
  for (; c + 16 <= cols; c += 16) {
    const __m512 w = load16<kType>(row, c);
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_fmadd_ps(w, _mm512_loadu_ps(x + (t0 + t) * cols + c), acc[t]);
  }
  if (c < cols) {
    // Ragged tail: mask the activations to zero and load whole 16-value vectors of the row
    // only where they stay inside it.
    const __mmask16 m = static_cast<__mmask16>((1u << (cols - c)) - 1u);
    __m512 w;
    if constexpr (kType == DType::F32) {
      w = _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(row) + c);
    } else {
      const __m256i raw = _mm256_maskz_loadu_epi16(m, reinterpret_cast<const uint16_t*>(row) + c);
      w = kType == DType::F16 ? _mm512_cvtph_ps(raw) : _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
    }
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(m, x + (t0 + t) * cols + c), acc[t]);
  }
  for (int t = 0; t < NT; ++t) y[(t0 + t) * rows + r] = _mm512_reduce_add_ps(acc[t]);
}

template <DType kType>
void matmul_rows(const uint8_t* data, uint64_t row_bytes, int64_t cols, const float* x, int64_t n_tokens, float* y,
                 int64_t rows, int64_t row_begin, int64_t row_end) {
  for (int64_t r = row_begin; r < row_end; ++r) {
    const uint8_t* row = data + static_cast<uint64_t>(r) * row_bytes;
    int64_t t = 0;
    for (; t + 4 <= n_tokens; t += 4) rows_kernel<kType, 4>(row, cols, x, t, y, rows, r);
    for (; t < n_tokens; ++t) rows_kernel<kType, 1>(row, cols, x, t, y, rows, r);
  }
}

}  // namespace

void matmul_float(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, int64_t row_begin,
                  int64_t row_end) {
  const MatrixView& v = w.view;
  switch (v.type) {
    case DType::F32: return matmul_rows<DType::F32>(v.data, v.row_bytes, v.cols, x, n_tokens, y, v.rows, row_begin, row_end);
    case DType::F16: return matmul_rows<DType::F16>(v.data, v.row_bytes, v.cols, x, n_tokens, y, v.rows, row_begin, row_end);
    case DType::BF16: return matmul_rows<DType::BF16>(v.data, v.row_bytes, v.cols, x, n_tokens, y, v.rows, row_begin, row_end);
    default: break;
  }
  thread_local std::vector<float> row;
  row.resize(static_cast<size_t>(v.cols));
  for (int64_t r = row_begin; r < row_end; ++r) {
    dequantize_row_fast(v.type, v.row(r), row.data(), v.cols);
    matmul_rows<DType::F32>(reinterpret_cast<const uint8_t*>(row.data()), 0, v.cols, x, n_tokens, y, v.rows, r, r + 1);
  }
}

}  // namespace rpu::avx512

#include "target_end.h"
