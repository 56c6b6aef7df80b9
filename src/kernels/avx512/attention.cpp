// One head of attention with 16-wide f32 vectors over KV rows of any cache type, read in place:
// f32 rows directly (any head_dim, tails masked), f16 through vcvtph2ps, Q8_0 widened 16 int8
// at a time (both for heads of whole 32-value blocks; other heads go through the scalar
// conversion, kv_rows_to_f32 / kv_slice_to_f32). Softmax with a vectorised exp (relative error
// < 2e-7). Positions are walked page by page (KvRows::run_end), rows of one page inside. The
// query stays f32: quantizing it would add a second rounding for no gain, since a head row is
// 64-256 values and the cost is reading the cache.
//   attend:       one query; scores as dot products (f32 rows: 8 positions at a time, their
//                 horizontal sums in one transposing tree), then the weighted sum of values.
//   attend_block: up to 16 queries of a prefill block, one per lane, so scores and outputs
//                 need no horizontal sums; f16/Q8_0 rows are widened to f32 once per block, a
//                 page run (<= 64 rows) at a time into an L1/L2-sized buffer, and the f32 loops
//                 read that buffer (f32 rows are read in place). The query heads of a GQA group
//                 run side by side (group_block: up to 4 heads, 4 rows per pass, so each key or
//                 value element is broadcast once for all heads and each query vector loaded
//                 once for 4 rows; 1.4x the per-head kernel on SmolLM2-135M's 3 heads per KV
//                 head), a lone head alone (attend_block_one: 8 rows per pass); both give every
//                 (head, query) the same fma chains, so the grouping changes no bit.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "avx512.h"
#include "kernels/blocks.h"
#include "kernels/kv_rows.h"

#include "target_begin.h"  // only the code below is compiled for AVX512

#include "exp_lanes.h"  // AVX-512 code itself: included after the target switch on purpose

namespace rpu::avx512 {
namespace {

// Scores -> softmax weights in place (after the soft cap, if any); returns the scores'
// log-sum-exp (attend_span's join weight).
float softmax(float* scores, int64_t n_pos, float cap) {
  if (cap > 0) soft_cap_scores(scores, n_pos, cap);
  // The maximum 16 lanes at a time (a scalar maxss chain was a fifth of attend's time); max is
  // exact, so the order changes nothing.
  __m512 max16 = _mm512_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 16 <= n_pos; i += 16) max16 = _mm512_max_ps(max16, _mm512_loadu_ps(scores + i));
  if (i < n_pos) {
    max16 = _mm512_mask_max_ps(max16, static_cast<__mmask16>((1u << (n_pos - i)) - 1u), max16, _mm512_maskz_loadu_ps(
                                   static_cast<__mmask16>((1u << (n_pos - i)) - 1u), scores + i));
  }
  const float max_score = _mm512_reduce_max_ps(max16);
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
  const float total = _mm512_reduce_add_ps(totals);
  const __m512 inv_total = _mm512_set1_ps(1.0f / total);
  for (p = 0; p + 16 <= n_pos; p += 16) _mm512_storeu_ps(scores + p, _mm512_mul_ps(_mm512_loadu_ps(scores + p), inv_total));
  for (; p < n_pos; ++p) scores[p] *= _mm512_cvtss_f32(inv_total);
  return max_score + std::log(total);
}

// ---- f32 rows (any head_dim) ----

// Scores 8 positions at a time. Each position's dot product is the one-position form's exact
// arithmetic (16 lanes accumulated over head_dim by fma, 16 dimensions at a time, the tail
// masked), and the horizontal sums pair lanes exactly as _mm512_reduce_add_ps does (i with i+8,
// then i+4, i+2, i+1), so a score is bit for bit what reduce_add gives: the first level per
// position (256-bit halves), the other three for 8 positions at once in one transposing tree of
// 256-bit shuffles, ~2.5 operations a position instead of ~6 (with head_dim 32, the built-in
// model's, those horizontal sums cost more than the dot products).

// Lanes i + (i + 8) of a 16-lane accumulator: reduce_add's first level.
inline __m256 fold_halves(__m512 acc) {
  return _mm256_add_ps(_mm512_castps512_ps256(acc), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1)));
}
// Levels 2-4 for 8 folded vectors: lane j of the result is the full sum of v[kSlot[j]]...
// Level 2 (j + (j+4)) for a pair: [a.lo + a.hi | b.lo + b.hi].
inline __m256 fold_quarters(__m256 a, __m256 b) {
  return _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
}
// The sums of 8 folded vectors; slot s's sum lands in lane kSlotLane[s].
constexpr int kSlotLane[8] = {0, 4, 1, 5, 2, 6, 3, 7};
inline __m256 reduce8(const __m256* v) {
  const __m256 u0 = fold_quarters(v[0], v[1]);  // 128-bit half h: input h's 4 level-2 sums
  const __m256 u1 = fold_quarters(v[2], v[3]);
  const __m256 u2 = fold_quarters(v[4], v[5]);
  const __m256 u3 = fold_quarters(v[6], v[7]);
  // Level 3: elements 0+2 and 1+3 of each half (inputs of u0 and u1 side by side).
  const __m256 r0 = _mm256_add_ps(_mm256_shuffle_ps(u0, u1, _MM_SHUFFLE(1, 0, 1, 0)), _mm256_shuffle_ps(u0, u1, _MM_SHUFFLE(3, 2, 3, 2)));
  const __m256 r1 = _mm256_add_ps(_mm256_shuffle_ps(u2, u3, _MM_SHUFFLE(1, 0, 1, 0)), _mm256_shuffle_ps(u2, u3, _MM_SHUFFLE(3, 2, 3, 2)));
  // Level 4: elements 0+1; half h = inputs (h, 2+h, 4+h, 6+h) of v.
  return _mm256_add_ps(_mm256_shuffle_ps(r0, r1, _MM_SHUFFLE(2, 0, 2, 0)), _mm256_shuffle_ps(r0, r1, _MM_SHUFFLE(3, 1, 3, 1)));
}

// q . k over n floats as 16 lane sums (the tail masked), before the horizontal sum.
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

// Scores for head_dim = 16 NV: q in NV registers, 8 positions per iteration fully unrolled (the
// positions' fma chains overlap), dot products formed exactly as dot_lanes forms them.
template <int NV>
void f32_scores_in_registers(const float* q, const float* k, int64_t stride, int64_t n_pos, float scale,
                             float* scores) {
  __m512 qv[NV];
  for (int j = 0; j < NV; ++j) qv[j] = _mm512_loadu_ps(q + 16 * j);
  const __m256 scale8 = _mm256_set1_ps(scale);
  int64_t p = 0;
  for (; p + 8 <= n_pos; p += 8) {
    __m256 folded[8];
    for (int s = 0; s < 8; ++s) {
      const float* row = k + (p + kSlotLane[s]) * stride;
      __m512 acc = _mm512_fmadd_ps(qv[0], _mm512_loadu_ps(row), _mm512_setzero_ps());
      for (int j = 1; j < NV; ++j) acc = _mm512_fmadd_ps(qv[j], _mm512_loadu_ps(row + 16 * j), acc);
      folded[s] = fold_halves(acc);
    }
    _mm256_storeu_ps(scores + p, _mm256_mul_ps(reduce8(folded), scale8));
  }
  for (; p < n_pos; ++p) scores[p] = _mm512_reduce_add_ps(dot_lanes(q, k + p * stride, 16 * NV)) * scale;
}

void f32_scores(const float* q, const float* k, int64_t stride, int64_t n_pos, int64_t head_dim, float scale,
                float* scores) {
  switch (head_dim) {
    case 32: return f32_scores_in_registers<2>(q, k, stride, n_pos, scale, scores);
    case 64: return f32_scores_in_registers<4>(q, k, stride, n_pos, scale, scores);
    case 128: return f32_scores_in_registers<8>(q, k, stride, n_pos, scale, scores);
    default: break;
  }
  const __m256 scale8 = _mm256_set1_ps(scale);
  int64_t p = 0;
  for (; p + 8 <= n_pos; p += 8) {
    __m256 folded[8];
    for (int s = 0; s < 8; ++s) folded[s] = fold_halves(dot_lanes(q, k + (p + kSlotLane[s]) * stride, head_dim));
    _mm256_storeu_ps(scores + p, _mm256_mul_ps(reduce8(folded), scale8));
  }
  for (; p < n_pos; ++p) scores[p] = _mm512_reduce_add_ps(dot_lanes(q, k + p * stride, head_dim)) * scale;
}

// out[head_dim] += sum_p weights_p v_p; in registers when the head fits in 8 vectors (<= 128).
void f32_values(const float* weights, const float* v, int64_t stride, int64_t n_pos, int64_t head_dim, float* out) {
  if (head_dim <= 128 && head_dim % 16 == 0) {
    __m512 acc[8];
    const int64_t nv = head_dim / 16;
    for (int64_t j = 0; j < nv; ++j) acc[j] = _mm512_loadu_ps(out + 16 * j);
    for (int64_t p = 0; p < n_pos; ++p) {
      const __m512 weight = _mm512_set1_ps(weights[p]);
      const float* vp = v + p * stride;
      for (int64_t j = 0; j < nv; ++j) acc[j] = _mm512_fmadd_ps(weight, _mm512_loadu_ps(vp + 16 * j), acc[j]);
    }
    for (int64_t j = 0; j < nv; ++j) _mm512_storeu_ps(out + 16 * j, acc[j]);
    return;
  }
  for (int64_t p = 0; p < n_pos; ++p) {
    const float* vp = v + p * stride;
    for (int64_t i = 0; i < head_dim; ++i) out[i] += weights[p] * vp[i];
  }
}

// ---- f16 / Q8_0 rows, heads of whole 32-value blocks ----

// Values [16i, 16i + 16) of a 32-value block (Q8_0: before its scale).
template <DType T>
inline __m512 load16(const uint8_t* block, int64_t i) {
  if constexpr (T == DType::F16) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 32 * i)));
  } else {
    const auto* b = reinterpret_cast<const BlockQ8_0*>(block);
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b->qs + 16 * i))));
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

// Values [16i, 16i + 16) of the head as f32, exactly as kv_slice_to_f32 gives them (Q8_0: d * q).
template <DType T>
inline __m512 head16(const uint8_t* head, int64_t i) {
  const uint8_t* block = head + i / 2 * kBlockBytes<T>;
  const __m512 x = load16<T>(block, i % 2);
  return T == DType::Q8_0 ? _mm512_mul_ps(_mm512_set1_ps(block_scale<T>(block)), x) : x;
}

// q . k over head_dim values (a multiple of 32); k: the head's first block.
template <DType T>
inline float typed_dot(const float* q, const uint8_t* k, int64_t head_dim) {
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

template <DType T>
void typed_scores(const float* q, const uint8_t* k, int64_t stride, int64_t n_pos, int64_t head_dim, float scale,
                  float* scores) {
  for (int64_t p = 0; p < n_pos; ++p) scores[p] = typed_dot<T>(q, k + p * stride, head_dim) * scale;
}

// out[0 .. 32 NB) += sum_p weight_p * v_p over NB consecutive blocks of the head, in registers.
template <DType T, int NB>
void typed_weighted_sum(const float* weights, const uint8_t* v, int64_t stride, int64_t n_pos, float* out) {
  __m512 acc[2 * NB];
  for (int i = 0; i < 2 * NB; ++i) acc[i] = _mm512_loadu_ps(out + 16 * i);
  for (int64_t p = 0; p < n_pos; ++p) {
    const uint8_t* row = v + p * stride;
    for (int b = 0; b < NB; ++b) {
      const uint8_t* block = row + b * kBlockBytes<T>;
      const __m512 w = _mm512_set1_ps(weights[p] * block_scale<T>(block));
      acc[2 * b] = _mm512_fmadd_ps(w, load16<T>(block, 0), acc[2 * b]);
      acc[2 * b + 1] = _mm512_fmadd_ps(w, load16<T>(block, 1), acc[2 * b + 1]);
    }
  }
  for (int i = 0; i < 2 * NB; ++i) _mm512_storeu_ps(out + 16 * i, acc[i]);
}

// Slices of up to 4 blocks (128 values, 8 registers).
template <DType T>
void typed_values(const float* weights, const uint8_t* v, int64_t stride, int64_t n_pos, int64_t head_dim, float* out) {
  for (int64_t j = 0; j < head_dim;) {
    const uint8_t* vj = v + j / kQK * kBlockBytes<T>;
    switch (std::min<int64_t>(4, (head_dim - j) / kQK)) {
      case 4: typed_weighted_sum<T, 4>(weights, vj, stride, n_pos, out + j); j += 4 * kQK; break;
      case 3: typed_weighted_sum<T, 3>(weights, vj, stride, n_pos, out + j); j += 3 * kQK; break;
      case 2: typed_weighted_sum<T, 2>(weights, vj, stride, n_pos, out + j); j += 2 * kQK; break;
      default: typed_weighted_sum<T, 1>(weights, vj, stride, n_pos, out + j); j += kQK; break;
    }
  }
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

// Scores and softmax of one query (attend's first half), into scores[0 .. end - first);
// returns the scores' log-sum-exp.
float weights(const float* q, const KvRows& kv, int64_t first, int64_t end, const AttentionParams& a, float* scores) {
  for (int64_t p = first; p < end;) {
    const int64_t e = kv.run_end(p, end);
    run_scores(q, kv, p, e - p, a.head_dim, a.scale, scores + (p - first));
    p = e;
  }
  return softmax(scores, end - first, a.softcap);
}

}  // namespace

void attend(const float* q, const KvRows& kv, int64_t pos, const AttentionParams& a, float* scores, float* out) {
  attend_span(q, kv, a.visible_from(pos), pos + 1, a, scores, out);
}

float attend_span(const float* q, const KvRows& kv, int64_t first, int64_t end, const AttentionParams& a,
                  float* scores, float* out) {
  const float lse = weights(q, kv, first, end, a, scores);
  std::fill(out, out + a.head_dim, 0.0f);
  for (int64_t p = first; p < end;) {
    const int64_t e = kv.run_end(p, end);
    run_values(scores + (p - first), kv, p, e - p, a.head_dim, out);
    p = e;
  }
  return lse;
}

// ---- attend_group ----
namespace {

// out_j[16 NV] += sum_p weights_j[p] v_p for two queries j over f32 rows, in registers: the
// same fma sequence per (query, dimension) as f32_values, the two queries' chains side by side
// (one query's chain alone waits on the fma latency every position).
template <int NV>
void f32_values_pair(const float* w0, const float* w1, const float* v, int64_t stride, int64_t n_pos, float* out0,
                     float* out1) {
  __m512 a0[NV], a1[NV];
  for (int j = 0; j < NV; ++j) a0[j] = _mm512_loadu_ps(out0 + 16 * j), a1[j] = _mm512_loadu_ps(out1 + 16 * j);
  for (int64_t p = 0; p < n_pos; ++p) {
    const __m512 x0 = _mm512_set1_ps(w0[p]), x1 = _mm512_set1_ps(w1[p]);
    const float* vp = v + p * stride;
    for (int j = 0; j < NV; ++j) {
      const __m512 vj = _mm512_loadu_ps(vp + 16 * j);
      a0[j] = _mm512_fmadd_ps(x0, vj, a0[j]);
      a1[j] = _mm512_fmadd_ps(x1, vj, a1[j]);
    }
  }
  for (int j = 0; j < NV; ++j) _mm512_storeu_ps(out0 + 16 * j, a0[j]), _mm512_storeu_ps(out1 + 16 * j, a1[j]);
}

// Two queries' softmax weights (already computed) applied to f32 V rows, run by run.
template <int NV>
void pair_values(const float* w0, const float* w1, const KvRows& kv, int64_t first, int64_t end, float* out0,
                 float* out1) {
  std::fill(out0, out0 + 16 * NV, 0.0f);
  std::fill(out1, out1 + 16 * NV, 0.0f);
  for (int64_t p = first; p < end;) {
    const int64_t e = kv.run_end(p, end);
    const float* v = reinterpret_cast<const float*>(kv.value(p)) + kv.offset;
    f32_values_pair<NV>(w0 + (p - first), w1 + (p - first), v, kv.v_row_bytes / 4, e - p, out0, out1);
    p = e;
  }
}

}  // namespace

// Pairs of queries share the value pass when V is f32 and the head is 32, 64 or 128 values
// (fits in registers twice); otherwise (and for an odd last query) attend per query.
void attend_group(const float* q, int64_t q_stride, int64_t n_q, const KvRows& kv, int64_t pos,
                  const AttentionParams& a, float* scores, float* out, int64_t out_stride) {
  const int64_t hd = a.head_dim, first = a.visible_from(pos), end = pos + 1, n = end - first;
  const bool pairs = kv.v_type == DType::F32 && (hd == 32 || hd == 64 || hd == 128);
  int64_t j = 0;
  for (; pairs && j + 2 <= n_q; j += 2) {
    float* s0 = scores;
    float* s1 = scores + n;
    weights(q + j * q_stride, kv, first, end, a, s0);
    weights(q + (j + 1) * q_stride, kv, first, end, a, s1);
    float* o0 = out + j * out_stride;
    float* o1 = out + (j + 1) * out_stride;
    if (hd == 32) pair_values<2>(s0, s1, kv, first, end, o0, o1);
    else if (hd == 64) pair_values<4>(s0, s1, kv, first, end, o0, o1);
    else pair_values<8>(s0, s1, kv, first, end, o0, o1);
  }
  for (; j < n_q; ++j) attend(q + j * q_stride, kv, pos, a, scores, out + j * out_stride);
}

// ---- attend_block ----
namespace {

// Rows widened to f32 at a time: a page (64 positions) of one head, 16-64 KiB for head_dim
// 64-256, so the K (or V) slices stay in L1/L2 while the block's 16 lanes read them.
constexpr int64_t kWidenRows = 64;

// n consecutive rows' head slices as f32, `stride` floats apart.
struct F32Rows {
  const float* data;
  int64_t stride;
};

template <DType T>
void widen_whole_blocks(const uint8_t* first_row, int64_t row_bytes, int64_t offset, int64_t n, int64_t hd,
                        float* buffer) {
  for (int64_t r = 0; r < n; ++r) {
    const uint8_t* head = kv_head_start(T, first_row + r * row_bytes, offset);
    for (int64_t i = 0; i < hd / 16; ++i) _mm512_storeu_ps(buffer + r * hd + 16 * i, head16<T>(head, i));
  }
}

// Rows [0, n) from first_row (consecutive rows of one page, n <= kWidenRows) as f32: f32 rows
// in place, f16 / Q8_0 widened ONCE into buffer [n][hd] (vectors for heads of whole blocks, the
// scalar conversion otherwise; both give exactly kv_slice_to_f32's values).
F32Rows widen_rows(DType type, const uint8_t* first_row, int64_t row_bytes, int64_t offset, int64_t n, int64_t hd,
                   float* buffer) {
  if (type == DType::F32) return {reinterpret_cast<const float*>(first_row) + offset, row_bytes / 4};
  if (!kv_head_in_whole_blocks(type, offset, hd)) {
    for (int64_t r = 0; r < n; ++r) kv_slice_to_f32(type, first_row + r * row_bytes, offset, hd, buffer + r * hd);
  } else if (type == DType::F16) {
    widen_whole_blocks<DType::F16>(first_row, row_bytes, offset, n, hd, buffer);
  } else {
    widen_whole_blocks<DType::Q8_0>(first_row, row_bytes, offset, n, hd, buffer);
  }
  return {buffer, hd};
}

// Calls f(first position, row count, f32 rows) for the visible positions [begin, end) of K
// (keys) or V, page run by page run, at most kWidenRows rows at a time.
template <typename F>
void for_each_widened(const KvRows& kv, bool keys, int64_t begin, int64_t end, int64_t hd, float* buffer, F&& f) {
  for (int64_t p = begin; p < end;) {
    const int64_t n = std::min(kv.run_end(p, end), p + kWidenRows) - p;
    const F32Rows rows = keys ? widen_rows(kv.k_type, kv.key(p), kv.k_row_bytes, kv.offset, n, hd, buffer)
                              : widen_rows(kv.v_type, kv.value(p), kv.v_row_bytes, kv.offset, n, hd, buffer);
    f(p, n, rows);
    p += n;
  }
}

// Lane j's q_j . k for N rows at once (one qt load feeds N fmas): per row one fma chain over
// the dimensions in order, whatever N and however many heads share the call (dot_rows_heads),
// so a position's score never depends on how rows or heads are grouped (batch invariance).
template <int N>
inline void dot_rows(const float* qt, const float* k, int64_t stride, int64_t hd, __m512* s) {
  __m512 acc[N];
  for (int r = 0; r < N; ++r) acc[r] = _mm512_setzero_ps();
  for (int64_t i = 0; i < hd; ++i) {
    const __m512 q = _mm512_loadu_ps(qt + i * 16);
    for (int r = 0; r < N; ++r) acc[r] = _mm512_fmadd_ps(q, _mm512_set1_ps(k[r * stride + i]), acc[r]);
  }
  for (int r = 0; r < N; ++r) s[r] = acc[r];
}

// A row's 16 lane scores s at position p: capped, -inf where lane j may not see p (p >
// first_pos + j, or before its window), stored to scores[p - begin][16]; the maxima updated.
inline void store_score(__m512 s, int64_t p, int64_t begin, int64_t first_pos, const AttentionParams& a, float* scores,
                        __m512& max_score) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  if (a.softcap > 0) {
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, s);
    soft_cap_scores(lanes, 16, a.softcap);
    s = _mm512_load_ps(lanes);
  }
  // Lane j sees p when first_pos + j - window < p <= first_pos + j, i.e. p - first_pos <= j
  // and (no window or) j < p - first_pos + window.
  const __m512i rel = _mm512_set1_epi32(static_cast<int32_t>(p - first_pos));
  __mmask16 hidden = _mm512_cmplt_epi32_mask(lane, rel);
  if (a.window > 0) {
    hidden |= _mm512_cmpge_epi32_mask(lane, _mm512_add_epi32(rel, _mm512_set1_epi32(static_cast<int32_t>(a.window))));
  }
  s = _mm512_mask_mov_ps(s, hidden, _mm512_set1_ps(-INFINITY));
  _mm512_storeu_ps(scores + (p - begin) * 16, s);
  max_score = _mm512_max_ps(max_score, s);
}

// scores[p - begin][16] for every visible position; returns the lanes' maxima.
__m512 block_scores(const float* qt, const KvRows& kv, int64_t begin, int64_t first_pos, int64_t n_q,
                    const AttentionParams& a, float* buffer, float* scores) {
  const int64_t hd = a.head_dim;
  __m512 max_score = _mm512_set1_ps(-INFINITY);
  for_each_widened(kv, true, begin, first_pos + n_q, hd, buffer, [&](int64_t p0, int64_t n, F32Rows k) {
    __m512 s[8];
    int64_t r = 0;
    for (; r + 8 <= n; r += 8) {  // 8 independent chains: enough to cover the fma latency
      dot_rows<8>(qt, k.data + r * k.stride, k.stride, hd, s);
      for (int64_t j = 0; j < 8; ++j) store_score(s[j], p0 + r + j, begin, first_pos, a, scores, max_score);
    }
    for (; r + 4 <= n; r += 4) {
      dot_rows<4>(qt, k.data + r * k.stride, k.stride, hd, s);
      for (int64_t j = 0; j < 4; ++j) store_score(s[j], p0 + r + j, begin, first_pos, a, scores, max_score);
    }
    for (; r < n; ++r) {
      dot_rows<1>(qt, k.data + r * k.stride, k.stride, hd, s);
      store_score(s[0], p0 + r, begin, first_pos, a, scores, max_score);
    }
  });
  return max_score;
}

// scores[p][16] -> e^(s - max) (0 where hidden); returns each lane's 1 / total.
__m512 block_exp(float* scores, int64_t n_pos, __m512 max_score) {
  __m512 total = _mm512_setzero_ps();
  for (int64_t p = 0; p < n_pos; ++p) {
    const __m512 s = _mm512_loadu_ps(scores + p * 16);
    // exp_lanes clamps its input, so hidden (-inf) lanes must be zeroed explicitly.
    const __mmask16 visible = _mm512_cmp_ps_mask(s, _mm512_set1_ps(-INFINITY), _CMP_NEQ_OQ);
    const __m512 w = _mm512_maskz_mov_ps(visible, exp_lanes(_mm512_sub_ps(s, max_score)));
    _mm512_storeu_ps(scores + p * 16, w);
    total = _mm512_add_ps(total, w);
  }
  return _mm512_div_ps(_mm512_set1_ps(1.0f), total);
}

// out_t[i][16] = lane j's sum_p w_p[j] v_p[i] * inv_total[j]. Per widened run, slices of 16
// dimensions whose 16 accumulators stay in registers; each (lane, dimension) sums positions in
// order, so the run boundaries change nothing.
void block_values(const float* weights, const KvRows& kv, int64_t begin, int64_t end, const AttentionParams& a,
                  __m512 inv_total, float* buffer, float* out_t) {
  const int64_t hd = a.head_dim;
  std::fill(out_t, out_t + hd * 16, 0.0f);
  for_each_widened(kv, false, begin, end, hd, buffer, [&](int64_t p0, int64_t n, F32Rows v) {
    const float* w_run = weights + (p0 - begin) * 16;
    for (int64_t i0 = 0; i0 < hd; i0 += 16) {
      const int64_t width = std::min<int64_t>(16, hd - i0);
      __m512 acc[16];
      for (int64_t i = 0; i < width; ++i) acc[i] = _mm512_loadu_ps(out_t + (i0 + i) * 16);
      if (width == 16) {  // constant trip count: the 16 accumulators stay in registers
        for (int64_t r = 0; r < n; ++r) {
          const __m512 w = _mm512_loadu_ps(w_run + r * 16);
          const float* vp = v.data + r * v.stride + i0;
          for (int64_t i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(w, _mm512_set1_ps(vp[i]), acc[i]);
        }
      } else {
        for (int64_t r = 0; r < n; ++r) {
          const __m512 w = _mm512_loadu_ps(w_run + r * 16);
          const float* vp = v.data + r * v.stride + i0;
          for (int64_t i = 0; i < width; ++i) acc[i] = _mm512_fmadd_ps(w, _mm512_set1_ps(vp[i]), acc[i]);
        }
      }
      for (int64_t i = 0; i < width; ++i) _mm512_storeu_ps(out_t + (i0 + i) * 16, acc[i]);
    }
  });
  for (int64_t i = 0; i < hd; ++i) _mm512_storeu_ps(out_t + i * 16, _mm512_mul_ps(_mm512_loadu_ps(out_t + i * 16), inv_total));
}

// One head's block (calls with n_heads 1: models whose KV heads each serve one query head).
void attend_block_one(const float* q, int64_t q_stride, int64_t n_q, const KvRows& kv, int64_t first_pos,
                      const AttentionParams& a, float* out, int64_t out_stride) {
  const int64_t hd = a.head_dim, begin = a.visible_from(first_pos), end = first_pos + n_q;
  const int64_t n_pos = end - begin;
  thread_local std::vector<float> scratch;
  const size_t need = static_cast<size_t>((n_pos + 2 * hd) * 16 + kWidenRows * hd);
  if (scratch.size() < need) scratch.resize(need);
  float* scores = scratch.data();    // [n_pos][16]
  float* qt = scores + n_pos * 16;   // [head_dim][16]: the queries, scaled, one per lane
  float* out_t = qt + hd * 16;       // [head_dim][16]
  float* buffer = out_t + hd * 16;   // [kWidenRows][head_dim]: a run of K or V rows widened to f32
  for (int64_t i = 0; i < hd; ++i) {
    for (int64_t j = 0; j < 16; ++j) qt[i * 16 + j] = j < n_q ? q[j * q_stride + i] * a.scale : 0.0f;
  }
  const __m512 max_score = block_scores(qt, kv, begin, first_pos, n_q, a, buffer, scores);
  const __m512 inv_total = block_exp(scores, n_pos, max_score);
  block_values(scores, kv, begin, end, a, inv_total, buffer, out_t);
  for (int64_t j = 0; j < n_q; ++j) {
    for (int64_t i = 0; i < hd; ++i) out[j * out_stride + i] = out_t[i * 16 + j];
  }
}

// ---- several query heads of one GQA group: each K/V element read once for all of them ----

// Heads of a GQA group a block call runs side by side (qwen2.5-0.5b's 7 go 4 + 3).
constexpr int kMaxGroupHeads = 4;

// dot_rows<N> for H heads at once: one broadcast of a key element feeds the H heads' fmas, one
// load of a head's queries the N rows'. Each (head, row) is dot_rows' exact fma chain.
template <int H, int N>
inline void dot_rows_heads(const float* const qt[], const float* k, int64_t stride, int64_t hd, __m512 s[][4]) {
  __m512 acc[H][N];
  for (int h = 0; h < H; ++h) {
    for (int r = 0; r < N; ++r) acc[h][r] = _mm512_setzero_ps();
  }
  for (int64_t i = 0; i < hd; ++i) {
    __m512 q[H];
    for (int h = 0; h < H; ++h) q[h] = _mm512_loadu_ps(qt[h] + i * 16);
    for (int r = 0; r < N; ++r) {
      const __m512 key = _mm512_set1_ps(k[r * stride + i]);
      for (int h = 0; h < H; ++h) acc[h][r] = _mm512_fmadd_ps(q[h], key, acc[h][r]);
    }
  }
  for (int h = 0; h < H; ++h) {
    for (int r = 0; r < N; ++r) s[h][r] = acc[h][r];
  }
}

// block_scores for H heads: scores[h] gets head h's [p - begin][16]; max_score[h] its maxima.
template <int H>
void group_scores(const float* const qt[], const KvRows& kv, int64_t begin, int64_t first_pos, int64_t n_q,
                  const AttentionParams& a, float* buffer, float* const scores[], __m512 max_score[]) {
  const int64_t hd = a.head_dim;
  for (int h = 0; h < H; ++h) max_score[h] = _mm512_set1_ps(-INFINITY);
  for_each_widened(kv, true, begin, first_pos + n_q, hd, buffer, [&](int64_t p0, int64_t n, F32Rows k) {
    __m512 s[H][4];
    int64_t r = 0;
    for (; r + 4 <= n; r += 4) {  // H x 4 chains
      dot_rows_heads<H, 4>(qt, k.data + r * k.stride, k.stride, hd, s);
      for (int h = 0; h < H; ++h) {
        for (int64_t j = 0; j < 4; ++j) store_score(s[h][j], p0 + r + j, begin, first_pos, a, scores[h], max_score[h]);
      }
    }
    for (; r < n; ++r) {
      dot_rows_heads<H, 1>(qt, k.data + r * k.stride, k.stride, hd, s);
      for (int h = 0; h < H; ++h) store_score(s[h][0], p0 + r, begin, first_pos, a, scores[h], max_score[h]);
    }
  });
}

// out_t[h][i0 .. i0 + 8)[16] += sum_r w_h[r] v_r[i0 + i] over n rows for H heads, the H x 8
// accumulators in registers (constant trip counts only: one broadcast of a value element feeds
// the H heads' fmas).
template <int H>
inline void group_values8(const float* const weights[], int64_t w_first, const float* v, int64_t stride, int64_t n,
                          float* const out_t[], int64_t i0) {
  __m512 acc[H][8];
  for (int h = 0; h < H; ++h) {
    for (int i = 0; i < 8; ++i) acc[h][i] = _mm512_loadu_ps(out_t[h] + (i0 + i) * 16);
  }
  for (int64_t r = 0; r < n; ++r) {
    __m512 w[H];
    for (int h = 0; h < H; ++h) w[h] = _mm512_loadu_ps(weights[h] + (w_first + r) * 16);
    const float* vp = v + r * stride + i0;
    for (int i = 0; i < 8; ++i) {
      const __m512 x = _mm512_set1_ps(vp[i]);
      for (int h = 0; h < H; ++h) acc[h][i] = _mm512_fmadd_ps(w[h], x, acc[h][i]);
    }
  }
  for (int h = 0; h < H; ++h) {
    for (int i = 0; i < 8; ++i) _mm512_storeu_ps(out_t[h] + (i0 + i) * 16, acc[h][i]);
  }
}

// block_values for H heads: per widened run, slices of 8 dimensions (group_values8; a narrower
// last slice per head with block_values' loop). Each (head, lane, dimension) sums positions in
// order from 0, exactly as block_values does.
template <int H>
void group_values(const float* const weights[], const KvRows& kv, int64_t begin, int64_t end, const AttentionParams& a,
                  const __m512 inv_total[], float* buffer, float* const out_t[]) {
  const int64_t hd = a.head_dim;
  for (int h = 0; h < H; ++h) std::fill(out_t[h], out_t[h] + hd * 16, 0.0f);
  for_each_widened(kv, false, begin, end, hd, buffer, [&](int64_t p0, int64_t n, F32Rows v) {
    int64_t i0 = 0;
    for (; i0 + 8 <= hd; i0 += 8) group_values8<H>(weights, p0 - begin, v.data, v.stride, n, out_t, i0);
    for (; i0 < hd; ++i0) {  // head_dim not a multiple of 8: one dimension at a time
      for (int h = 0; h < H; ++h) {
        __m512 acc = _mm512_loadu_ps(out_t[h] + i0 * 16);
        for (int64_t r = 0; r < n; ++r) {
          acc = _mm512_fmadd_ps(_mm512_loadu_ps(weights[h] + (p0 - begin + r) * 16), _mm512_set1_ps(v.data[r * v.stride + i0]), acc);
        }
        _mm512_storeu_ps(out_t[h] + i0 * 16, acc);
      }
    }
  });
  for (int h = 0; h < H; ++h) {
    for (int64_t i = 0; i < hd; ++i) {
      _mm512_storeu_ps(out_t[h] + i * 16, _mm512_mul_ps(_mm512_loadu_ps(out_t[h] + i * 16), inv_total[h]));
    }
  }
}

// H heads' block: scratch per head [n_pos][16] scores, [hd][16] queries and outputs.
template <int H>
void group_block(const float* q, int64_t q_stride, int64_t n_q, const KvRows& kv, int64_t first_pos,
                 const AttentionParams& a, float* out, int64_t out_stride) {
  const int64_t hd = a.head_dim, begin = a.visible_from(first_pos), end = first_pos + n_q;
  const int64_t n_pos = end - begin;
  thread_local std::vector<float> scratch;
  const size_t per_head = static_cast<size_t>((n_pos + 2 * hd) * 16);
  const size_t need = H * per_head + static_cast<size_t>(kWidenRows * hd);
  if (scratch.size() < need) scratch.resize(need);
  float* scores[H];
  float* qt[H];
  float* out_t[H];
  for (int h = 0; h < H; ++h) {
    scores[h] = scratch.data() + h * per_head;
    qt[h] = scores[h] + n_pos * 16;
    out_t[h] = qt[h] + hd * 16;
    const float* qh = q + h * hd;
    for (int64_t i = 0; i < hd; ++i) {
      for (int64_t j = 0; j < 16; ++j) qt[h][i * 16 + j] = j < n_q ? qh[j * q_stride + i] * a.scale : 0.0f;
    }
  }
  float* buffer = scratch.data() + H * per_head;  // [kWidenRows][head_dim]
  __m512 max_score[H], inv_total[H];
  group_scores<H>(qt, kv, begin, first_pos, n_q, a, buffer, scores, max_score);
  for (int h = 0; h < H; ++h) inv_total[h] = block_exp(scores[h], n_pos, max_score[h]);
  group_values<H>(scores, kv, begin, end, a, inv_total, buffer, out_t);
  for (int h = 0; h < H; ++h) {
    float* oh = out + h * hd;
    for (int64_t j = 0; j < n_q; ++j) {
      for (int64_t i = 0; i < hd; ++i) oh[j * out_stride + i] = out_t[h][i * 16 + j];
    }
  }
}

}  // namespace

// Heads in groups of up to kMaxGroupHeads (more heads split evenly: 7 as 4 + 3, never leaving
// one alone); a call of one head takes the single-head kernel, whose results group_block
// reproduces bit for bit.
void attend_block(const float* q, int64_t q_stride, int64_t n_q, int64_t n_heads, const KvRows& kv,
                  int64_t first_pos, const AttentionParams& a, float* out, int64_t out_stride) {
  const int64_t hd = a.head_dim;
  for (int64_t h = 0; h < n_heads;) {
    const int64_t left = n_heads - h;
    // Up to 8 left: all if they fit, else halves (larger first); beyond, a full group.
    const int64_t take = left <= kMaxGroupHeads ? left : left <= 2 * kMaxGroupHeads ? (left + 1) / 2 : kMaxGroupHeads;
    const float* qh = q + h * hd;
    float* oh = out + h * hd;
    switch (take) {
      case 4: group_block<4>(qh, q_stride, n_q, kv, first_pos, a, oh, out_stride); break;
      case 3: group_block<3>(qh, q_stride, n_q, kv, first_pos, a, oh, out_stride); break;
      case 2: group_block<2>(qh, q_stride, n_q, kv, first_pos, a, oh, out_stride); break;
      default: attend_block_one(qh, q_stride, n_q, kv, first_pos, a, oh, out_stride); break;
    }
    h += take;
  }
}

}  // namespace rpu::avx512

#include "target_end.h"
