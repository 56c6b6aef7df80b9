// The scalar bf16 panel kernels (the oracle) and the choice of the hardware set.
#include "kernels/bf16_panels.h"

#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace rpu {

#if defined(__x86_64__)
namespace avx512 {
const Bf16PanelKernels& bf16_panel_set();  // kernels/avx512/bf16_panels.cpp
}
#endif

namespace {

// f32 -> bf16, round to nearest even on the 16 dropped bits; a NaN keeps its sign and top
// payload bits and is made quiet (so rounding can never turn it into infinity).
uint16_t round_to_bf16(float x) {
  uint32_t bits = 0;
  std::memcpy(&bits, &x, sizeof bits);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float bf16_to_f32(uint32_t half) {
  const uint32_t bits = (half & 0xFFFFu) << 16;
  float x = 0.0f;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

void to_pairs_ref(const float* staged, int64_t pairs, int width, uint32_t* out) {
  for (int64_t p = 0; p < pairs; ++p) {
    const float* even = staged + 2 * p * width;
    const float* odd = even + width;
    for (int j = 0; j < width; ++j) {
      out[p * width + j] = static_cast<uint32_t>(round_to_bf16(even[j])) |
                           (static_cast<uint32_t>(round_to_bf16(odd[j])) << 16);
    }
  }
}

void multiply_tile_ref(int64_t pairs, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, int rows,
                       int cols) {
  for (int r = 0; r < rows; ++r) {
    for (int j = 0; j < cols; ++j) {
      float acc = 0.0f;
      for (int64_t p = 0; p < pairs; ++p) {
        const uint32_t av = a[p * kBf16PanelRows + r], bv = b[p * kBf16PanelCols + j];
        acc += bf16_to_f32(av >> 16) * bf16_to_f32(bv >> 16);  // exact product, one rounding
        acc += bf16_to_f32(av) * bf16_to_f32(bv);
      }
      c[r * ldc + j] += acc;
    }
  }
}

#if defined(__x86_64__)
// AVX512_BF16 is CPUID leaf 7, sub-leaf 1, EAX bit 5 (not every compiler's
// __builtin_cpu_supports knows the name). Checked here, in baseline code.
bool cpu_has_avx512_bf16() {
  __builtin_cpu_init();
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool bf16 = __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) != 0 && (eax & (1u << 5)) != 0;
  return bf16 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}
#endif

}  // namespace

const Bf16PanelKernels& bf16_panels_reference() {
  static const Bf16PanelKernels set{"ref", to_pairs_ref, multiply_tile_ref};
  return set;
}

const Bf16PanelKernels* bf16_panels_native() {
#if defined(__x86_64__)
  static const Bf16PanelKernels* const chosen = cpu_has_avx512_bf16() ? &avx512::bf16_panel_set() : nullptr;
  return chosen;
#else
  return nullptr;
#endif
}

}  // namespace rpu
