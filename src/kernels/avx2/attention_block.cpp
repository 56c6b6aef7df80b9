// attend_block for the AVX2 set: a prefill block's queries (up to 16) of a GQA group's heads
// over KV rows of any cache type, 8 queries to a vector (one per lane), so neither the scores
// nor the outputs need horizontal sums.
//
// A block call has one "lane set" per (head, half of the block): head h's queries [0, 8) and
// [8, n_q) in lanes 0-7, each with its own scaled queries qt[head_dim][8], scores
// [positions][8] and output accumulators [head_dim][8]. K and V are walked once per call, a page
// run (<= 64 rows) at a time; f16 / Q8_0 rows are widened to f32 once per run into an L1-sized
// buffer (f32 rows are read in place) and every lane set reads that run while it is hot, so
// the group's heads share one widening and one read of each row.
//
// Per lane the arithmetic is that of the query alone: a score is one fma chain over the
// dimensions in order; hidden positions (after the query, or before its window) get -inf and
// then weight 0, which adds nothing to the maxima, the total or the value sums; the total and
// each output dimension sum positions in order. So a (head, query) result does not depend on
// the block's other queries or heads, nor on which half or lane it runs in (batch invariance).
// It is not attend's arithmetic (that one sums 8 dimensions per lane, then horizontally), but
// both are within the tests' tolerance of attend_ref.
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

constexpr int kLanes = 8;
// Rows widened to f32 at a time: at most a page (64 positions) of one head, 16-64 KiB for
// head_dim 64-256, so a run stays in L1/L2 while every lane set reads it.
constexpr int64_t kWidenRows = 64;

struct F32Rows {
  const float* data;
  int64_t stride;  // floats between rows
};

// Values [8i, 8i + 8) of a head of whole 32-value blocks, as kv_slice_to_f32 gives them (f16
// exactly widened; Q8_0 d * q, one rounding).
template <DType T>
inline __m256 head8(const uint8_t* head, int64_t i) {
  if constexpr (T == DType::F16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(head + 16 * i)));
  } else {
    const auto* b = reinterpret_cast<const BlockQ8_0*>(head) + i / 4;
    const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b->qs + 8 * (i % 4)))));
    return _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(b->d)), q);
  }
}

template <DType T>
void widen_whole_blocks(const uint8_t* first_row, int64_t row_bytes, int64_t offset, int64_t n, int64_t hd,
                        float* buffer) {
  for (int64_t r = 0; r < n; ++r) {
    const uint8_t* head = kv_head_start(T, first_row + r * row_bytes, offset);
    for (int64_t i = 0; i < hd / 8; ++i) _mm256_storeu_ps(buffer + r * hd + 8 * i, head8<T>(head, i));
  }
}

// n consecutive rows of one page from first_row as f32: f32 rows in place, others widened into
// buffer [n][hd] (vectors for heads of whole blocks, the scalar conversion otherwise).
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

// Calls f(first position, row count, rows) over [begin, end) of K (keys) or V, run by run.
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

// One head's queries [first, first + n) of the block, lane j = query first + j.
struct LaneSet {
  int64_t first_pos;  // position of lane 0's query
  int64_t n;          // queries in lanes 0..n-1
  float* qt;          // [hd][8]: the queries times the scale (0 in unused lanes)
  float* scores;      // [end - begin][8]: scores, then softmax weights
  float* out_t;       // [hd][8]: weighted value sums
  // The lanes' maximum score, then 1 / their total weight (floats, so the struct needs no
  // vector alignment in the per-thread vector).
  alignas(32) float max_score[kLanes];
  alignas(32) float inv_total[kLanes];
};

// Lane j's q_j . k for N rows, for S lane sets at once (one broadcast of a key element feeds the
// S sets' fmas); each (set, row) is one chain of fmas over the dimensions in order, however
// the sets and rows are grouped.
template <int S, int N>
inline void dot_rows(LaneSet* const sets[], const float* k, int64_t stride, int64_t hd, __m256 s[][4]) {
  __m256 acc[S][N];
  for (int t = 0; t < S; ++t) {
    for (int r = 0; r < N; ++r) acc[t][r] = _mm256_setzero_ps();
  }
  for (int64_t i = 0; i < hd; ++i) {
    __m256 q[S];
    for (int t = 0; t < S; ++t) q[t] = _mm256_loadu_ps(sets[t]->qt + i * kLanes);
    for (int r = 0; r < N; ++r) {
      const __m256 key = _mm256_broadcast_ss(k + r * stride + i);
      for (int t = 0; t < S; ++t) acc[t][r] = _mm256_fmadd_ps(q[t], key, acc[t][r]);
    }
  }
  for (int t = 0; t < S; ++t) {
    for (int r = 0; r < N; ++r) s[t][r] = acc[t][r];
  }
}

// Lane scores s at position p: capped, -inf where the lane's query may not see p, stored at
// scores[p - begin]; the maxima updated.
inline void store_score(__m256 s, int64_t p, int64_t begin, const AttentionParams& a, const LaneSet& set,
                        __m256& max_score) {
  if (a.softcap > 0) {
    alignas(32) float lanes[kLanes];
    _mm256_store_ps(lanes, s);
    soft_cap_scores(lanes, kLanes, a.softcap);
    s = _mm256_load_ps(lanes);
  }
  // Lane j sees p when p - first_pos <= j and (no window or) j < p - first_pos + window.
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i rel = _mm256_set1_epi32(static_cast<int32_t>(p - set.first_pos));
  __m256i hidden = _mm256_cmpgt_epi32(rel, lane);
  if (a.window > 0) {
    const __m256i limit = _mm256_add_epi32(rel, _mm256_set1_epi32(static_cast<int32_t>(a.window)));
    hidden = _mm256_or_si256(hidden, _mm256_xor_si256(_mm256_cmpgt_epi32(limit, lane), _mm256_set1_epi32(-1)));
  }
  s = _mm256_blendv_ps(s, _mm256_set1_ps(-INFINITY), _mm256_castsi256_ps(hidden));
  _mm256_storeu_ps(set.scores + (p - begin) * kLanes, s);
  max_score = _mm256_max_ps(max_score, s);
}

template <int S>
void run_scores(const F32Rows& k, int64_t p0, int64_t n, int64_t begin, const AttentionParams& a, LaneSet* const sets[]) {
  const int64_t hd = a.head_dim;
  __m256 max_score[S];
  for (int t = 0; t < S; ++t) max_score[t] = _mm256_load_ps(sets[t]->max_score);
  __m256 s[S][4];
  int64_t r = 0;
  for (; r + 4 <= n; r += 4) {  // S x 4 independent chains cover the fma latency
    dot_rows<S, 4>(sets, k.data + r * k.stride, k.stride, hd, s);
    for (int t = 0; t < S; ++t) {
      for (int j = 0; j < 4; ++j) store_score(s[t][j], p0 + r + j, begin, a, *sets[t], max_score[t]);
    }
  }
  for (; r < n; ++r) {
    dot_rows<S, 1>(sets, k.data + r * k.stride, k.stride, hd, s);
    for (int t = 0; t < S; ++t) store_score(s[t][0], p0 + r, begin, a, *sets[t], max_score[t]);
  }
  for (int t = 0; t < S; ++t) _mm256_store_ps(sets[t]->max_score, max_score[t]);
}

// Scores -> e^(s - max) (0 where hidden), in place; the lanes' 1 / total.
void lane_softmax(LaneSet& set, int64_t n_pos) {
  __m256 total = _mm256_setzero_ps();
  const __m256 minus_inf = _mm256_set1_ps(-INFINITY);
  const __m256 max_score = _mm256_load_ps(set.max_score);
  for (int64_t p = 0; p < n_pos; ++p) {
    const __m256 s = _mm256_loadu_ps(set.scores + p * kLanes);
    const __m256 visible = _mm256_cmp_ps(s, minus_inf, _CMP_NEQ_OQ);
    const __m256 w = _mm256_and_ps(visible, exp_precise(_mm256_sub_ps(s, max_score)));
    _mm256_storeu_ps(set.scores + p * kLanes, w);
    total = _mm256_add_ps(total, w);
  }
  _mm256_store_ps(set.inv_total, _mm256_div_ps(_mm256_set1_ps(1.0f), total));
}

// out_t[i0 .. i0 + W)[8] += sum_r w_r * v_r[i0 + i] over the run's n rows for S lane sets,
// the S x W accumulators in registers (one broadcast of a value element feeds the S sets'
// fmas); each (set, lane, dimension) sums positions in order.
template <int S, int W>
inline void values_slice(LaneSet* const sets[], int64_t w_first, const float* v, int64_t stride, int64_t n, int64_t i0) {
  __m256 acc[S][W];
  for (int t = 0; t < S; ++t) {
    for (int i = 0; i < W; ++i) acc[t][i] = _mm256_loadu_ps(sets[t]->out_t + (i0 + i) * kLanes);
  }
  for (int64_t r = 0; r < n; ++r) {
    __m256 w[S];
    for (int t = 0; t < S; ++t) w[t] = _mm256_loadu_ps(sets[t]->scores + (w_first + r) * kLanes);
    const float* vp = v + r * stride + i0;
    for (int i = 0; i < W; ++i) {
      const __m256 x = _mm256_broadcast_ss(vp + i);
      for (int t = 0; t < S; ++t) acc[t][i] = _mm256_fmadd_ps(w[t], x, acc[t][i]);
    }
  }
  for (int t = 0; t < S; ++t) {
    for (int i = 0; i < W; ++i) _mm256_storeu_ps(sets[t]->out_t + (i0 + i) * kLanes, acc[t][i]);
  }
}

template <int S>
void run_values(const F32Rows& v, int64_t p0, int64_t n, int64_t begin, int64_t hd, LaneSet* const sets[]) {
  int64_t i0 = 0;
  for (; i0 + 4 <= hd; i0 += 4) values_slice<S, 4>(sets, p0 - begin, v.data, v.stride, n, i0);
  for (; i0 < hd; ++i0) values_slice<S, 1>(sets, p0 - begin, v.data, v.stride, n, i0);
}

// f(sets) over the lane sets two at a time (they share the call's K/V rows), a last odd one alone.
template <typename F2, typename F1>
void for_set_pairs(std::vector<LaneSet>& sets, F2&& two, F1&& one) {
  size_t i = 0;
  for (; i + 2 <= sets.size(); i += 2) {
    LaneSet* const pair[2] = {&sets[i], &sets[i + 1]};
    two(pair);
  }
  if (i < sets.size()) {
    LaneSet* const alone[1] = {&sets[i]};
    one(alone);
  }
}

}  // namespace

void attend_block(const float* q, int64_t q_stride, int64_t n_q, int64_t n_heads, const KvRows& kv,
                  int64_t first_pos, const AttentionParams& a, float* out, int64_t out_stride) {
  const int64_t hd = a.head_dim, begin = a.visible_from(first_pos), end = first_pos + n_q;
  const int64_t n_pos = end - begin;
  const int64_t halves = (n_q + kLanes - 1) / kLanes;
  const int64_t n_sets = n_heads * halves;
  const size_t per_set = static_cast<size_t>((n_pos + 2 * hd) * kLanes);
  thread_local std::vector<float> scratch;
  thread_local std::vector<LaneSet> sets;
  const size_t need = static_cast<size_t>(n_sets) * per_set + static_cast<size_t>(kWidenRows * hd);
  if (scratch.size() < need) scratch.resize(need);
  sets.resize(static_cast<size_t>(n_sets));
  for (int64_t h = 0; h < n_heads; ++h) {
    for (int64_t half = 0; half < halves; ++half) {
      LaneSet& set = sets[static_cast<size_t>(h * halves + half)];
      float* base = scratch.data() + static_cast<size_t>(h * halves + half) * per_set;
      set.first_pos = first_pos + half * kLanes;
      set.n = std::min<int64_t>(kLanes, n_q - half * kLanes);
      set.scores = base;
      set.qt = base + n_pos * kLanes;
      set.out_t = set.qt + hd * kLanes;
      std::fill(set.max_score, set.max_score + kLanes, -INFINITY);
      const float* qh = q + half * kLanes * q_stride + h * hd;
      for (int64_t i = 0; i < hd; ++i) {
        for (int64_t j = 0; j < kLanes; ++j) set.qt[i * kLanes + j] = j < set.n ? qh[j * q_stride + i] * a.scale : 0.0f;
      }
      std::fill(set.out_t, set.out_t + hd * kLanes, 0.0f);
    }
  }
  float* buffer = scratch.data() + static_cast<size_t>(n_sets) * per_set;  // [kWidenRows][hd]
  for_each_widened(kv, true, begin, end, hd, buffer, [&](int64_t p0, int64_t n, const F32Rows& k) {
    for_set_pairs(sets, [&](LaneSet* const pair[]) { run_scores<2>(k, p0, n, begin, a, pair); },
                  [&](LaneSet* const alone[]) { run_scores<1>(k, p0, n, begin, a, alone); });
  });
  for (LaneSet& set : sets) lane_softmax(set, n_pos);
  for_each_widened(kv, false, begin, end, hd, buffer, [&](int64_t p0, int64_t n, const F32Rows& v) {
    for_set_pairs(sets, [&](LaneSet* const pair[]) { run_values<2>(v, p0, n, begin, hd, pair); },
                  [&](LaneSet* const alone[]) { run_values<1>(v, p0, n, begin, hd, alone); });
  });
  for (int64_t h = 0; h < n_heads; ++h) {
    for (int64_t half = 0; half < halves; ++half) {
      const LaneSet& set = sets[static_cast<size_t>(h * halves + half)];
      float* o = out + half * kLanes * out_stride + h * hd;
      alignas(32) float lanes[kLanes];
      for (int64_t i = 0; i < hd; ++i) {
        _mm256_store_ps(lanes, _mm256_mul_ps(_mm256_loadu_ps(set.out_t + i * kLanes), _mm256_load_ps(set.inv_total)));
        for (int64_t j = 0; j < set.n; ++j) o[j * out_stride + i] = lanes[j];
      }
    }
  }
}

}  // namespace rpu::avx2

#include "target_end.h"
