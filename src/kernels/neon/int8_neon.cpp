// The integer matmul of the `neon` set: ARMv8.0 ASIMD only (every AArch64 core): SMULL + ADDP + SADALP.
// The kernel itself is int8_impl.h; only the code after the includes is built for this
// instruction set, so inline code from the headers keeps the baseline target.
#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "core/error.h"
#include "neon.h"


#define RPU_NEON_ISA 0
#include "int8_impl.h"

namespace rpu::neon {

void matmul_int8_neon(const WeightMatrix& w, const QuantizedInput& xq, int64_t n_tokens, float* y, int64_t row_begin,
                   int64_t row_end) {
  matmul_int8_impl(w, xq, n_tokens, y, row_begin, row_end);
}

}  // namespace rpu::neon
