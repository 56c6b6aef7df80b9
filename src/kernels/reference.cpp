// Scalar reference kernels: the plainest correct code, the oracle every fast variant is
// tested against. Weights are dequantized one row at a time, then dotted in f32.
#include <vector>

#include "kernels/kernels.h"
#include "kernels/quant.h"

namespace rpu {
namespace {

void pack_ref(const MatrixView& w, WeightMatrix& out) {
  out.view = w;
  out.packed.reset();
  out.row_granule = 1;
}

bool wants_quantized_input_ref(const WeightMatrix&) { return false; }

void matmul_ref(const WeightMatrix& w, const float* x, const QuantizedInput&, int64_t n_tokens, float* y,
                int64_t row_begin, int64_t row_end) {
  const MatrixView& v = w.view;
  thread_local std::vector<float> row;
  row.resize(static_cast<size_t>(v.cols));
  for (int64_t r = row_begin; r < row_end; ++r) {
    dequantize_row(v.type, v.row(r), row.data(), v.cols);
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float* xt = x + t * v.cols;
      float sum = 0.0f;
      for (int64_t c = 0; c < v.cols; ++c) sum += row[c] * xt[c];
      y[t * v.rows + r] = sum;
    }
  }
}

}  // namespace

const KernelSet& reference_kernels() {
  static const KernelSet set{"ref", &pack_ref, &wants_quantized_input_ref, &quantize_input_ref, &matmul_ref};
  return set;
}

}  // namespace rpu
