// The inner loops of the trainer's bf16 GEMM (train/gemm.cpp packs the operands and walks the
// tiles): rounding f32 panels to bf16 pairs, and one register tile of C from two such panels
// with f32 accumulation. A small table of its own, beside the inference KernelSet: the trainer
// chooses it by training precision (--precision / RPU_TRAIN_GEMM), and the hardware set needs a
// CPU bit (AVX512-BF16) the inference sets do not. The scalar reference is the oracle.
//
// Panel layouts (uint32 = two bf16, the even k in the low half, as vdpbf16ps pairs them):
//   A panel: kBf16PanelRows rows of A over k pairs:  a[p * kBf16PanelRows + r] = (A[r][2p], A[r][2p+1])
//   B panel: kBf16PanelCols cols of B over k pairs:  b[p * kBf16PanelCols + j] = (B[2p][j], B[2p+1][j])
#pragma once

#include <cstdint>

namespace rpu {

constexpr int kBf16PanelRows = 8;   // rows of a C tile (one A panel)
constexpr int kBf16PanelCols = 32;  // columns of a C tile (one B panel)

struct Bf16PanelKernels {
  const char* name;
  // staged [2 * pairs, width] floats (row k at staged + k * width; width a multiple of 8) ->
  // out [pairs, width] bf16 pairs, rounded to nearest even; NaN stays NaN. Subnormal inputs
  // round like normal ones in the reference; the hardware may flush them to zero.
  void (*to_pairs)(const float* staged, int64_t pairs, int width, uint32_t* out);
  // C[rows, cols] (row stride ldc) += A panel x B panel over `pairs` k pairs. The products of
  // bf16 values are exact in f32; per element they are summed into an f32 accumulator that
  // starts at zero (odd k, then even k, per pair: vdpbf16ps's order), then added to C. Rows past
  // `rows` and columns past `cols` are panel padding and are not stored.
  void (*multiply_tile)(int64_t pairs, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, int rows, int cols);
};

const Bf16PanelKernels& bf16_panels_reference();
// The hardware set (AVX512-BF16 on x86-64) when this CPU has it, else null. Checked once.
const Bf16PanelKernels* bf16_panels_native();

}  // namespace rpu
