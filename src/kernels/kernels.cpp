#include "kernels/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif
#if defined(__aarch64__) && !defined(__linux__)
#if defined(__ARM_FEATURE_DOTPROD)
constexpr bool defined_feature_dotprod = true;
#else
constexpr bool defined_feature_dotprod = false;
#endif
#if defined(__ARM_FEATURE_MATMUL_INT8)
constexpr bool defined_feature_i8mm = true;
#else
constexpr bool defined_feature_i8mm = false;
#endif
#endif

namespace rpu {

#if defined(__x86_64__)
namespace avx2 {
const KernelSet& kernel_set();  // kernels/avx2/set.cpp, built with AVX2, FMA and F16C enabled
}
namespace avx512 {
const KernelSet& kernel_set();  // kernels/avx512/set.cpp, built with AVX-512 enabled
}
namespace {
// F16C from CPUID leaf 1 (ECX bit 29): clang's __builtin_cpu_supports has no "f16c".
bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & (1u << 29)) != 0;
}
// Checked here, in code built for the baseline ISA, before any AVX2 code runs.
bool cpu_has_avx2_set() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
}
// Likewise before anything AVX-512 runs.
bool cpu_has_avx512_set() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vnni") && cpu_has_f16c() && __builtin_cpu_supports("fma");
}
}  // namespace
#elif defined(__aarch64__)
namespace neon {
const KernelSet& neon_set();     // kernels/neon: plain ASIMD, every AArch64 core
const KernelSet& dotprod_set();  // SDOT (ARMv8.2 dotprod)
const KernelSet& i8mm_set();     // SMMLA (i8mm) and SDOT
}  // namespace neon
namespace {
// The CPU's optional features as the kernel reports them (Linux: the auxiliary vector).
// Elsewhere (macOS, BSDs) only what the compiler was told to assume.
bool cpu_has_dotprod() {
#if defined(__linux__)
  return (getauxval(AT_HWCAP) & (1UL << 20)) != 0;  // HWCAP_ASIMDDP
#else
  return defined_feature_dotprod;
#endif
}
bool cpu_has_i8mm() {
#if defined(__linux__)
  return (getauxval(AT_HWCAP2) & (1UL << 13)) != 0;  // HWCAP2_I8MM
#else
  return defined_feature_i8mm;
#endif
}
}  // namespace
#endif

AlignedBytes allocate_aligned(size_t n_bytes) {
  const size_t rounded = std::max<size_t>(64, (n_bytes + 63) / 64 * 64);  // whole cache lines, zeroed
  AlignedBytes p = allocate_large_buffer(rounded);
  std::memset(p.get(), 0, rounded);
  return p;
}

void QuantizedInput::reshape(int64_t tokens, int64_t columns) {
  if (columns % 32 != 0) fail("cannot quantize activations of {} columns (not a multiple of 32)", columns);
  const int64_t nb = columns / 32;
  n_tokens = tokens;
  cols = columns;
  q.resize(static_cast<size_t>(tokens * columns));
  d.resize(static_cast<size_t>(tokens * nb));
  sum.resize(static_cast<size_t>(tokens * nb));
  sum16.resize(static_cast<size_t>(tokens * nb * 2));
}

void quantize_input_ref(const float* x, int64_t n_tokens, int64_t cols, QuantizedInput& out) {
  out.reshape(n_tokens, cols);
  const int64_t nb = cols / 32;
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t b = 0; b < nb; ++b) {
      const float* src = x + t * cols + b * 32;
      float amax = 0.0f;
      for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(src[i]));
      const float d = amax / 127.0f;
      const float inv = d != 0.0f ? 1.0f / d : 0.0f;
      int8_t* q = out.q.data() + t * cols + b * 32;
      int32_t halves[2] = {0, 0};
      for (int i = 0; i < 32; ++i) {
        q[i] = static_cast<int8_t>(std::nearbyint(src[i] * inv));
        halves[i / 16] += q[i];
      }
      out.d[static_cast<size_t>(t * nb + b)] = d;
      out.sum[static_cast<size_t>(t * nb + b)] = halves[0] + halves[1];
      out.sum16[static_cast<size_t>((t * nb + b) * 2)] = halves[0];
      out.sum16[static_cast<size_t>((t * nb + b) * 2 + 1)] = halves[1];
    }
  }
}

std::vector<const KernelSet*> available_kernels() {
  std::vector<const KernelSet*> sets = {&reference_kernels()};
#if defined(__x86_64__)
  // Slowest to fastest: the last one is the default.
  static const bool has_avx2 = cpu_has_avx2_set();
  if (has_avx2) sets.push_back(&avx2::kernel_set());
  static const bool has_avx512 = cpu_has_avx512_set();
  if (has_avx512) sets.push_back(&avx512::kernel_set());
#elif defined(__aarch64__)
  // ASIMD is part of every AArch64 core; dotprod and i8mm are optional (i8mm CPUs have dotprod).
  sets.push_back(&neon::neon_set());
  static const bool has_dotprod = cpu_has_dotprod();
  if (has_dotprod) sets.push_back(&neon::dotprod_set());
  static const bool has_i8mm = has_dotprod && cpu_has_i8mm();
  if (has_i8mm) sets.push_back(&neon::i8mm_set());
#endif
  return sets;
}

const KernelSet& find_kernels(const std::string& name) {
  std::string names;
  for (const KernelSet* set : available_kernels()) {
    if (name == set->name) return *set;
    names += (names.empty() ? "" : ", ") + std::string(set->name);
  }
  fail("kernel set '{}' is not available on this CPU (available: {})", name, names);
}

const KernelSet& active_kernels() {
  static const KernelSet& chosen = []() -> const KernelSet& {
    if (const char* forced = std::getenv("RPU_KERNELS"); forced != nullptr && *forced != '\0') {
      return find_kernels(forced);
    }
    return *available_kernels().back();
  }();
  return chosen;
}

}  // namespace rpu
