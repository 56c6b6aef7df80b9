// One head of attention with 4-wide f32 vectors (plain ASIMD, shared by the ARM sets) over KV
// rows of any cache type: scores as dot products, the soft cap, softmax in the reference's
// order, then the weighted sum of values in slices of up to 64 dimensions held in registers.
// Positions are walked page by page (KvRows::run_end); f16 / Q8_0 rows are converted to f32 a
// run at a time (no typed NEON loads yet). attend_block runs a prefill block's queries one by
// one over their visible positions.
#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/kv_rows.h"
#include "neon.h"

namespace rpu::neon {
namespace {

inline float dot(const float* a, const float* b, int64_t n) {
  float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    acc0 = vfmaq_f32(acc0, vld1q_f32(a + i), vld1q_f32(b + i));
    acc1 = vfmaq_f32(acc1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
  }
  if (i + 4 <= n) {
    acc0 = vfmaq_f32(acc0, vld1q_f32(a + i), vld1q_f32(b + i));
    i += 4;
  }
  float sum = vaddvq_f32(vaddq_f32(acc0, acc1));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// out[0 .. 4*NV) += sum_p weight_p * v_p[0 .. 4*NV).
template <int NV>
void weighted_sum(const float* weights, const float* v, int64_t stride, int64_t n_pos, float* out) {
  float32x4_t acc[NV];
  for (int j = 0; j < NV; ++j) acc[j] = vld1q_f32(out + 4 * j);
  for (int64_t p = 0; p < n_pos; ++p) {
    const float32x4_t weight = vdupq_n_f32(weights[p]);
    const float* vp = v + p * stride;
    for (int j = 0; j < NV; ++j) acc[j] = vfmaq_f32(acc[j], weight, vld1q_f32(vp + 4 * j));
  }
  for (int j = 0; j < NV; ++j) vst1q_f32(out + 4 * j, acc[j]);
}

using WeightedSum = void (*)(const float*, const float*, int64_t, int64_t, float*);
constexpr WeightedSum kWeightedSums[17] = {
    nullptr,           &weighted_sum<1>,  &weighted_sum<2>,  &weighted_sum<3>,  &weighted_sum<4>,  &weighted_sum<5>,
    &weighted_sum<6>,  &weighted_sum<7>,  &weighted_sum<8>,  &weighted_sum<9>,  &weighted_sum<10>, &weighted_sum<11>,
    &weighted_sum<12>, &weighted_sum<13>, &weighted_sum<14>, &weighted_sum<15>, &weighted_sum<16>};

// out[head_dim] += sum_p weights_p v_p over n_pos f32 rows `stride` floats apart.
void f32_values(const float* weights, const float* v, int64_t stride, int64_t n_pos, int64_t head_dim, float* out) {
  int64_t j = 0;
  while (head_dim - j >= 4) {
    const int64_t nv = std::min<int64_t>(16, (head_dim - j) / 4);
    kWeightedSums[nv](weights, v + j, stride, n_pos, out + j);
    j += 4 * nv;
  }
  for (int64_t p = 0; p < n_pos && j < head_dim; ++p) {
    const float* vp = v + p * stride;
    for (int64_t i = j; i < head_dim; ++i) out[i] += weights[p] * vp[i];
  }
}

// One run of consecutive rows as f32: f32 rows in place (stride in floats), f16 / Q8_0 rows
// converted into a per-thread buffer first (the ARM sets have no typed loads of their own yet).
const float* run_as_f32(DType type, const uint8_t* row, int64_t row_bytes, int64_t offset, int64_t n, int64_t head_dim,
                        std::vector<float>& buffer, int64_t& stride) {
  if (type == DType::F32) {
    stride = row_bytes / 4;
    return reinterpret_cast<const float*>(row) + offset;
  }
  stride = head_dim;
  return kv_rows_to_f32(type, row, row_bytes, offset, n, head_dim, buffer);
}

void softmax(float* scores, int64_t n, float cap) {
  if (cap > 0) soft_cap_scores(scores, n, cap);
  float max_score = -INFINITY;
  for (int64_t p = 0; p < n; ++p) max_score = std::max(max_score, scores[p]);
  float total = 0.0f;
  for (int64_t p = 0; p < n; ++p) {
    scores[p] = std::exp(scores[p] - max_score);
    total += scores[p];
  }
  const float inv_total = 1.0f / total;
  for (int64_t p = 0; p < n; ++p) scores[p] *= inv_total;  // the softmax weights
}

}  // namespace

void attend(const float* q, const KvRows& kv, int64_t pos, const AttentionParams& a, float* scores, float* out) {
  const int64_t first = a.visible_from(pos), end = pos + 1, hd = a.head_dim;
  thread_local std::vector<float> buffer;
  for (int64_t p = first; p < end;) {
    const int64_t e = kv.run_end(p, end);
    int64_t stride = 0;
    const float* k = run_as_f32(kv.k_type, kv.key(p), kv.k_row_bytes, kv.offset, e - p, hd, buffer, stride);
    for (int64_t i = p; i < e; ++i) scores[i - first] = dot(q, k + (i - p) * stride, hd) * a.scale;
    p = e;
  }
  softmax(scores, end - first, a.softcap);
  std::fill(out, out + hd, 0.0f);
  for (int64_t p = first; p < end;) {
    const int64_t e = kv.run_end(p, end);
    int64_t stride = 0;
    const float* v = run_as_f32(kv.v_type, kv.value(p), kv.v_row_bytes, kv.offset, e - p, hd, buffer, stride);
    f32_values(scores + (p - first), v, stride, e - p, hd, out);
    p = e;
  }
}

void attend_block(const float* q, int64_t q_stride, int64_t n_q, int64_t n_heads, const KvRows& kv,
                  int64_t first_pos, const AttentionParams& a, float* out, int64_t out_stride) {
  thread_local std::vector<float> scores;
  scores.resize(static_cast<size_t>(first_pos + n_q));
  for (int64_t h = 0; h < n_heads; ++h) {
    for (int64_t j = 0; j < n_q; ++j) {
      attend(q + j * q_stride + h * a.head_dim, kv, first_pos + j, a, scores.data(), out + j * out_stride + h * a.head_dim);
    }
  }
}

}  // namespace rpu::neon
