// Scalar reference kernels: the plainest correct code, the oracle every fast variant is
// tested against. Weights are dequantized one row at a time, then dotted in f32.
#include <vector>

#include "kernels/kernels.h"
#include "kernels/quant.h"

namespace rpu {
namespace {

void matmul_ref(const MatrixView& w, const float* x, int64_t n_tokens, float* y, int64_t row_begin,
                int64_t row_end) {
  thread_local std::vector<float> row;
  row.resize(static_cast<size_t>(w.cols));
  for (int64_t r = row_begin; r < row_end; ++r) {
    dequantize_row(w.type, w.row(r), row.data(), w.cols);
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float* xt = x + t * w.cols;
      float sum = 0.0f;
      for (int64_t c = 0; c < w.cols; ++c) sum += row[c] * xt[c];
      y[t * w.rows + r] = sum;
    }
  }
}

}  // namespace

const KernelSet& reference_kernels() {
  static const KernelSet set{"ref", &matmul_ref};
  return set;
}

}  // namespace rpu
