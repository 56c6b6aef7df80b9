// One head of attention with 8-wide f32 vectors over KV rows of any cache type, read in place:
// f32 rows directly (any head_dim, ragged tails masked), f16 through F16C's vcvtph2ps, Q8_0 by
// widening 8 int8 at a time to f32 (both for heads of whole 32-value blocks; other heads are
// converted run by run, kv_rows_to_f32). Scores as dot products (four positions per pass, their
// horizontal sums combined with hadd), the soft cap, softmax with a vector exp, then the
// weighted sum of values in slices held in registers. Positions are walked page by page
// (KvRows::run_end), rows of one page inside. The query stays f32: quantizing it would add a
// second rounding for no gain, since a head row is 64-256 values and the cost is reading the
// cache. Every entry point is attend_span_group: a GQA group's queries over a span of rows, a
// page run at a time for all of them (attend_span is a group of one, attend / attend_group the
// span of all visible rows); a long decode context is split into spans (one task per GQA group
// and span, joined by merge_attention_spans). A prefill block goes
// through attend_block (attention_block.cpp), queries in lanes.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "avx2.h"
#include "kernels/blocks.h"
#include "kernels/kv_rows.h"

#include "target_begin.h"  // only the code below is compiled for AVX2

#include "exp8.h"  // AVX2 code itself: included after the target switch on purpose

namespace rpu::avx2 {
namespace {

// Lanes 0..n-1 set (n in 0..8), for masked loads of a ragged tail.
inline __m256i tail_mask(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// The four horizontal sums [sum a, sum b, sum c, sum d].
inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

// ---- f32 rows (any head_dim) ----

// q . k_p for NP consecutive positions, as NP vectors of partial sums.
template <int NP>
inline void dots(const float* q, const float* k, int64_t stride, int64_t n, __m256 acc[NP]) {
  for (int p = 0; p < NP; ++p) acc[p] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 qv = _mm256_loadu_ps(q + i);
    for (int p = 0; p < NP; ++p) acc[p] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k + p * stride + i), acc[p]);
  }
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    const __m256 qv = _mm256_maskload_ps(q + i, m);
    for (int p = 0; p < NP; ++p) acc[p] = _mm256_fmadd_ps(qv, _mm256_maskload_ps(k + p * stride + i, m), acc[p]);
  }
}

// scores[p] = scale * q . k_p for n_pos rows `stride` floats apart.
void f32_scores(const float* q, const float* k, int64_t stride, int64_t n_pos, int64_t head_dim, float scale,
                float* scores) {
  int64_t p = 0;
  for (; p + 4 <= n_pos; p += 4) {
    __m256 acc[4];
    dots<4>(q, k + p * stride, stride, head_dim, acc);
    _mm_storeu_ps(scores + p, _mm_mul_ps(hsum4(acc[0], acc[1], acc[2], acc[3]), _mm_set1_ps(scale)));
  }
  for (; p < n_pos; ++p) {
    __m256 acc[1];
    dots<1>(q, k + p * stride, stride, head_dim, acc);
    scores[p] = _mm_cvtss_f32(hsum4(acc[0], acc[0], acc[0], acc[0])) * scale;
  }
}

// out[0 .. 8*NV) += sum_p weight_p * v_p[0 .. 8*NV), accumulated in registers.
template <int NV>
void f32_weighted_sum(const float* weights, const float* v, int64_t stride, int64_t n_pos, float* out) {
  __m256 acc[NV];
  for (int j = 0; j < NV; ++j) acc[j] = _mm256_loadu_ps(out + 8 * j);
  for (int64_t p = 0; p < n_pos; ++p) {
    const __m256 weight = _mm256_broadcast_ss(weights + p);
    const float* vp = v + p * stride;
    for (int j = 0; j < NV; ++j) acc[j] = _mm256_fmadd_ps(weight, _mm256_loadu_ps(vp + 8 * j), acc[j]);
  }
  for (int j = 0; j < NV; ++j) _mm256_storeu_ps(out + 8 * j, acc[j]);
}

using WeightedSum = void (*)(const float*, const float*, int64_t, int64_t, float*);
constexpr WeightedSum kWeightedSums[9] = {nullptr,          &f32_weighted_sum<1>, &f32_weighted_sum<2>,
                                          &f32_weighted_sum<3>, &f32_weighted_sum<4>, &f32_weighted_sum<5>,
                                          &f32_weighted_sum<6>, &f32_weighted_sum<7>, &f32_weighted_sum<8>};

// out[head_dim] += sum_p weight_p * v_p: whole vectors in slices of up to 8 registers, a ragged
// tail of < 8 dimensions scalar.
void f32_values(const float* weights, const float* v, int64_t stride, int64_t n_pos, int64_t head_dim, float* out) {
  int64_t j = 0;
  while (head_dim - j >= 8) {
    const int64_t nv = std::min<int64_t>(8, (head_dim - j) / 8);
    kWeightedSums[nv](weights, v + j, stride, n_pos, out + j);
    j += 8 * nv;
  }
  for (int64_t p = 0; p < n_pos && j < head_dim; ++p) {
    const float* vp = v + p * stride;
    for (int64_t i = j; i < head_dim; ++i) out[i] += weights[p] * vp[i];
  }
}

// ---- f16 / Q8_0 rows, heads of whole 32-value blocks ----

// Values [8i, 8i + 8) of a 32-value block of f16 (no scale) or Q8_0 (times its scale later).
template <DType T>
inline __m256 load8(const uint8_t* block, int i) {
  if constexpr (T == DType::F16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * i)));
  } else {
    const auto* b = reinterpret_cast<const BlockQ8_0*>(block);
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b->qs + 8 * i))));
  }
}

template <DType T>
constexpr int64_t kBlockBytes = T == DType::F16 ? 64 : static_cast<int64_t>(sizeof(BlockQ8_0));

template <DType T>
inline float block_scale(const uint8_t* block) {
  if constexpr (T == DType::Q8_0) {
    return _cvtsh_ss(reinterpret_cast<const BlockQ8_0*>(block)->d);
  } else {
    return 1.0f;
  }
}

// q . k over head_dim values (a multiple of 32) as 8 partial sums; k: the head's first block.
template <DType T>
inline __m256 typed_dot(const float* q, const uint8_t* k, int64_t head_dim) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t j = 0; j < head_dim; j += kQK, k += kBlockBytes<T>) {
    __m256 t = _mm256_mul_ps(_mm256_loadu_ps(q + j), load8<T>(k, 0));
    for (int i = 1; i < 4; ++i) t = _mm256_fmadd_ps(_mm256_loadu_ps(q + j + 8 * i), load8<T>(k, i), t);
    acc = T == DType::Q8_0 ? _mm256_fmadd_ps(_mm256_set1_ps(block_scale<T>(k)), t, acc) : _mm256_add_ps(acc, t);
  }
  return acc;
}

// scores[p] = scale * q . k_p for n_pos rows `stride` bytes apart; k: the first row's head.
template <DType T>
void typed_scores(const float* q, const uint8_t* k, int64_t stride, int64_t n_pos, int64_t head_dim, float scale,
                  float* scores) {
  int64_t p = 0;
  for (; p + 4 <= n_pos; p += 4) {
    const uint8_t* r = k + p * stride;
    const __m128 s = hsum4(typed_dot<T>(q, r, head_dim), typed_dot<T>(q, r + stride, head_dim),
                           typed_dot<T>(q, r + 2 * stride, head_dim), typed_dot<T>(q, r + 3 * stride, head_dim));
    _mm_storeu_ps(scores + p, _mm_mul_ps(s, _mm_set1_ps(scale)));
  }
  for (; p < n_pos; ++p) {
    const __m256 a = typed_dot<T>(q, k + p * stride, head_dim);
    scores[p] = _mm_cvtss_f32(hsum4(a, a, a, a)) * scale;
  }
}

// out[0 .. 32 NB) += sum_p weight_p * v_p over NB consecutive blocks of the head, in registers.
template <DType T, int NB>
void typed_weighted_sum(const float* weights, const uint8_t* v, int64_t stride, int64_t n_pos, float* out) {
  __m256 acc[4 * NB];
  for (int i = 0; i < 4 * NB; ++i) acc[i] = _mm256_loadu_ps(out + 8 * i);
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
void typed_values(const float* weights, const uint8_t* v, int64_t stride, int64_t n_pos, int64_t head_dim, float* out) {
  int64_t j = 0;
  for (; j + 2 * kQK <= head_dim; j += 2 * kQK) {
    typed_weighted_sum<T, 2>(weights, v + j / kQK * kBlockBytes<T>, stride, n_pos, out + j);
  }
  if (j < head_dim) typed_weighted_sum<T, 1>(weights, v + j / kQK * kBlockBytes<T>, stride, n_pos, out + j);
}

// ---- one run of consecutive rows, any type ----

void run_scores(const float* q, const KvRows& kv, int64_t first, int64_t n, int64_t head_dim, float scale,
                float* scores) {
  const uint8_t* row = kv.key(first);
  if (kv.k_type == DType::F32) {
    f32_scores(q, reinterpret_cast<const float*>(row) + kv.offset, kv.k_row_bytes / 4, n, head_dim, scale, scores);
  } else if (!kv_head_in_whole_blocks(kv.k_type, kv.offset, head_dim)) {
    thread_local std::vector<float> keys;
    const float* k = kv_rows_to_f32(kv.k_type, row, kv.k_row_bytes, kv.offset, n, head_dim, keys);
    f32_scores(q, k, head_dim, n, head_dim, scale, scores);
  } else if (kv.k_type == DType::F16) {
    typed_scores<DType::F16>(q, kv_head_start(DType::F16, row, kv.offset), kv.k_row_bytes, n, head_dim, scale, scores);
  } else {
    typed_scores<DType::Q8_0>(q, kv_head_start(DType::Q8_0, row, kv.offset), kv.k_row_bytes, n, head_dim, scale,
                              scores);
  }
}

void run_values(const float* weights, const KvRows& kv, int64_t first, int64_t n, int64_t head_dim, float* out) {
  const uint8_t* row = kv.value(first);
  if (kv.v_type == DType::F32) {
    f32_values(weights, reinterpret_cast<const float*>(row) + kv.offset, kv.v_row_bytes / 4, n, head_dim, out);
  } else if (!kv_head_in_whole_blocks(kv.v_type, kv.offset, head_dim)) {
    thread_local std::vector<float> values;
    const float* v = kv_rows_to_f32(kv.v_type, row, kv.v_row_bytes, kv.offset, n, head_dim, values);
    f32_values(weights, v, head_dim, n, head_dim, out);
  } else if (kv.v_type == DType::F16) {
    typed_values<DType::F16>(weights, kv_head_start(DType::F16, row, kv.offset), kv.v_row_bytes, n, head_dim, out);
  } else {
    typed_values<DType::Q8_0>(weights, kv_head_start(DType::Q8_0, row, kv.offset), kv.v_row_bytes, n, head_dim, out);
  }
}

// Scores -> softmax weights in place (after the soft cap, if any): the maximum and e^(s - max)
// 8 at a time (exp_precise, ~1 ulp; scalar std::exp was most of a short decode step's
// attention), the total summed in 8 lanes, then lane by lane in order. Returns the scores'
// log-sum-exp (attend_span's join weight).
float softmax(float* scores, int64_t n, float cap) {
  if (cap > 0) soft_cap_scores(scores, n, cap);
  __m256 max8 = _mm256_set1_ps(-INFINITY);
  int64_t p = 0;
  for (; p + 8 <= n; p += 8) max8 = _mm256_max_ps(max8, _mm256_loadu_ps(scores + p));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, max8);
  float max_score = -INFINITY;
  for (float v : lanes) max_score = std::max(max_score, v);
  for (; p < n; ++p) max_score = std::max(max_score, scores[p]);
  const __m256 max_lanes = _mm256_set1_ps(max_score);
  __m256 total8 = _mm256_setzero_ps();
  for (p = 0; p + 8 <= n; p += 8) {
    const __m256 e = exp_precise(_mm256_sub_ps(_mm256_loadu_ps(scores + p), max_lanes));
    _mm256_storeu_ps(scores + p, e);
    total8 = _mm256_add_ps(total8, e);
  }
  if (p < n) {  // the tail through a copy padded with the maximum (its lanes are not kept)
    alignas(32) float tail[8];
    for (int64_t i = 0; i < 8; ++i) tail[i] = p + i < n ? scores[p + i] : max_score;
    _mm256_store_ps(tail, exp_precise(_mm256_sub_ps(_mm256_load_ps(tail), max_lanes)));
    for (int64_t i = 0; p + i < n; ++i) scores[p + i] = tail[i];
  }
  _mm256_store_ps(lanes, total8);
  float total = 0.0f;
  for (float v : lanes) total += v;
  for (int64_t i = p; i < n; ++i) total += scores[i];
  const float inv_total = 1.0f / total;
  for (p = 0; p < n; ++p) scores[p] *= inv_total;
  return max_score + std::log(total);
}

}  // namespace

void attend_span_group(const float* q, int64_t q_stride, int64_t n_q, const KvRows& kv, int64_t first, int64_t end,
                       const AttentionParams& a, float* scores, float* out, int64_t out_stride, float* lse,
                       int64_t lse_stride) {
  const int64_t n = end - first;
  // Runs of one page (64 positions: 16 KB of f32 keys of 64 values) stay in L1 for the
  // queries after the first; per query the arithmetic is attend_span's alone, run by run.
  for (int64_t p = first; p < end;) {
    const int64_t e = kv.run_end(p, end);
    for (int64_t j = 0; j < n_q; ++j) {
      run_scores(q + j * q_stride, kv, p, e - p, a.head_dim, a.scale, scores + j * n + (p - first));
    }
    p = e;
  }
  for (int64_t j = 0; j < n_q; ++j) {
    const float span_lse = softmax(scores + j * n, n, a.softcap);
    if (lse != nullptr) lse[j * lse_stride] = span_lse;
    std::fill(out + j * out_stride, out + j * out_stride + a.head_dim, 0.0f);
  }
  for (int64_t p = first; p < end;) {
    const int64_t e = kv.run_end(p, end);
    for (int64_t j = 0; j < n_q; ++j) {
      run_values(scores + j * n + (p - first), kv, p, e - p, a.head_dim, out + j * out_stride);
    }
    p = e;
  }
}

float attend_span(const float* q, const KvRows& kv, int64_t first, int64_t end, const AttentionParams& a,
                  float* scores, float* out) {
  float lse = 0.0f;
  attend_span_group(q, 0, 1, kv, first, end, a, scores, out, 0, &lse, 0);
  return lse;
}

void attend(const float* q, const KvRows& kv, int64_t pos, const AttentionParams& a, float* scores, float* out) {
  attend_span(q, kv, a.visible_from(pos), pos + 1, a, scores, out);
}

void attend_group(const float* q, int64_t q_stride, int64_t n_q, const KvRows& kv, int64_t pos,
                  const AttentionParams& a, float* scores, float* out, int64_t out_stride) {
  attend_span_group(q, q_stride, n_q, kv, a.visible_from(pos), pos + 1, a, scores, out, out_stride, nullptr, 0);
}

}  // namespace rpu::avx2

#include "target_end.h"
