// Causal grouped-query self-attention over packed sequences (see ops.h).
//
// Per query head h and token t (window j = segment_start[t] .. t, kv head g = h / group):
//   s_j = q_t . k_j * scale (1/sqrt(hd) by default),  (gemma2) s_j = c tanh(s_j / c),
//   p = softmax(s),  out_t = sum_j p_j v_j
// Backward, with dP_j = dout_t . v_j and dS_j = p_j (dP_j - sum_i p_i dP_i):
//   dq_t += sum_j dS_j k_j / sqrt(hd),  dk_j += dS_j q_t / sqrt(hd),  dv_j += p_j dout_t
// dq is computed per (head, query); dk/dv in a second pass per (kv head, independent span of
// tokens): each query of the span adds its contributions to the keys it saw, so no two threads
// write one row. Scores q_t . k_j and dP_j = dout_t . v_j are computed for 16 keys at a time
// from per-kv-head transposed copies of K and V ([n_head_kv, head_dim, n]), which vectorises
// across keys (no horizontal sums per key).
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
RPU_ALWAYS_INLINE T dot(const T* a, const T* b, int64_t n) {
  constexpr int kLanes = 16;
  T partial[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) partial[l] += a[i + l] * b[i + l];
  }
  T sum = 0;
  for (; i < n; ++i) sum += a[i] * b[i];
  for (int l = 0; l < kLanes; ++l) sum += partial[l];
  return sum;
}

// The sum of a[0, n), with kLanes partial sums for the same reason.
template <typename T>
RPU_ALWAYS_INLINE T sum(const T* a, int64_t n) {
  constexpr int kLanes = 16;
  T partial[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) partial[l] += a[i + l];
  }
  T total = 0;
  for (; i < n; ++i) total += a[i];
  for (int l = 0; l < kLanes; ++l) total += partial[l];
  return total;
}

// Everything the per-row kernels read and write. Token t's window in probs / dscores of
// head h starts at h * window_total + window_offset[t].
template <typename T>
struct Rows {
  const T *q, *k, *v, *dout;
  T *out, *dq, *dk, *dv;
  const int32_t* segment_start;
  const int64_t* window_offset;
  const T* kt;  // K transposed per kv head: kt[(g * head_dim + i) * n + j] = k[j][g * head_dim + i] (forward)
  const T* vt;  // V likewise (backward)
  const int64_t* span_start;  // [n_spans + 1]: token spans no query outside of attends into (backward)
  int64_t n_spans;
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

// out[j - first] = (x . column j of xt) * scale for keys j = first..last, where xt is one kv
// head's transposed K or V [head_dim, n] (n + kLanes columns readable: the transposes are
// padded): kLanes keys per vector, each lane its own key, so the sums need no horizontal adds;
// kChains blocks of keys at once keep independent FMA chains in flight. The last block reads
// up to kLanes - 1 columns past `last` and drops them.
template <typename T>
RPU_ALWAYS_INLINE void window_dots(const T* x, const T* xt, int64_t n, int hd, int64_t first, int64_t last, T scale,
                                   T* out) {
  constexpr int kLanes = 16, kChains = 4;
  int64_t j = first;
  for (; j + kChains * kLanes <= last + 1; j += kChains * kLanes) {
    T acc[kChains][kLanes] = {};
    for (int i = 0; i < hd; ++i) {
      const T xi = x[i];
      const T* row = xt + i * n + j;
      for (int c = 0; c < kChains; ++c) {
        for (int l = 0; l < kLanes; ++l) acc[c][l] += xi * row[c * kLanes + l];
      }
    }
    for (int c = 0; c < kChains; ++c) {
      for (int l = 0; l < kLanes; ++l) out[j - first + c * kLanes + l] = acc[c][l] * scale;
    }
  }
  for (; j <= last; j += kLanes) {
    T acc[kLanes] = {};
    for (int i = 0; i < hd; ++i) {
      const T xi = x[i];
      const T* row = xt + i * n + j;
      for (int l = 0; l < kLanes; ++l) acc[l] += xi * row[l];
    }
    const int valid = static_cast<int>(std::min<int64_t>(kLanes, last + 1 - j));
    for (int l = 0; l < valid; ++l) out[j - first + l] = acc[l] * scale;
  }
}

// y[0, hd) += scale * sum_j w[j - first] * x[j * stride + (0, hd)] over j = first..last: the
// row of y is held in registers kLanes values at a time (accumulating into y in memory would
// put a store-to-load dependency on every key), over kChains interleaved keys.
template <typename T>
RPU_ALWAYS_INLINE void accumulate_rows(const T* w, const T* x, int64_t stride, int64_t first, int64_t last, int hd,
                                       T scale, T* y) {
  constexpr int kLanes = 16, kChains = 4;
  int i0 = 0;
  for (; i0 + kLanes <= hd; i0 += kLanes) {
    T acc[kChains][kLanes] = {};
    int64_t j = first;
    for (; j + kChains <= last + 1; j += kChains) {
      for (int c = 0; c < kChains; ++c) {
        const T wj = w[j + c - first];
        const T* row = x + (j + c) * stride + i0;
        for (int l = 0; l < kLanes; ++l) acc[c][l] += wj * row[l];
      }
    }
    for (; j <= last; ++j) {
      const T wj = w[j - first];
      const T* row = x + j * stride + i0;
      for (int l = 0; l < kLanes; ++l) acc[0][l] += wj * row[l];
    }
    for (int l = 0; l < kLanes; ++l) y[i0 + l] += ((acc[0][l] + acc[1][l]) + (acc[2][l] + acc[3][l])) * scale;
  }
  for (; i0 < hd; ++i0) {
    T acc = 0;
    for (int64_t j = first; j <= last; ++j) acc += w[j - first] * x[j * stride + i0];
    y[i0] += acc * scale;
  }
}

// Forward for query head h of token t: probs of its window and its output row.
template <typename T>
RPU_ALWAYS_INLINE void attend_query(const Rows<T>& r, int h, int64_t t) {
  const int hd = r.head_dim;
  const int64_t first = r.segment_start[t];
  const T* qt = r.q + t * r.q_dim + static_cast<int64_t>(h) * hd;
  const int64_t kv_offset = static_cast<int64_t>(h / r.group) * hd;
  T* p = r.probs + h * r.window_total + r.window_offset[t];
  window_dots(qt, r.kt + kv_offset * r.n, r.n, hd, first, t, r.scale, p);
  T max_score = -INFINITY;
  for (int64_t j = first; j <= t; ++j) {
    if (r.softcap > 0) p[j - first] = r.softcap * std::tanh(p[j - first] / r.softcap);
    max_score = std::max(max_score, p[j - first]);
  }
  const int64_t len = t - first + 1;
  for (int64_t j = 0; j < len; ++j) p[j] = std::exp(p[j] - max_score);
  const T inv_sum = T(1) / sum(p, len);
  for (int64_t j = 0; j < len; ++j) p[j] *= inv_sum;
  T* o = r.out + t * r.q_dim + static_cast<int64_t>(h) * hd;
  std::fill(o, o + hd, T(0));
  accumulate_rows(p, r.v + kv_offset, r.kv_dim, first, t, hd, T(1), o);
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
  window_dots(dot_t, r.vt + kv_offset * r.n, r.n, hd, first, t, T(1), ds);
  const T weighted = dot(p, ds, t - first + 1);  // sum_j p_j dP_j
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
  accumulate_rows(ds, r.k + kv_offset, r.kv_dim, first, t, hd, r.scale, r.dq + t * r.q_dim + static_cast<int64_t>(h) * hd);
}

// Backward pass 2 for kv head g over span `span` of tokens: every query t of the span (and
// of the group's heads) adds dS_j q_t / sqrt(hd) to dk_j and p_j dout_t to dv_j for the keys j
// of its window, which all lie in the span. Per key the additions come in the order t, h.
template <typename T>
RPU_ALWAYS_INLINE void backward_span(const Rows<T>& r, int g, int64_t span) {
  const int hd = r.head_dim;
  const int64_t kv_offset = static_cast<int64_t>(g) * hd;
  for (int64_t t = r.span_start[span]; t < r.span_start[span + 1]; ++t) {
    const int64_t first = r.segment_start[t];
    for (int h = g * r.group; h < (g + 1) * r.group; ++h) {
      const int64_t at = h * r.window_total + r.window_offset[t];
      if (r.dk != nullptr) {
        const T* qt = r.q + t * r.q_dim + static_cast<int64_t>(h) * hd;
        const T* ds = r.dscores + at;
        for (int64_t j = first; j <= t; ++j) {
          const T c = ds[j - first] * r.scale;
          T* dkj = r.dk + j * r.kv_dim + kv_offset;
          for (int i = 0; i < hd; ++i) dkj[i] += c * qt[i];
        }
      }
      if (r.dv != nullptr) {
        const T* dot_t = r.dout + t * r.q_dim + static_cast<int64_t>(h) * hd;
        const T* p = r.probs + at;
        for (int64_t j = first; j <= t; ++j) {
          const T pj = p[j - first];
          T* dvj = r.dv + j * r.kv_dim + kv_offset;
          for (int i = 0; i < hd; ++i) dvj[i] += pj * dot_t[i];
        }
      }
    }
  }
}

// Runs kernel(rows, head, token) (or (kv head, span)) for tasks [begin, end) of (head-major)
// tasks; the float version is compiled per instruction set.
enum class Kernel { kAttend, kBackwardQuery, kBackwardSpan };

template <typename T>
RPU_ALWAYS_INLINE void run_range(const Rows<T>& r, Kernel kernel, int64_t begin, int64_t end) {
  const int64_t per_head = kernel == Kernel::kBackwardSpan ? r.n_spans : r.n;
  for (int64_t task = begin; task < end; ++task) {
    const int head = static_cast<int>(task / per_head);
    const int64_t index = task % per_head;
    if (kernel == Kernel::kAttend) attend_query(r, head, index);
    if (kernel == Kernel::kBackwardQuery) backward_query(r, head, index);
    if (kernel == Kernel::kBackwardSpan) backward_span(r, head, index);
  }
}

// x [n, n_kv * hd] -> out [n_kv, hd, n] (one transposed matrix per kv head), plus 16 zeros
// that window_dots' last block may read past the end.
template <typename T>
void transpose_heads(const T* x, int64_t n, int n_kv, int hd, std::vector<T>& out) {
  const int64_t dim = static_cast<int64_t>(n_kv) * hd;
  out.assign(static_cast<size_t>(n * dim + 16), T(0));
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t c = 0; c < dim; ++c) out[c * n + j] = x[j * dim + c];
  }
}

// Starts of the spans of tokens that attend only within themselves: a span ends before b when
// segment_start[b] == b (starts never decrease, so no later token reaches back past b).
std::vector<int64_t> independent_spans(std::span<const int32_t> segment_start) {
  std::vector<int64_t> starts;
  for (size_t t = 0; t < segment_start.size(); ++t) {
    if (segment_start[t] == static_cast<int32_t>(t)) starts.push_back(static_cast<int64_t>(t));
  }
  starts.push_back(static_cast<int64_t>(segment_start.size()));
  return starts;
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
  thread_local std::vector<T> kt;  // scratch, grown once per thread
  transpose_heads(k, n, shape.n_head_kv, hd, kt);
  const Rows<T> rows{q, k, v, nullptr, out, nullptr, nullptr, nullptr, segment_start.data(),
                     saved.window_offset.data(), kt.data(), nullptr, nullptr, 0, saved.probs.data(), nullptr, n,
                     saved.window_total, static_cast<int64_t>(shape.n_head) * hd,
                     static_cast<int64_t>(shape.n_head_kv) * hd, hd, shape.n_head / shape.n_head_kv,
                     scale_of<T>(shape), static_cast<T>(shape.softcap)};
  run_tasks(pool, rows, Kernel::kAttend, shape.n_head * n);
}

template <typename T>
void attention_backward(const T* q, const T* k, const T* v, std::span<const int32_t> segment_start,
                        AttentionShape shape, const AttentionSaved<T>& saved, const T* dout, T* dq, T* dk, T* dv,
                        ThreadPool* pool) {
  const int64_t n = static_cast<int64_t>(segment_start.size());
  if (static_cast<int64_t>(saved.window_offset.size()) != n + 1) fail("attention backward: no matching forward pass");
  // Scratch reused across calls (dS is [n_head, window_total] like probs: megabytes per layer).
  thread_local std::vector<T> dscores, vt;
  dscores.resize(saved.probs.size());
  const int hd = shape.head_dim;
  transpose_heads(v, n, shape.n_head_kv, hd, vt);
  const std::vector<int64_t> spans = independent_spans(segment_start);
  const int64_t n_spans = static_cast<int64_t>(spans.size()) - 1;
  const Rows<T> rows{q, k, v, dout, nullptr, dq, dk, dv, segment_start.data(), saved.window_offset.data(), nullptr,
                     vt.data(), spans.data(), n_spans,
                     const_cast<T*>(saved.probs.data()),  // read only in the backward kernels
                     dscores.data(), n, saved.window_total, static_cast<int64_t>(shape.n_head) * hd,
                     static_cast<int64_t>(shape.n_head_kv) * hd, hd, shape.n_head / shape.n_head_kv,
                     scale_of<T>(shape), static_cast<T>(shape.softcap)};
  run_tasks(pool, rows, Kernel::kBackwardQuery, shape.n_head * n);
  if (dk != nullptr || dv != nullptr) run_tasks(pool, rows, Kernel::kBackwardSpan, shape.n_head_kv * n_spans);
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
