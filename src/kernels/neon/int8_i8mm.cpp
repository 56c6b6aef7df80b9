// The integer matmul of the `i8mm` set: SMMLA on token pairs (i8mm: HWCAP2_I8MM) and SDOT, called only after kernels.cpp checked the CPU.
// The kernel itself is int8_impl.h; only the code after the includes is built for this
// instruction set, so inline code from the headers keeps the baseline target.
#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "core/error.h"
#include "neon.h"

#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod+i8mm")
#define RPU_NEON_ISA 2
#include "int8_impl.h"

namespace rpu::neon {

void matmul_int8_i8mm(const WeightMatrix& w, const QuantizedInput& xq, int64_t n_tokens, float* y, int64_t row_begin,
                   int64_t row_end) {
  matmul_int8_impl(w, xq, n_tokens, y, row_begin, row_end);
}

}  // namespace rpu::neon

#pragma GCC pop_options
