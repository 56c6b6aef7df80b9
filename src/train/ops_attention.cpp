// Causal grouped-query self-attention over packed sequences (see ops.h).
//
// Per query head h and token t (window j = segment_start[t] .. t, kv head g = h / group):
//   s_j = q_t . k_j * scale (1/sqrt(hd) by default),  (gemma2) s_j = c tanh(s_j / c),
//   p = softmax(s),  out_t = sum_j p_j v_j
// Backward, with dP_j = dout_t . v_j and dS_j = p_j (dP_j - sum_i p_i dP_i):
//   dq_t += sum_j dS_j k_j / sqrt(hd),  dk_j += dS_j q_t / sqrt(hd),  dv_j += p_j dout_t
// dq is computed per (head, query); dk/dv per (kv head, key) in a second pass that sums over
// the queries (and the group's heads) that saw the key, so no two threads write one row.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/error.h"
#include "train/gemm.h"
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

// a . b with kLanes independent partial sums, so the compiler can keep them in one vector
// register (a single running sum would have to be added up in order, one lane at a time).
template <typename T>
RPU_ALWAYS_INLINE T dot(const T* a, const T* b, int n) {
  constexpr int kLanes = 16;
  T partial[kLanes] = {};
  int i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) partial[l] += a[i + l] * b[i + l];
  }
  T sum = 0;
  for (; i < n; ++i) sum += a[i] * b[i];
  for (int l = 0; l < kLanes; ++l) sum += partial[l];
  return sum;
}

// Everything the per-row kernels read and write. Token t's window in probs / dscores of
// head h starts at h * window_total + window_offset[t].
template <typename T>
struct Rows {
  const T *q, *k, *v, *dout;
  T *out, *dq, *dk, *dv;
  const int32_t* segment_start;
  const int64_t* window_offset;
  T* probs;
  T* dscores;
  int64_t n, window_total, q_dim, kv_dim;
  int head_dim, group;
  T scale;
  T softcap;  // 0: none
};

template <typename T>
T scale_of(AttentionShape shape) {
  return static_cast<T>(shape.scale > 0 ? shape.scale : 1.0 / std::sqrt(static_cast<double>(shape.head_dim)));
}

// Forward for query head h of token t: probs of its window and its output row.
template <typename T>
RPU_ALWAYS_INLINE void attend_query(const Rows<T>& r, int h, int64_t t) {
  const int hd = r.head_dim;
  const int64_t first = r.segment_start[t];
  const T* qt = r.q + t * r.q_dim + static_cast<int64_t>(h) * hd;
  const int64_t kv_offset = static_cast<int64_t>(h / r.group) * hd;
  T* p = r.probs + h * r.window_total + r.window_offset[t];
  T max_score = -INFINITY;
  for (int64_t j = first; j <= t; ++j) {
    p[j - first] = dot(qt, r.k + j * r.kv_dim + kv_offset, hd) * r.scale;
    if (r.softcap > 0) p[j - first] = r.softcap * std::tanh(p[j - first] / r.softcap);
    max_score = std::max(max_score, p[j - first]);
  }
  T sum = 0;
  for (int64_t j = first; j <= t; ++j) sum += p[j - first] = std::exp(p[j - first] - max_score);
  T* o = r.out + t * r.q_dim + static_cast<int64_t>(h) * hd;
  std::fill(o, o + hd, T(0));
  for (int64_t j = first; j <= t; ++j) {
    const T pj = p[j - first] /= sum;
    const T* vj = r.v + j * r.kv_dim + kv_offset;
    for (int i = 0; i < hd; ++i) o[i] += pj * vj[i];
  }
}

// Backward pass 1 for query head h of token t: dS of its window, and dq.
template <typename T>
RPU_ALWAYS_INLINE void backward_query(const Rows<T>& r, int h, int64_t t) {
  const int hd = r.head_dim;
  const int64_t first = r.segment_start[t];
  const int64_t kv_offset = static_cast<int64_t>(h / r.group) * hd;
  const T* p = r.probs + h * r.window_total + r.window_offset[t];
  T* ds = r.dscores + h * r.window_total + r.window_offset[t];
  const T* dot_t = r.dout + t * r.q_dim + static_cast<int64_t>(h) * hd;
  T weighted = 0;  // sum_j p_j dP_j
  for (int64_t j = first; j <= t; ++j) {
    ds[j - first] = dot(dot_t, r.v + j * r.kv_dim + kv_offset, hd);
    weighted += p[j - first] * ds[j - first];
  }
  for (int64_t j = first; j <= t; ++j) ds[j - first] = p[j - first] * (ds[j - first] - weighted);
  const T* qt = r.q + t * r.q_dim + static_cast<int64_t>(h) * hd;
  if (r.softcap > 0) {
    // Through the cap: d(c tanh(s / c))/ds = 1 - tanh^2, with s recomputed (probs replaced it).
    for (int64_t j = first; j <= t; ++j) {
      const T th = std::tanh(dot(qt, r.k + j * r.kv_dim + kv_offset, hd) * r.scale / r.softcap);
      ds[j - first] *= T(1) - th * th;
    }
  }
  if (r.dq == nullptr) return;
  T* dqt = r.dq + t * r.q_dim + static_cast<int64_t>(h) * hd;
  for (int64_t j = first; j <= t; ++j) {
    const T c = ds[j - first] * r.scale;
    const T* kj = r.k + j * r.kv_dim + kv_offset;
    for (int i = 0; i < hd; ++i) dqt[i] += c * kj[i];
  }
}

// Backward pass 2 for kv head g of key j: sums over the queries t >= j of j's segment and
// over the group's query heads.
template <typename T>
RPU_ALWAYS_INLINE void backward_key(const Rows<T>& r, int g, int64_t j) {
  const int hd = r.head_dim;
  T* dkj = r.dk != nullptr ? r.dk + j * r.kv_dim + static_cast<int64_t>(g) * hd : nullptr;
  T* dvj = r.dv != nullptr ? r.dv + j * r.kv_dim + static_cast<int64_t>(g) * hd : nullptr;
  for (int64_t t = j; t < r.n && r.segment_start[t] <= j; ++t) {
    const int64_t at = r.window_offset[t] + (j - r.segment_start[t]);
    for (int h = g * r.group; h < (g + 1) * r.group; ++h) {
      if (dkj != nullptr) {
        const T c = r.dscores[h * r.window_total + at] * r.scale;
        const T* qt = r.q + t * r.q_dim + static_cast<int64_t>(h) * hd;
        for (int i = 0; i < hd; ++i) dkj[i] += c * qt[i];
      }
      if (dvj != nullptr) {
        const T pj = r.probs[h * r.window_total + at];
        const T* dot_t = r.dout + t * r.q_dim + static_cast<int64_t>(h) * hd;
        for (int i = 0; i < hd; ++i) dvj[i] += pj * dot_t[i];
      }
    }
  }
}

// Runs kernel(rows, head, token) for tasks [begin, end) of (head-major) tasks; the float
// version is compiled per instruction set.
enum class Kernel { kAttend, kBackwardQuery, kBackwardKey };

template <typename T>
RPU_ALWAYS_INLINE void run_range(const Rows<T>& r, Kernel kernel, int64_t begin, int64_t end) {
  for (int64_t task = begin; task < end; ++task) {
    const int head = static_cast<int>(task / r.n);
    const int64_t token = task % r.n;
    if (kernel == Kernel::kAttend) attend_query(r, head, token);
    if (kernel == Kernel::kBackwardQuery) backward_query(r, head, token);
    if (kernel == Kernel::kBackwardKey) backward_key(r, head, token);
  }
}

RPU_VECTOR_CLONES void run_range_f32(const Rows<float>& r, Kernel kernel, int64_t begin, int64_t end) {
  run_range(r, kernel, begin, end);
}

template <typename T>
void run_tasks(ThreadPool* pool, const Rows<T>& r, Kernel kernel, int64_t n_tasks) {
  auto run = [&](int64_t begin, int64_t end) {
    if constexpr (std::is_same_v<T, float>) {
      run_range_f32(r, kernel, begin, end);
    } else {
      run_range(r, kernel, begin, end);
    }
  };
  if (pool == nullptr) {
    run(0, n_tasks);
  } else {
    pool->parallel_for(n_tasks, run);
  }
}

}  // namespace

template <typename T>
void attention_forward(const T* q, const T* k, const T* v, std::span<const int32_t> segment_start,
                       AttentionShape shape, T* out, AttentionSaved<T>& saved, ThreadPool* pool) {
  check_inputs(segment_start, shape);
  const int64_t n = static_cast<int64_t>(segment_start.size());
  saved.window_offset.assign(static_cast<size_t>(n + 1), 0);
  for (int64_t t = 0; t < n; ++t) saved.window_offset[t + 1] = saved.window_offset[t] + (t - segment_start[t] + 1);
  saved.window_total = saved.window_offset[n];
  saved.probs.resize(static_cast<size_t>(shape.n_head * saved.window_total));
  const int hd = shape.head_dim;
  const Rows<T> rows{q, k, v, nullptr, out, nullptr, nullptr, nullptr, segment_start.data(),
                     saved.window_offset.data(), saved.probs.data(), nullptr, n, saved.window_total,
                     static_cast<int64_t>(shape.n_head) * hd, static_cast<int64_t>(shape.n_head_kv) * hd, hd,
                     shape.n_head / shape.n_head_kv, scale_of<T>(shape), static_cast<T>(shape.softcap)};
  run_tasks(pool, rows, Kernel::kAttend, shape.n_head * n);
}

template <typename T>
void attention_backward(const T* q, const T* k, const T* v, std::span<const int32_t> segment_start,
                        AttentionShape shape, const AttentionSaved<T>& saved, const T* dout, T* dq, T* dk, T* dv,
                        ThreadPool* pool) {
  const int64_t n = static_cast<int64_t>(segment_start.size());
  if (static_cast<int64_t>(saved.window_offset.size()) != n + 1) fail("attention backward: no matching forward pass");
  std::vector<T> dscores(saved.probs.size());  // dS, laid out like probs
  const int hd = shape.head_dim;
  const Rows<T> rows{q, k, v, dout, nullptr, dq, dk, dv, segment_start.data(), saved.window_offset.data(),
                     const_cast<T*>(saved.probs.data()),  // read only in the backward kernels
                     dscores.data(), n, saved.window_total, static_cast<int64_t>(shape.n_head) * hd,
                     static_cast<int64_t>(shape.n_head_kv) * hd, hd, shape.n_head / shape.n_head_kv,
                     scale_of<T>(shape), static_cast<T>(shape.softcap)};
  run_tasks(pool, rows, Kernel::kBackwardQuery, shape.n_head * n);
  if (dk != nullptr || dv != nullptr) run_tasks(pool, rows, Kernel::kBackwardKey, shape.n_head_kv * n);
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
