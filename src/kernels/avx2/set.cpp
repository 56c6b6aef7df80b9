#include <immintrin.h>

#include "avx2.h"
#include "core/error.h"

#include "target_begin.h"  // only the code below is compiled for AVX2

namespace rpu::avx2 {
namespace {

void pack(const MatrixView& w, WeightMatrix& out) {
  out.view = w;
  out.packed.reset();
  out.packed_bytes = 0;
  out.row_granule = 1;
  if (packs_int8(w.type)) pack_int8(w, out);
  if (packs_kquant(w.type)) pack_kquant(w, out);
}

bool wants_quantized_input(const WeightMatrix& w) { return w.packed != nullptr; }

void matmul(const WeightMatrix& w, const float* x, const QuantizedInput& xq, int64_t n_tokens, float* y,
            int64_t row_begin, int64_t row_end) {
  if (w.packed != nullptr && packs_kquant(w.view.type)) {
    matmul_kquant(w, xq, n_tokens, y, row_begin, row_end);
  } else if (w.packed != nullptr) {
    matmul_int8(w, xq, n_tokens, y, row_begin, row_end);
  } else {
    matmul_float(w, x, n_tokens, y, row_begin, row_end);
  }
}

inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

inline int32_t hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

}  // namespace

// Same contract and rounding as quantize_input_ref: d = amax / 127, q = round-half-even(x * (1/d)).
void quantize_input(const float* x, int64_t n_tokens, int64_t cols, QuantizedInput& out) {
  out.reshape(n_tokens, cols);
  const int64_t nb = cols / 32;
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  // packs_epi32 then packs_epi16 interleave 128-bit lanes; this puts the 4-byte groups back.
  const __m256i unshuffle = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t b = 0; b < nb; ++b) {
      const float* src = x + t * cols + b * 32;
      const __m256 v0 = _mm256_loadu_ps(src), v1 = _mm256_loadu_ps(src + 8);
      const __m256 v2 = _mm256_loadu_ps(src + 16), v3 = _mm256_loadu_ps(src + 24);
      const __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v0, abs_mask), _mm256_and_ps(v1, abs_mask)),
                                     _mm256_max_ps(_mm256_and_ps(v2, abs_mask), _mm256_and_ps(v3, abs_mask)));
      const float d = hmax(m) / 127.0f;
      const __m256 inv = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
      // |x * inv| <= 127 (rounded), so the saturating packs below never clip.
      const __m256i q0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, inv));  // MXCSR default: nearest-even
      const __m256i q1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, inv));
      const __m256i q2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, inv));
      const __m256i q3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, inv));
      const __m256i q8 = _mm256_permutevar8x32_epi32(
          _mm256_packs_epi16(_mm256_packs_epi32(q0, q1), _mm256_packs_epi32(q2, q3)), unshuffle);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.q.data() + t * cols + b * 32), q8);
      const int32_t s0 = hsum_epi32(_mm256_add_epi32(q0, q1));
      const int32_t s1 = hsum_epi32(_mm256_add_epi32(q2, q3));
      out.d[static_cast<size_t>(t * nb + b)] = d;
      out.sum[static_cast<size_t>(t * nb + b)] = s0 + s1;
      out.sum16[static_cast<size_t>((t * nb + b) * 2)] = s0;
      out.sum16[static_cast<size_t>((t * nb + b) * 2 + 1)] = s1;
    }
  }
}

namespace {
// Four 256-bit accumulators (avx512/set.cpp's sum_words at half the width).
uint64_t sum_words(const uint64_t* words, int64_t n) {
  uint64_t head = 0;
  int64_t i = 0;
  for (; i < n && reinterpret_cast<uintptr_t>(words + i) % 32 != 0; ++i) head += words[i];
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_add_epi64(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(words + i)));
    a1 = _mm256_add_epi64(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(words + i + 4)));
    a2 = _mm256_add_epi64(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(words + i + 8)));
    a3 = _mm256_add_epi64(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(words + i + 12)));
  }
  for (; i < n; ++i) head += words[i];
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3)));
  return head + lanes[0] + lanes[1] + lanes[2] + lanes[3];
}
// vpmaddubsw (32 byte products into int16 pair sums) on 12 independent chains, each register
// multiplied again every round (its own previous result as the unsigned operand, so no two are
// the same product and none can be hoisted; 12 chains cover the latency; the empty asm keeps
// them live): the set's multiply instruction at its issue rate, the ceiling no int8 kernel here
// passes. An exact dot also needs vpmaddwd to widen the sums, and Q8_0 vpsignb: measured on a
// Zen 3, that mix issues at most ~38% of this peak for Q8_0 and ~63% for Q4_0 (bench/RESULTS.md,
// speed round six, section 7).
uint64_t int8_peak_loop(int64_t rounds) {
  __m256i a0 = _mm256_set1_epi8(3), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
  __m256i a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
  __m256i w = _mm256_set1_epi8(-2);
  asm volatile("" : "+x"(w));
  for (int64_t r = 0; r < rounds; ++r) {
    a0 = _mm256_maddubs_epi16(a0, w);
    a1 = _mm256_maddubs_epi16(a1, w);
    a2 = _mm256_maddubs_epi16(a2, w);
    a3 = _mm256_maddubs_epi16(a3, w);
    a4 = _mm256_maddubs_epi16(a4, w);
    a5 = _mm256_maddubs_epi16(a5, w);
    a6 = _mm256_maddubs_epi16(a6, w);
    a7 = _mm256_maddubs_epi16(a7, w);
    a8 = _mm256_maddubs_epi16(a8, w);
    a9 = _mm256_maddubs_epi16(a9, w);
    a10 = _mm256_maddubs_epi16(a10, w);
    a11 = _mm256_maddubs_epi16(a11, w);
    asm volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5));
    asm volatile("" : "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9), "+x"(a10), "+x"(a11));
  }
  const __m256i s0 = _mm256_add_epi16(_mm256_add_epi16(a0, a1), _mm256_add_epi16(a2, a3));
  const __m256i s1 = _mm256_add_epi16(_mm256_add_epi16(a4, a5), _mm256_add_epi16(a6, a7));
  const __m256i s2 = _mm256_add_epi16(_mm256_add_epi16(a8, a9), _mm256_add_epi16(a10, a11));
  volatile int32_t sink = _mm256_extract_epi32(_mm256_add_epi16(_mm256_add_epi16(s0, s1), s2), 0);
  (void)sink;
  return static_cast<uint64_t>(rounds) * 12 * 32;  // 32 byte products per instruction
}

}  // namespace

const KernelSet& kernel_set() {
  static const KernelSet set{"avx2",        &pack,         &wants_quantized_input, &quantize_input,
                             &matmul,       &attend,       &attend_block,          &attend_group,
                             &swiglu,       &int8_peak_loop, &attend_span,         &sum_words,
                             &attend_span_group};
  return set;
}

}  // namespace rpu::avx2

#include "target_end.h"
