// One head of attention over typed KV cache rows (f32, f16, Q8_0), read in place with 8-wide
// vectors: f16 through F16C's vcvtph2ps, Q8_0 by widening 8 int8 at a time to f32. The query
// stays f32: quantizing it would add a second rounding for no gain here, since a head row is
// only 64-256 values and the cost is reading the cache, not the multiply-adds.
// Same softmax as attend; heads that are not whole 32-value blocks (head_dim % 32 != 0, or a
// Q8_0 head starting inside a block) go through attend_kv_via_f32.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "avx2.h"
#include "kernels/blocks.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

namespace rpu::avx2 {
namespace {

// The head's first element in a row: f32/f16 by element, Q8_0 by block (offset % 32 == 0).
inline const uint8_t* slice_start(DType type, const uint8_t* row, int64_t offset) {
  switch (type) {
    case DType::F32: return row + 4 * offset;
    case DType::F16: return row + 2 * offset;
    default: return row + offset / kQK * static_cast<int64_t>(sizeof(BlockQ8_0));
  }
}

// Values [8i, 8i + 8) of a 32-value block of f32/f16 (no scale) or Q8_0 (times its scale later).
template <DType T>
inline __m256 load8(const uint8_t* block, int i) {
  if constexpr (T == DType::F32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(block) + 8 * i);
  } else if constexpr (T == DType::F16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * i)));
  } else {
    const auto* b = reinterpret_cast<const BlockQ8_0*>(block);
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b->qs + 8 * i))));
  }
}

template <DType T>
constexpr int64_t kBlockBytes = T == DType::F32 ? 128 : T == DType::F16 ? 64 : static_cast<int64_t>(sizeof(BlockQ8_0));

template <DType T>
inline float block_scale(const uint8_t* block) {
  if constexpr (T == DType::Q8_0) {
    return _cvtsh_ss(reinterpret_cast<const BlockQ8_0*>(block)->d);
  } else {
    return 1.0f;
  }
}

// q . k over head_dim values (a multiple of 32) as 8 partial sums.
template <DType T>
inline __m256 dot(const float* q, const uint8_t* k, int64_t head_dim) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t j = 0; j < head_dim; j += kQK, k += kBlockBytes<T>) {
    __m256 t = _mm256_mul_ps(_mm256_loadu_ps(q + j), load8<T>(k, 0));
    for (int i = 1; i < 4; ++i) t = _mm256_fmadd_ps(_mm256_loadu_ps(q + j + 8 * i), load8<T>(k, i), t);
    acc = T == DType::Q8_0 ? _mm256_fmadd_ps(_mm256_set1_ps(block_scale<T>(k)), t, acc) : _mm256_add_ps(acc, t);
  }
  return acc;
}

inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

template <DType T>
void scores_of(const float* q, const KvRows& kv, int64_t n_pos, int64_t head_dim, float scale, float* scores) {
  const uint8_t* k = slice_start(T, kv.k, kv.offset);
  const int64_t stride = kv.k_row_bytes;
  int64_t p = 0;
  for (; p + 4 <= n_pos; p += 4) {
    const uint8_t* r = k + p * stride;
    const __m128 s = hsum4(dot<T>(q, r, head_dim), dot<T>(q, r + stride, head_dim), dot<T>(q, r + 2 * stride, head_dim),
                           dot<T>(q, r + 3 * stride, head_dim));
    _mm_storeu_ps(scores + p, _mm_mul_ps(s, _mm_set1_ps(scale)));
  }
  for (; p < n_pos; ++p) {
    const __m256 a = dot<T>(q, k + p * stride, head_dim);
    scores[p] = _mm_cvtss_f32(hsum4(a, a, a, a)) * scale;
  }
}

// out[0 .. 32 NB) = sum_p weight_p * v_p over NB consecutive blocks of the head, in registers.
template <DType T, int NB>
void weighted_sum(const float* weights, const uint8_t* v, int64_t stride, int64_t n_pos, float* out) {
  __m256 acc[4 * NB];
  for (int i = 0; i < 4 * NB; ++i) acc[i] = _mm256_setzero_ps();
  for (int64_t p = 0; p < n_pos; ++p) {
    const uint8_t* row = v + p * stride;
    for (int b = 0; b < NB; ++b) {
      const uint8_t* block = row + b * kBlockBytes<T>;
      const __m256 w = _mm256_set1_ps(weights[p] * block_scale<T>(block));
      for (int i = 0; i < 4; ++i) acc[4 * b + i] = _mm256_fmadd_ps(w, load8<T>(block, i), acc[4 * b + i]);
    }
  }
  for (int i = 0; i < 4 * NB; ++i) _mm256_storeu_ps(out + 8 * i, acc[i]);
}

template <DType T>
void values_of(const float* weights, const KvRows& kv, int64_t n_pos, int64_t head_dim, float* out) {
  const uint8_t* v = slice_start(T, kv.v, kv.offset);
  int64_t j = 0;
  for (; j + 2 * kQK <= head_dim; j += 2 * kQK) {
    weighted_sum<T, 2>(weights, v + j / kQK * kBlockBytes<T>, kv.v_row_bytes, n_pos, out + j);
  }
  if (j < head_dim) weighted_sum<T, 1>(weights, v + j / kQK * kBlockBytes<T>, kv.v_row_bytes, n_pos, out + j);
}

bool reads_in_place(DType type, int64_t offset, int64_t head_dim) {
  return head_dim % kQK == 0 && (type != DType::Q8_0 || offset % kQK == 0);
}

}  // namespace

void attend_kv(const float* q, const KvRows& kv, int64_t n_pos, int64_t head_dim, float scale, float* scores,
               float* out) {
  if (!reads_in_place(kv.k_type, kv.offset, head_dim) || !reads_in_place(kv.v_type, kv.offset, head_dim)) {
    attend_kv_via_f32(&attend, q, kv, n_pos, head_dim, scale, scores, out);
    return;
  }
  switch (kv.k_type) {
    case DType::F32: scores_of<DType::F32>(q, kv, n_pos, head_dim, scale, scores); break;
    case DType::F16: scores_of<DType::F16>(q, kv, n_pos, head_dim, scale, scores); break;
    default: scores_of<DType::Q8_0>(q, kv, n_pos, head_dim, scale, scores); break;
  }
  float max_score = -INFINITY;
  for (int64_t p = 0; p < n_pos; ++p) max_score = std::max(max_score, scores[p]);
  float total = 0.0f;
  for (int64_t p = 0; p < n_pos; ++p) {
    scores[p] = std::exp(scores[p] - max_score);
    total += scores[p];
  }
  const float inv_total = 1.0f / total;
  for (int64_t p = 0; p < n_pos; ++p) scores[p] *= inv_total;  // the softmax weights
  switch (kv.v_type) {
    case DType::F32: values_of<DType::F32>(scores, kv, n_pos, head_dim, out); break;
    case DType::F16: values_of<DType::F16>(scores, kv, n_pos, head_dim, out); break;
    default: values_of<DType::Q8_0>(scores, kv, n_pos, head_dim, out); break;
  }
}

}  // namespace rpu::avx2

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
