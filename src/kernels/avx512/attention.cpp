// One head of attention with 16-wide f32 vectors: scores as dot products, a softmax with a
// vectorised exp (relative error < 2e-7), then the weighted sum of values.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "avx512.h"
#include "kernels/blocks.h"

// Only the code below is compiled for AVX512 (function by function, not the whole file):
// inline and template code from the headers above keeps the baseline target, so a copy of
// it emitted here can never be the one the linker keeps for baseline callers.
// GCC: push_options/target; clang (which ignores those) applies the same target attribute to
// every function defined up to the matching pop.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")
#endif

namespace rpu::avx512 {
namespace {

// Dot product of n floats (n any size; the tail is masked).
inline __m512 dot_lanes(const float* a, const float* b, int64_t n) {
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc);
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc);
  }
  return acc;
}

// e^x for 16 lanes, relative error below 2e-7 over the softmax's range (x <= 0): split
// x*log2(e) = n + f with |f| <= 1/2, 2^f by a degree-6 polynomial, 2^n through the exponent.
inline __m512 exp_lanes(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));  // below this e^x underflows f32 anyway
  const __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f));
  const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(t, n);
  __m512 p = _mm512_set1_ps(1.535336188319500e-4f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.339887440266574e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.618437357674640e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550332471162809e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402264791363012e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931472028550421e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);  // p * 2^n
}

// scores[p] = e^(scores[p] - max_score); returns 1 / their sum.
inline float exp_scores(float* scores, int64_t n_pos, float max_score) {
  __m512 totals = _mm512_setzero_ps();
  const __m512 max_lanes = _mm512_set1_ps(max_score);
  int64_t p = 0;
  for (; p + 16 <= n_pos; p += 16) {
    const __m512 e = exp_lanes(_mm512_sub_ps(_mm512_loadu_ps(scores + p), max_lanes));
    _mm512_storeu_ps(scores + p, e);
    totals = _mm512_add_ps(totals, e);
  }
  if (p < n_pos) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n_pos - p)) - 1u);
    const __m512 e = exp_lanes(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, scores + p), max_lanes));
    _mm512_mask_storeu_ps(scores + p, m, e);
    totals = _mm512_add_ps(totals, _mm512_maskz_mov_ps(m, e));
  }
  return 1.0f / _mm512_reduce_add_ps(totals);
}

}  // namespace

void attend(const float* q, const float* k, const float* v, int64_t stride, int64_t n_pos, int64_t head_dim, float scale,
            float* scores, float* out) {
  float max_score = -INFINITY;
  for (int64_t p = 0; p < n_pos; ++p) {
    scores[p] = _mm512_reduce_add_ps(dot_lanes(q, k + p * stride, head_dim)) * scale;
    max_score = std::max(max_score, scores[p]);
  }
  const float inv_total = exp_scores(scores, n_pos, max_score);
  // out accumulates in registers when the head fits in 8 vectors (head_dim <= 128), the usual case.
  if (head_dim <= 128 && head_dim % 16 == 0) {
    __m512 acc[8];
    const int64_t nv = head_dim / 16;
    for (int64_t j = 0; j < nv; ++j) acc[j] = _mm512_setzero_ps();
    for (int64_t p = 0; p < n_pos; ++p) {
      const __m512 weight = _mm512_set1_ps(scores[p] * inv_total);
      const float* vp = v + p * stride;
      for (int64_t j = 0; j < nv; ++j) acc[j] = _mm512_fmadd_ps(weight, _mm512_loadu_ps(vp + 16 * j), acc[j]);
    }
    for (int64_t j = 0; j < nv; ++j) _mm512_storeu_ps(out + 16 * j, acc[j]);
    return;
  }
  std::fill(out, out + head_dim, 0.0f);
  for (int64_t p = 0; p < n_pos; ++p) {
    const float weight = scores[p] * inv_total;
    const float* vp = v + p * stride;
    for (int64_t i = 0; i < head_dim; ++i) out[i] += weight * vp[i];
  }
}

}  // namespace rpu::avx512

namespace rpu::avx512 {

// Up to 16 queries at once with one query per lane, so scores and outputs need no horizontal
// sums: scores[p] (16 lanes) = sum_i qT[i] * k_p[i], outT[i] = sum_p weights[p] * v_p[i].
void attend_block(const float* q, int64_t q_stride, int64_t n_q, const float* k, const float* v, int64_t stride,
                  int64_t first_pos, int64_t head_dim, float scale, float* out, int64_t out_stride) {
  const int64_t n_pos = first_pos + n_q;
  thread_local std::vector<float> scratch;
  const size_t need = static_cast<size_t>((n_pos + 2 * head_dim) * 16);
  if (scratch.size() < need) scratch.resize(need);
  float* scores = scratch.data();                  // [n_pos][16]
  float* qt = scores + n_pos * 16;                 // [head_dim][16]
  float* out_t = qt + head_dim * 16;               // [head_dim][16]
  for (int64_t i = 0; i < head_dim; ++i) {
    for (int64_t j = 0; j < 16; ++j) qt[i * 16 + j] = j < n_q ? q[j * q_stride + i] * scale : 0.0f;
  }
  // Lane j may see position p when p <= first_pos + j.
  __m512 max_score = _mm512_set1_ps(-INFINITY);
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int64_t p = 0; p < n_pos; ++p) {
    const float* kp = k + p * stride;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= head_dim; i += 2) {
      acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(qt + i * 16), _mm512_set1_ps(kp[i]), acc0);
      acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(qt + (i + 1) * 16), _mm512_set1_ps(kp[i + 1]), acc1);
    }
    if (i < head_dim) acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(qt + i * 16), _mm512_set1_ps(kp[i]), acc0);
    __m512 s = _mm512_add_ps(acc0, acc1);
    if (p > first_pos) {
      const __mmask16 hidden = _mm512_cmplt_epi32_mask(lane, _mm512_set1_epi32(static_cast<int32_t>(p - first_pos)));
      s = _mm512_mask_mov_ps(s, hidden, _mm512_set1_ps(-INFINITY));
    }
    _mm512_storeu_ps(scores + p * 16, s);
    max_score = _mm512_max_ps(max_score, s);
  }
  __m512 total = _mm512_setzero_ps();
  for (int64_t p = 0; p < n_pos; ++p) {
    const __m512 e = exp_lanes(_mm512_sub_ps(_mm512_loadu_ps(scores + p * 16), max_score));
    // exp_lanes clamps its input, so masked (-inf) lanes must be zeroed explicitly.
    const __mmask16 visible = _mm512_cmp_ps_mask(_mm512_loadu_ps(scores + p * 16), _mm512_set1_ps(-INFINITY), _CMP_NEQ_OQ);
    const __m512 w = _mm512_maskz_mov_ps(visible, e);
    _mm512_storeu_ps(scores + p * 16, w);
    total = _mm512_add_ps(total, w);
  }
  const __m512 inv_total = _mm512_div_ps(_mm512_set1_ps(1.0f), total);
  for (int64_t i0 = 0; i0 < head_dim; i0 += 16) {
    const int64_t width = std::min<int64_t>(16, head_dim - i0);
    __m512 acc[16];
    for (int64_t i = 0; i < 16; ++i) acc[i] = _mm512_setzero_ps();
    if (width == 16) {  // constant trip count: the 16 accumulators stay in registers
      for (int64_t p = 0; p < n_pos; ++p) {
        const __m512 w = _mm512_loadu_ps(scores + p * 16);
        const float* vp = v + p * stride + i0;
        for (int64_t i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(w, _mm512_set1_ps(vp[i]), acc[i]);
      }
    } else {
      for (int64_t p = 0; p < n_pos; ++p) {
        const __m512 w = _mm512_loadu_ps(scores + p * 16);
        const float* vp = v + p * stride + i0;
        for (int64_t i = 0; i < width; ++i) acc[i] = _mm512_fmadd_ps(w, _mm512_set1_ps(vp[i]), acc[i]);
      }
    }
    for (int64_t i = 0; i < width; ++i) _mm512_storeu_ps(out_t + (i0 + i) * 16, _mm512_mul_ps(acc[i], inv_total));
  }
  for (int64_t j = 0; j < n_q; ++j) {
    for (int64_t i = 0; i < head_dim; ++i) out[j * out_stride + i] = out_t[i * 16 + j];
  }
}

}  // namespace rpu::avx512

// attend over typed KV cache rows (f32, f16 through vcvtph2ps, Q8_0 widened 16 int8 at a
// time), read in place. The query stays f32: quantizing it would add a second rounding for no
// gain, since a head row is 64-256 values and the cost is reading the cache. Heads that are
// not whole 32-value blocks (head_dim % 32 != 0, or a Q8_0 head starting inside a block) go
// through attend_kv_via_f32.
namespace rpu::avx512 {
namespace {

inline const uint8_t* slice_start(DType type, const uint8_t* row, int64_t offset) {
  switch (type) {
    case DType::F32: return row + 4 * offset;
    case DType::F16: return row + 2 * offset;
    default: return row + offset / kQK * static_cast<int64_t>(sizeof(BlockQ8_0));
  }
}

// Values [16i, 16i + 16) of a 32-value block (Q8_0: before its scale).
template <DType T>
inline __m512 load16(const uint8_t* block, int i) {
  if constexpr (T == DType::F32) {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(block) + 16 * i);
  } else if constexpr (T == DType::F16) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 32 * i)));
  } else {
    const auto* b = reinterpret_cast<const BlockQ8_0*>(block);
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b->qs + 16 * i))));
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

// q . k over head_dim values (a multiple of 32).
template <DType T>
inline float dot(const float* q, const uint8_t* k, int64_t head_dim) {
  __m512 acc = _mm512_setzero_ps();
  for (int64_t j = 0; j < head_dim; j += kQK, k += kBlockBytes<T>) {
    const __m512 t = _mm512_fmadd_ps(_mm512_loadu_ps(q + j + 16), load16<T>(k, 1),
                                     _mm512_mul_ps(_mm512_loadu_ps(q + j), load16<T>(k, 0)));
    if constexpr (T == DType::Q8_0) {
      acc = _mm512_fmadd_ps(_mm512_set1_ps(block_scale<T>(k)), t, acc);
    } else {
      acc = _mm512_add_ps(acc, t);
    }
  }
  return _mm512_reduce_add_ps(acc);
}

// out[0 .. 32 NB) = sum_p weight_p * v_p over NB consecutive blocks of the head, in registers.
template <DType T, int NB>
void weighted_sum(const float* scores, float inv_total, const uint8_t* v, int64_t stride, int64_t n_pos, float* out) {
  __m512 acc[2 * NB];
  for (int i = 0; i < 2 * NB; ++i) acc[i] = _mm512_setzero_ps();
  for (int64_t p = 0; p < n_pos; ++p) {
    const uint8_t* row = v + p * stride;
    const float weight = scores[p] * inv_total;
    for (int b = 0; b < NB; ++b) {
      const uint8_t* block = row + b * kBlockBytes<T>;
      const __m512 w = _mm512_set1_ps(weight * block_scale<T>(block));
      acc[2 * b] = _mm512_fmadd_ps(w, load16<T>(block, 0), acc[2 * b]);
      acc[2 * b + 1] = _mm512_fmadd_ps(w, load16<T>(block, 1), acc[2 * b + 1]);
    }
  }
  for (int i = 0; i < 2 * NB; ++i) _mm512_storeu_ps(out + 16 * i, acc[i]);
}

template <DType T>
float scores_of(const float* q, const KvRows& kv, int64_t n_pos, int64_t head_dim, float scale, float* scores) {
  const uint8_t* k = slice_start(T, kv.k, kv.offset);
  float max_score = -INFINITY;
  for (int64_t p = 0; p < n_pos; ++p) {
    scores[p] = dot<T>(q, k + p * kv.k_row_bytes, head_dim) * scale;
    max_score = std::max(max_score, scores[p]);
  }
  return max_score;
}

// Slices of up to 4 blocks (128 values, 8 registers).
template <DType T>
void values_of(const float* scores, float inv_total, const KvRows& kv, int64_t n_pos, int64_t head_dim, float* out) {
  const uint8_t* v = slice_start(T, kv.v, kv.offset);
  for (int64_t j = 0; j < head_dim;) {
    const uint8_t* vj = v + j / kQK * kBlockBytes<T>;
    switch (std::min<int64_t>(4, (head_dim - j) / kQK)) {
      case 4: weighted_sum<T, 4>(scores, inv_total, vj, kv.v_row_bytes, n_pos, out + j); j += 4 * kQK; break;
      case 3: weighted_sum<T, 3>(scores, inv_total, vj, kv.v_row_bytes, n_pos, out + j); j += 3 * kQK; break;
      case 2: weighted_sum<T, 2>(scores, inv_total, vj, kv.v_row_bytes, n_pos, out + j); j += 2 * kQK; break;
      default: weighted_sum<T, 1>(scores, inv_total, vj, kv.v_row_bytes, n_pos, out + j); j += kQK; break;
    }
  }
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
  float max_score;
  switch (kv.k_type) {
    case DType::F32: max_score = scores_of<DType::F32>(q, kv, n_pos, head_dim, scale, scores); break;
    case DType::F16: max_score = scores_of<DType::F16>(q, kv, n_pos, head_dim, scale, scores); break;
    default: max_score = scores_of<DType::Q8_0>(q, kv, n_pos, head_dim, scale, scores); break;
  }
  const float inv_total = exp_scores(scores, n_pos, max_score);
  switch (kv.v_type) {
    case DType::F32: values_of<DType::F32>(scores, inv_total, kv, n_pos, head_dim, out); break;
    case DType::F16: values_of<DType::F16>(scores, inv_total, kv, n_pos, head_dim, out); break;
    default: values_of<DType::Q8_0>(scores, inv_total, kv, n_pos, head_dim, out); break;
  }
}

}  // namespace rpu::avx512

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
