// The three ARM64 kernel sets. They share packing, activation quantization, the float
// kernels and attention; each has its own integer matmul (int8_<set>.cpp).
#include "neon.h"

namespace rpu::neon {
namespace {

void pack(const MatrixView& w, WeightMatrix& out) {
  out.view = w;
  out.packed.reset();
  out.packed_bytes = 0;
  out.row_granule = 1;
  if (packs_int8(w.type)) pack_int8(w, out);
}

bool wants_quantized_input(const WeightMatrix& w) { return w.packed != nullptr; }

template <void (*kIntMatmul)(const WeightMatrix&, const QuantizedInput&, int64_t, float*, int64_t, int64_t)>
void matmul(const WeightMatrix& w, const float* x, const QuantizedInput& xq, int64_t n_tokens, float* y,
            int64_t row_begin, int64_t row_end) {
  if (w.packed != nullptr) {
    kIntMatmul(w, xq, n_tokens, y, row_begin, row_end);
  } else {
    matmul_float(w, x, n_tokens, y, row_begin, row_end);
  }
}

}  // namespace

const KernelSet& neon_set() {
  static const KernelSet set{"neon", &pack, &wants_quantized_input, &quantize_input, &matmul<&matmul_int8_neon>,
                             &attend, &attend_block, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
  return set;
}

const KernelSet& dotprod_set() {
  static const KernelSet set{"dotprod", &pack, &wants_quantized_input, &quantize_input,
                             &matmul<&matmul_int8_dotprod>, &attend, &attend_block, nullptr, nullptr,
                             nullptr, nullptr, nullptr, nullptr};
  return set;
}

const KernelSet& i8mm_set() {
  static const KernelSet set{"i8mm", &pack, &wants_quantized_input, &quantize_input, &matmul<&matmul_int8_i8mm>,
                             &attend, &attend_block, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
  return set;
}

}  // namespace rpu::neon
