// The integer matmul of the `dotprod` set: SDOT (ARMv8.2 dotprod: HWCAP_ASIMDDP), called only after kernels.cpp checked the CPU.
// The kernel itself is int8_impl.h; only the code after the includes is built for this
// instruction set, so inline code from the headers keeps the baseline target.
#include <arm_neon.h>

#if defined(__clang__) && __clang_major__ < 16
// Older clang declares the SDOT/SMMLA intrinsics only when the whole file is compiled for
// them (-march), which would leak the extension into inline code shared with baseline callers.
#error "the dotprod and i8mm kernel sets need GCC, or clang 16 or later"
#endif

#include <cstdint>
#include <cstring>

#include "core/error.h"
#include "neon.h"

// GCC: push_options/target; clang (which ignores those) applies the same target attribute to
// every function defined up to the matching pop.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("arch=armv8.2-a+dotprod"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod")
#endif
#define RPU_NEON_ISA 1
#include "int8_impl.h"

namespace rpu::neon {

void matmul_int8_dotprod(const WeightMatrix& w, const QuantizedInput& xq, int64_t n_tokens, float* y, int64_t row_begin,
                   int64_t row_end) {
  matmul_int8_impl(w, xq, n_tokens, y, row_begin, row_end);
}

}  // namespace rpu::neon

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
