// Causal grouped-query self-attention over packed sequences (see ops.h).
//
// Per query head h and token t (window j = segment_start[t] .. t, kv head g = h / group):
//   s_j = q_t . k_j / sqrt(hd),  p = softmax(s),  out_t = sum_j p_j v_j
// Backward, with dP_j = dout_t . v_j and dS_j = p_j (dP_j - sum_i p_i dP_i):
//   dq_t += sum_j dS_j k_j / sqrt(hd),  dk_j += dS_j q_t / sqrt(hd),  dv_j += p_j dout_t
// dq is computed per (head, query); dk/dv per (kv head, key) in a second pass that sums over
// the queries (and the group's heads) that saw the key, so no two threads write one row.
#include <algorithm>
#include <cmath>
#include <functional>

#include "core/error.h"
#include "train/ops.h"

namespace rpu::train {
namespace {

void check_inputs(std::span<const int32_t> segment_start, AttentionShape shape) {
  if (shape.n_head <= 0 || shape.n_head_kv <= 0 || shape.head_dim <= 0 || shape.n_head % shape.n_head_kv != 0) {
    fail("attention: {} query heads cannot be grouped over {} key/value heads of size {}", shape.n_head,
         shape.n_head_kv, shape.head_dim);
  }
  for (size_t t = 0; t < segment_start.size(); ++t) {
    const int32_t s = segment_start[t];
    if (s < 0 || s > static_cast<int32_t>(t)) fail("token {}: segment start {} is not in 0..{}", t, s, t);
    if (t > 0 && s < segment_start[t - 1]) {
      fail("token {}: segment start {} is before the previous token's {} (sequences must be packed in order)", t, s,
           segment_start[t - 1]);
    }
  }
}

void run_tasks(ThreadPool* pool, int64_t n_tasks, const std::function<void(int64_t)>& task) {
  if (pool == nullptr) {
    for (int64_t i = 0; i < n_tasks; ++i) task(i);
    return;
  }
  pool->parallel_for(n_tasks, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) task(i);
  });
}

template <typename T>
T dot(const T* a, const T* b, int n) {
  T sum = 0;
  for (int i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

}  // namespace

template <typename T>
void attention_forward(const T* q, const T* k, const T* v, std::span<const int32_t> segment_start,
                       AttentionShape shape, T* out, AttentionSaved<T>& saved, ThreadPool* pool) {
  check_inputs(segment_start, shape);
  const int64_t n = static_cast<int64_t>(segment_start.size());
  const int hd = shape.head_dim, group = shape.n_head / shape.n_head_kv;
  const int64_t q_dim = static_cast<int64_t>(shape.n_head) * hd, kv_dim = static_cast<int64_t>(shape.n_head_kv) * hd;
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(hd)));
  saved.window_offset.assign(static_cast<size_t>(n + 1), 0);
  for (int64_t t = 0; t < n; ++t) saved.window_offset[t + 1] = saved.window_offset[t] + (t - segment_start[t] + 1);
  saved.window_total = saved.window_offset[n];
  saved.probs.resize(static_cast<size_t>(shape.n_head * saved.window_total));

  run_tasks(pool, shape.n_head * n, [&](int64_t task) {
    const int h = static_cast<int>(task / n);
    const int64_t t = task % n, first = segment_start[t];
    const T* qt = q + t * q_dim + static_cast<int64_t>(h) * hd;
    const int64_t kv_offset = static_cast<int64_t>(h / group) * hd;
    T* p = saved.probs.data() + h * saved.window_total + saved.window_offset[t];
    T max_score = -INFINITY;
    for (int64_t j = first; j <= t; ++j) {
      p[j - first] = dot(qt, k + j * kv_dim + kv_offset, hd) * scale;
      max_score = std::max(max_score, p[j - first]);
    }
    T sum = 0;
    for (int64_t j = first; j <= t; ++j) sum += p[j - first] = std::exp(p[j - first] - max_score);
    T* o = out + t * q_dim + static_cast<int64_t>(h) * hd;
    std::fill(o, o + hd, T(0));
    for (int64_t j = first; j <= t; ++j) {
      const T pj = p[j - first] /= sum;
      const T* vj = v + j * kv_dim + kv_offset;
      for (int i = 0; i < hd; ++i) o[i] += pj * vj[i];
    }
  });
}

template <typename T>
void attention_backward(const T* q, const T* k, const T* v, std::span<const int32_t> segment_start,
                        AttentionShape shape, const AttentionSaved<T>& saved, const T* dout, T* dq, T* dk, T* dv,
                        ThreadPool* pool) {
  const int64_t n = static_cast<int64_t>(segment_start.size());
  const int hd = shape.head_dim, group = shape.n_head / shape.n_head_kv;
  const int64_t q_dim = static_cast<int64_t>(shape.n_head) * hd, kv_dim = static_cast<int64_t>(shape.n_head_kv) * hd;
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(hd)));
  const int64_t total = saved.window_total;
  std::vector<T> dscores(saved.probs.size());  // dS, laid out like probs

  // Pass 1, per (head, query): dS of its window and dq.
  run_tasks(pool, shape.n_head * n, [&](int64_t task) {
    const int h = static_cast<int>(task / n);
    const int64_t t = task % n, first = segment_start[t];
    const int64_t kv_offset = static_cast<int64_t>(h / group) * hd;
    const T* p = saved.probs.data() + h * total + saved.window_offset[t];
    T* ds = dscores.data() + h * total + saved.window_offset[t];
    const T* dot_t = dout + t * q_dim + static_cast<int64_t>(h) * hd;
    T weighted = 0;  // sum_j p_j dP_j
    for (int64_t j = first; j <= t; ++j) {
      ds[j - first] = dot(dot_t, v + j * kv_dim + kv_offset, hd);
      weighted += p[j - first] * ds[j - first];
    }
    for (int64_t j = first; j <= t; ++j) ds[j - first] = p[j - first] * (ds[j - first] - weighted);
    if (dq == nullptr) return;
    T* dqt = dq + t * q_dim + static_cast<int64_t>(h) * hd;
    for (int64_t j = first; j <= t; ++j) {
      const T c = ds[j - first] * scale;
      const T* kj = k + j * kv_dim + kv_offset;
      for (int i = 0; i < hd; ++i) dqt[i] += c * kj[i];
    }
  });

  if (dk == nullptr && dv == nullptr) return;
  // Pass 2, per (kv head, key j): sum over the queries t >= j of j's segment, and the group's heads.
  run_tasks(pool, shape.n_head_kv * n, [&](int64_t task) {
    const int g = static_cast<int>(task / n);
    const int64_t j = task % n;
    T* dkj = dk != nullptr ? dk + j * kv_dim + static_cast<int64_t>(g) * hd : nullptr;
    T* dvj = dv != nullptr ? dv + j * kv_dim + static_cast<int64_t>(g) * hd : nullptr;
    for (int64_t t = j; t < n && segment_start[t] <= j; ++t) {
      const int64_t at = saved.window_offset[t] + (j - segment_start[t]);
      for (int h = g * group; h < (g + 1) * group; ++h) {
        if (dkj != nullptr) {
          const T c = dscores[h * total + at] * scale;
          const T* qt = q + t * q_dim + static_cast<int64_t>(h) * hd;
          for (int i = 0; i < hd; ++i) dkj[i] += c * qt[i];
        }
        if (dvj != nullptr) {
          const T pj = saved.probs[h * total + at];
          const T* dot_t = dout + t * q_dim + static_cast<int64_t>(h) * hd;
          for (int i = 0; i < hd; ++i) dvj[i] += pj * dot_t[i];
        }
      }
    }
  });
}

#define RPU_INSTANTIATE(T)                                                                                        \
  template void attention_forward<T>(const T*, const T*, const T*, std::span<const int32_t>, AttentionShape, T*, \
                                     AttentionSaved<T>&, ThreadPool*);                                          \
  template void attention_backward<T>(const T*, const T*, const T*, std::span<const int32_t>, AttentionShape,    \
                                      const AttentionSaved<T>&, const T*, T*, T*, T*, ThreadPool*);
RPU_INSTANTIATE(float)
RPU_INSTANTIATE(double)
#undef RPU_INSTANTIATE

}  // namespace rpu::train
