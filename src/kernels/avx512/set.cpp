#include <immintrin.h>

#include <cmath>

#include "avx512.h"
#include "core/error.h"

#include "target_begin.h"  // only the code below is compiled for AVX512

namespace rpu::avx512 {
namespace {

void pack(const MatrixView& w, WeightMatrix& out) {
  out.view = w;
  out.packed.reset();
  out.packed_bytes = 0;
  out.row_granule = 1;
  if (packs_int8(w.type)) pack_int8(w, out);
}

bool wants_quantized_input(const WeightMatrix& w) { return w.packed != nullptr; }

void matmul(const WeightMatrix& w, const float* x, const QuantizedInput& xq, int64_t n_tokens, float* y,
            int64_t row_begin, int64_t row_end) {
  if (w.packed != nullptr) {
    matmul_int8(w, xq, n_tokens, y, row_begin, row_end);
  } else {
    matmul_float(w, x, n_tokens, y, row_begin, row_end);
  }
}

}  // namespace

// Same contract and rounding as quantize_input_ref: d = amax / 127, q = round-half-even(x / d).
void quantize_input(const float* x, int64_t n_tokens, int64_t cols, QuantizedInput& out) {
  out.reshape(n_tokens, cols);
  const int64_t nb = cols / 32;
  const __m512 sign_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t b = 0; b < nb; ++b) {
      const float* src = x + t * cols + b * 32;
      const __m512 lo = _mm512_loadu_ps(src);
      const __m512 hi = _mm512_loadu_ps(src + 16);
      const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(lo, sign_mask), _mm512_and_ps(hi, sign_mask)));
      const float d = amax / 127.0f;
      const __m512 inv = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
      const __m512i qlo = _mm512_cvtps_epi32(_mm512_mul_ps(lo, inv));  // MXCSR default: nearest-even
      const __m512i qhi = _mm512_cvtps_epi32(_mm512_mul_ps(hi, inv));
      int8_t* q = out.q.data() + t * cols + b * 32;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtsepi32_epi8(qlo));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16), _mm512_cvtsepi32_epi8(qhi));
      const int32_t s0 = _mm512_reduce_add_epi32(qlo);
      const int32_t s1 = _mm512_reduce_add_epi32(qhi);
      out.d[static_cast<size_t>(t * nb + b)] = d;
      out.sum[static_cast<size_t>(t * nb + b)] = s0 + s1;
      out.sum16[static_cast<size_t>((t * nb + b) * 2)] = s0;
      out.sum16[static_cast<size_t>((t * nb + b) * 2 + 1)] = s1;
    }
  }
}

namespace {

// vpdpbusd on 12 accumulators: more than its latency (5 cycles on Zen 4) times its throughput,
// so the loop runs at the issue rate. Named variables (an array would live on the stack, each
// instruction then a load and a store); the empty asm makes them opaque every round, so the
// compiler can neither fold the constant operands nor drop the loop.
uint64_t int8_peak_loop(int64_t rounds) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
  __m512i a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
  __m512i x = _mm512_set1_epi8(3), w = _mm512_set1_epi8(-2);
  asm volatile("" : "+v"(x), "+v"(w));
  for (int64_t r = 0; r < rounds; ++r) {
    a0 = _mm512_dpbusd_epi32(a0, x, w);
    a1 = _mm512_dpbusd_epi32(a1, x, w);
    a2 = _mm512_dpbusd_epi32(a2, x, w);
    a3 = _mm512_dpbusd_epi32(a3, x, w);
    a4 = _mm512_dpbusd_epi32(a4, x, w);
    a5 = _mm512_dpbusd_epi32(a5, x, w);
    a6 = _mm512_dpbusd_epi32(a6, x, w);
    a7 = _mm512_dpbusd_epi32(a7, x, w);
    a8 = _mm512_dpbusd_epi32(a8, x, w);
    a9 = _mm512_dpbusd_epi32(a9, x, w);
    a10 = _mm512_dpbusd_epi32(a10, x, w);
    a11 = _mm512_dpbusd_epi32(a11, x, w);
    asm volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5));
    asm volatile("" : "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
  }
  __m512i sum = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3)),
                                 _mm512_add_epi32(_mm512_add_epi32(a4, a5), _mm512_add_epi32(a6, a7)));
  sum = _mm512_add_epi32(sum, _mm512_add_epi32(_mm512_add_epi32(a8, a9), _mm512_add_epi32(a10, a11)));
  volatile int32_t sink = _mm512_reduce_add_epi32(sum);
  (void)sink;
  return static_cast<uint64_t>(rounds) * 12 * 64;  // 64 byte products per instruction
}

// Four 512-bit accumulators, so the loads, not the adds, set the pace; a scalar head and tail
// for what is not a whole 64-byte line.
uint64_t sum_words(const uint64_t* words, int64_t n) {
  uint64_t head = 0;
  int64_t i = 0;
  for (; i < n && reinterpret_cast<uintptr_t>(words + i) % 64 != 0; ++i) head += words[i];
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm512_add_epi64(a0, _mm512_load_si512(words + i));
    a1 = _mm512_add_epi64(a1, _mm512_load_si512(words + i + 8));
    a2 = _mm512_add_epi64(a2, _mm512_load_si512(words + i + 16));
    a3 = _mm512_add_epi64(a3, _mm512_load_si512(words + i + 24));
  }
  for (; i < n; ++i) head += words[i];
  return head + static_cast<uint64_t>(_mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3))));
}

}  // namespace

const KernelSet& kernel_set() {
  static const KernelSet set{"avx512", &pack, &wants_quantized_input, &quantize_input, &matmul, &attend, &attend_block,
                             &attend_group, &swiglu, &int8_peak_loop, &attend_span, &sum_words, nullptr};
  return set;
}

}  // namespace rpu::avx512

#include "target_end.h"
