// One head of attention with 4-wide f32 vectors (plain ASIMD, shared by the ARM sets): scores
// as dot products, softmax in the reference's order, then the weighted sum of values in
// slices of up to 64 dimensions held in registers. attend_block runs a prefill block's queries
// one by one over their causal prefixes.
#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <vector>

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

// out[0 .. 4*NV) = sum_p weight_p * v_p[0 .. 4*NV).
template <int NV>
void weighted_sum(const float* weights, const float* v, int64_t stride, int64_t n_pos, float* out) {
  float32x4_t acc[NV];
  for (int j = 0; j < NV; ++j) acc[j] = vdupq_n_f32(0.0f);
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

}  // namespace

void attend(const float* q, const float* k, const float* v, int64_t stride, int64_t n_pos, int64_t head_dim, float scale,
            float* scores, float* out) {
  float max_score = -INFINITY;
  for (int64_t p = 0; p < n_pos; ++p) {
    scores[p] = dot(q, k + p * stride, head_dim) * scale;
    max_score = std::max(max_score, scores[p]);
  }
  float total = 0.0f;
  for (int64_t p = 0; p < n_pos; ++p) {
    scores[p] = std::exp(scores[p] - max_score);
    total += scores[p];
  }
  const float inv_total = 1.0f / total;
  for (int64_t p = 0; p < n_pos; ++p) scores[p] *= inv_total;  // the softmax weights
  int64_t j = 0;
  while (head_dim - j >= 4) {
    const int64_t nv = std::min<int64_t>(16, (head_dim - j) / 4);
    kWeightedSums[nv](scores, v + j, stride, n_pos, out + j);
    j += 4 * nv;
  }
  if (j < head_dim) {
    std::fill(out + j, out + head_dim, 0.0f);
    for (int64_t p = 0; p < n_pos; ++p) {
      const float* vp = v + p * stride;
      for (int64_t i = j; i < head_dim; ++i) out[i] += scores[p] * vp[i];
    }
  }
}

void attend_block(const float* q, int64_t q_stride, int64_t n_q, const float* k, const float* v, int64_t stride,
                  int64_t first_pos, int64_t head_dim, float scale, float* out, int64_t out_stride) {
  thread_local std::vector<float> scores;
  scores.resize(static_cast<size_t>(first_pos + n_q));
  for (int64_t j = 0; j < n_q; ++j) {
    attend(q + j * q_stride, k, v, stride, first_pos + j + 1, head_dim, scale, scores.data(), out + j * out_stride);
  }
}

}  // namespace rpu::neon
