// Causal grouped-query self-attention over packed sequences (see ops.h).
//
// Per query head h and token t (window j = segment_start[t] .. t, kv head g = h / group):
//   s_j = q_t . k_j * scale (1/sqrt(hd) by default),  (gemma2) s_j = c tanh(s_j / c),
//   p = softmax(s),  out_t = sum_j p_j v_j
// Backward, with dP_j = dout_t . v_j and dS_j = p_j (dP_j - sum_i p_i dP_i):
//   dq_t += sum_j dS_j k_j / sqrt(hd),  dk_j += dS_j q_t / sqrt(hd),  dv_j += p_j dout_t
//
// Work is split into tasks of (kv head g, block of kBlock consecutive tokens), so every
// thread writes rows no other thread touches:
//   - forward and backward pass 1 (dS, dq): the block's tokens are the queries. The keys they
//     can see, segment_start[t0] .. t1 - 1 (starts never decrease), are copied transposed into
//     a small per-thread buffer [head_dim, ld] first, so the scores of 16 keys at a time are
//     plain vector FMAs over contiguous memory (a transposed copy of the whole batch, stride n,
//     put the head_dim rows of one column 8 KiB apart: the same L1 set, thrashing);
//   - backward pass 2 (dk, dv): the block's tokens are the keys. Four keys' rows of dk and dv
//     stay in registers while every query that sees them adds its share (dS^T Q and P^T dO),
//     instead of a load-add-store of a key row per (query, key) pair.
// Tasks do not depend on where sequences start, so a long unbroken sequence splits as well
// as many short ones.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "train/gemm.h"
#include "train/ops.h"
#include "train/vector_math.h"

namespace rpu::train {
namespace {

constexpr int kLanes = 16;      // values per vector accumulator (one AVX-512 register of floats)
constexpr int64_t kBlock = 64;  // tokens per task

// The float kernels' accumulators as GCC/clang generic vectors (not an instruction set: each
// clone of RPU_VECTOR_CLONES compiles them to its widest registers). Left to itself the
// vectoriser kept the small accumulator arrays in scalar or 4-wide pieces.
using FloatLanes = float __attribute__((vector_size(kLanes * sizeof(float))));

RPU_ALWAYS_INLINE void load_lanes(FloatLanes& v, const float* p) { __builtin_memcpy(&v, p, sizeof v); }
RPU_ALWAYS_INLINE void store_lanes(float* p, const FloatLanes& v) { __builtin_memcpy(p, &v, sizeof v); }

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

// out[c * kLanes + l] = scale * x . xt[:, c * kLanes + l] for kChains blocks of kLanes columns
// of xt [hd, ld]: each lane its own key, so no horizontal sums; the chains are independent
// FMA dependency chains.
template <int kChains, typename T>
RPU_ALWAYS_INLINE void dots_block(const T* x, const T* xt, int64_t ld, int hd, T scale, T* out) {
  if constexpr (std::is_same_v<T, float>) {
    FloatLanes acc[kChains] = {};
    for (int i = 0; i < hd; ++i) {
      const float xi = x[i];
      for (int c = 0; c < kChains; ++c) {
        FloatLanes row;
        load_lanes(row, xt + i * ld + c * kLanes);
        acc[c] += xi * row;
      }
    }
    for (int c = 0; c < kChains; ++c) store_lanes(out + c * kLanes, acc[c] * scale);
    return;
  }
  T acc[kChains][kLanes] = {};
  for (int i = 0; i < hd; ++i) {
    const T xi = x[i];
    const T* row = xt + i * ld;
    for (int c = 0; c < kChains; ++c) {
      for (int l = 0; l < kLanes; ++l) acc[c][l] += xi * row[c * kLanes + l];
    }
  }
  for (int c = 0; c < kChains; ++c) {
    for (int l = 0; l < kLanes; ++l) out[c * kLanes + l] = acc[c][l] * scale;
  }
}

// out[j] = scale * x . xt[:, j] for j in [0, count), rounded up to whole kLanes blocks: xt
// needs that many readable columns and out that much room.
template <typename T>
RPU_ALWAYS_INLINE void window_dots(const T* x, const T* xt, int64_t ld, int hd, int64_t count, T scale, T* out) {
  int64_t j = 0;
  for (; j + 4 * kLanes <= count; j += 4 * kLanes) dots_block<4>(x, xt + j, ld, hd, scale, out + j);
  switch ((count - j + kLanes - 1) / kLanes) {  // 0 to 4 blocks left
    case 4: dots_block<4>(x, xt + j, ld, hd, scale, out + j); break;
    case 3: dots_block<3>(x, xt + j, ld, hd, scale, out + j); break;
    case 2: dots_block<2>(x, xt + j, ld, hd, scale, out + j); break;
    case 1: dots_block<1>(x, xt + j, ld, hd, scale, out + j); break;
    default: break;
  }
}

// y[0, hd) += scale * sum_j w[j] * x[j * stride + (0, hd)] over j in [0, count): the row of y
// is held in registers kLanes values at a time (accumulating into y in memory would put a
// store-to-load dependency on every key), over four interleaved keys.
template <typename T>
RPU_ALWAYS_INLINE void accumulate_rows(const T* w, const T* x, int64_t stride, int64_t count, int hd, T scale, T* y) {
  constexpr int kChains = 4;
  int i0 = 0;
  if constexpr (std::is_same_v<T, float>) {
    for (; i0 + kLanes <= hd; i0 += kLanes) {
      FloatLanes acc[kChains] = {}, row;
      int64_t j = 0;
      for (; j + kChains <= count; j += kChains) {
        for (int c = 0; c < kChains; ++c) {
          load_lanes(row, x + (j + c) * stride + i0);
          acc[c] += w[j + c] * row;
        }
      }
      for (; j < count; ++j) {
        load_lanes(row, x + j * stride + i0);
        acc[0] += w[j] * row;
      }
      FloatLanes total;
      load_lanes(total, y + i0);
      store_lanes(y + i0, total + ((acc[0] + acc[1]) + (acc[2] + acc[3])) * scale);
    }
  }
  for (; i0 + kLanes <= hd; i0 += kLanes) {
    T acc[kChains][kLanes] = {};
    int64_t j = 0;
    for (; j + kChains <= count; j += kChains) {
      for (int c = 0; c < kChains; ++c) {
        const T wj = w[j + c];
        const T* row = x + (j + c) * stride + i0;
        for (int l = 0; l < kLanes; ++l) acc[c][l] += wj * row[l];
      }
    }
    for (; j < count; ++j) {
      const T wj = w[j];
      const T* row = x + j * stride + i0;
      for (int l = 0; l < kLanes; ++l) acc[0][l] += wj * row[l];
    }
    for (int l = 0; l < kLanes; ++l) y[i0 + l] += ((acc[0][l] + acc[1][l]) + (acc[2][l] + acc[3][l])) * scale;
  }
  for (; i0 < hd; ++i0) {
    T acc = 0;
    for (int64_t j = 0; j < count; ++j) acc += w[j] * x[j * stride + i0];
    y[i0] += acc * scale;
  }
}

// Everything the kernels read and write. Token t's window in probs / dscores of head h
// starts at h * window_total + window_offset[t].
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

// A task's scratch (one per thread, grown once): one kv head's keys or values of a block,
// transposed to xt [head_dim, ld], and one row of scores [ld].
template <typename T>
struct TaskScratch {
  std::vector<T> xt, scores;
  int64_t ld = 0;
};

// Rows [key0, t1) of kv head g of x [n, kv_dim] into s.xt, column j - key0; the columns past
// them are zero (window_dots reads whole blocks of kLanes).
template <typename T>
RPU_ALWAYS_INLINE void transpose_keys(const Rows<T>& r, const T* x, int g, int64_t key0, int64_t t1,
                                      TaskScratch<T>& s) {
  const int hd = r.head_dim;
  const int64_t count = t1 - key0;
  s.ld = (count + kLanes - 1) / kLanes * kLanes + kLanes;
  if ((s.ld * static_cast<int64_t>(sizeof(T))) % 4096 == 0) s.ld += kLanes;  // rows 4 KiB apart share L1 sets
  s.xt.resize(static_cast<size_t>(hd * s.ld));
  s.scores.resize(static_cast<size_t>(s.ld));
  const T* head = x + static_cast<int64_t>(g) * hd;
  T* xt = s.xt.data();
  for (int64_t j = 0; j < count; ++j) {
    const T* row = head + (key0 + j) * r.kv_dim;
    for (int i = 0; i < hd; ++i) xt[i * s.ld + j] = row[i];
  }
  for (int i = 0; i < hd; ++i) std::fill(xt + i * s.ld + count, xt + (i + 1) * s.ld, T(0));
}

// p[j] = softmax of (capped) scores[0, count).
template <typename T>
RPU_ALWAYS_INLINE void softmax_row(T* scores, int64_t count, T softcap, T* p) {
  if (softcap > 0) {
    for (int64_t j = 0; j < count; ++j) scores[j] = softcap * std::tanh(scores[j] / softcap);
  }
  // kLanes running maxima (one chain of max over the row would run a value at a time).
  T partial[kLanes];
  for (int l = 0; l < kLanes; ++l) partial[l] = scores[0];
  int64_t j0 = 0;
  for (; j0 + kLanes <= count; j0 += kLanes) {
    for (int l = 0; l < kLanes; ++l) partial[l] = std::max(partial[l], scores[j0 + l]);
  }
  T max_score = scores[0];
  for (; j0 < count; ++j0) max_score = std::max(max_score, scores[j0]);
  for (int l = 0; l < kLanes; ++l) max_score = std::max(max_score, partial[l]);
  for (int64_t j = 0; j < count; ++j) p[j] = exp_of(scores[j] - max_score);
  const T inv_sum = T(1) / sum(p, count);
  for (int64_t j = 0; j < count; ++j) p[j] *= inv_sum;
}

// Forward for the queries [t0, t1) of the heads of kv head g: probs and output rows.
template <typename T>
RPU_ALWAYS_INLINE void forward_block(const Rows<T>& r, int g, int64_t t0, int64_t t1, TaskScratch<T>& s) {
  const int hd = r.head_dim;
  const int64_t key0 = r.segment_start[t0];
  transpose_keys(r, r.k, g, key0, t1, s);
  const T* v_head = r.v + static_cast<int64_t>(g) * hd;
  for (int h = g * r.group; h < (g + 1) * r.group; ++h) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t first = r.segment_start[t], count = t - first + 1;
      const T* qt = r.q + t * r.q_dim + static_cast<int64_t>(h) * hd;
      window_dots(qt, s.xt.data() + (first - key0), s.ld, hd, count, r.scale, s.scores.data());
      T* p = r.probs + h * r.window_total + r.window_offset[t];
      softmax_row(s.scores.data(), count, r.softcap, p);
      T* o = r.out + t * r.q_dim + static_cast<int64_t>(h) * hd;
      std::fill(o, o + hd, T(0));
      accumulate_rows(p, v_head + first * r.kv_dim, r.kv_dim, count, hd, T(1), o);
    }
  }
}

// Backward pass 1 for the queries [t0, t1) of the heads of kv head g: dS of their windows, and dq.
template <typename T>
RPU_ALWAYS_INLINE void backward_queries(const Rows<T>& r, int g, int64_t t0, int64_t t1, TaskScratch<T>& s) {
  const int hd = r.head_dim;
  const int64_t key0 = r.segment_start[t0];
  const int64_t kv_offset = static_cast<int64_t>(g) * hd;
  transpose_keys(r, r.v, g, key0, t1, s);
  for (int h = g * r.group; h < (g + 1) * r.group; ++h) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t first = r.segment_start[t], count = t - first + 1;
      const T* p = r.probs + h * r.window_total + r.window_offset[t];
      T* ds = r.dscores + h * r.window_total + r.window_offset[t];
      T* dp = s.scores.data();
      window_dots(r.dout + t * r.q_dim + static_cast<int64_t>(h) * hd, s.xt.data() + (first - key0), s.ld, hd, count,
                  T(1), dp);
      const T weighted = dot(p, dp, count);  // sum_j p_j dP_j
      for (int64_t j = 0; j < count; ++j) ds[j] = p[j] * (dp[j] - weighted);
      const T* qt = r.q + t * r.q_dim + static_cast<int64_t>(h) * hd;
      if (r.softcap > 0) {
        // Through the cap: d(c tanh(s / c))/ds = 1 - tanh^2, with s recomputed (probs replaced it).
        for (int64_t j = 0; j < count; ++j) {
          const T th = std::tanh(dot(qt, r.k + (first + j) * r.kv_dim + kv_offset, hd) * r.scale / r.softcap);
          ds[j] *= T(1) - th * th;
        }
      }
      if (r.dq == nullptr) continue;
      accumulate_rows(ds, r.k + first * r.kv_dim + kv_offset, r.kv_dim, count, hd, r.scale,
                      r.dq + t * r.q_dim + static_cast<int64_t>(h) * hd);
    }
  }
}

// Backward pass 2 for keys jb .. jb + nk - 1 (nk <= 4) of kv head g, dims [i0, i0 + kWidth):
// dk_j += scale sum dS_tj q_t and dv_j += sum p_tj dout_t over the group's heads and the
// queries t that see j. The four keys' rows stay in registers; per key the additions come
// in the order h, t. Starts never decrease, so the queries seeing the block end at the
// first t whose window starts past its last key.
template <int kWidth, typename T>
RPU_ALWAYS_INLINE void key_rows_gradient(const Rows<T>& r, int g, int64_t jb, int nk, int i0) {
  constexpr int kKeys = 4;
  T dk_acc[kKeys][kWidth] = {}, dv_acc[kKeys][kWidth] = {};
  const int64_t last_key = jb + nk - 1;
  for (int h = g * r.group; h < (g + 1) * r.group; ++h) {
    const T* ds_head = r.dscores + h * r.window_total;
    const T* p_head = r.probs + h * r.window_total;
    const int64_t column = static_cast<int64_t>(h) * r.head_dim + i0;
    for (int64_t t = jb; t < r.n && r.segment_start[t] <= last_key; ++t) {
      const int64_t first = r.segment_start[t];
      const int64_t at = r.window_offset[t] - first;  // + j: key j's entry in t's window
      T wk[kKeys], wv[kKeys];
      for (int c = 0; c < kKeys; ++c) {
        const int64_t j = jb + c;
        const bool seen = c < nk && j >= first && j <= t;
        wk[c] = seen ? ds_head[at + j] : T(0);
        wv[c] = seen ? p_head[at + j] : T(0);
      }
      const T* q_row = r.q + t * r.q_dim + column;
      const T* d_row = r.dout + t * r.q_dim + column;
      for (int c = 0; c < kKeys; ++c) {
        for (int l = 0; l < kWidth; ++l) {
          dk_acc[c][l] += wk[c] * q_row[l];
          dv_acc[c][l] += wv[c] * d_row[l];
        }
      }
    }
  }
  const int64_t column = static_cast<int64_t>(g) * r.head_dim + i0;
  for (int c = 0; c < nk; ++c) {
    const int64_t row = (jb + c) * r.kv_dim + column;
    if (r.dk != nullptr) {
      for (int l = 0; l < kWidth; ++l) r.dk[row + l] += dk_acc[c][l] * r.scale;
    }
    if (r.dv != nullptr) {
      for (int l = 0; l < kWidth; ++l) r.dv[row + l] += dv_acc[c][l];
    }
  }
}

// The float kernel of key_rows_gradient for kLanes dims, in vector types (plain arrays were
// vectorised across the four keys instead, in 4-wide pieces with spills).

RPU_ALWAYS_INLINE void key_rows_gradient_f32(const Rows<float>& r, int g, int64_t jb, int nk, int i0) {
  constexpr int kKeys = 4;
  FloatLanes dk_acc[kKeys] = {}, dv_acc[kKeys] = {};
  const int64_t last_key = jb + nk - 1;
  for (int h = g * r.group; h < (g + 1) * r.group; ++h) {
    const float* ds_head = r.dscores + h * r.window_total;
    const float* p_head = r.probs + h * r.window_total;
    const int64_t column = static_cast<int64_t>(h) * r.head_dim + i0;
    for (int64_t t = jb; t < r.n && r.segment_start[t] <= last_key; ++t) {
      const int64_t first = r.segment_start[t];
      const int64_t at = r.window_offset[t] - first;  // + j: key j's entry in t's window
      FloatLanes q_row, d_row;
      load_lanes(q_row, r.q + t * r.q_dim + column);
      load_lanes(d_row, r.dout + t * r.q_dim + column);
      for (int c = 0; c < kKeys; ++c) {
        const int64_t j = jb + c;
        if (c < nk && j >= first && j <= t) {
          dk_acc[c] += ds_head[at + j] * q_row;
          dv_acc[c] += p_head[at + j] * d_row;
        }
      }
    }
  }
  const int64_t column = static_cast<int64_t>(g) * r.head_dim + i0;
  for (int c = 0; c < nk; ++c) {
    const int64_t row = (jb + c) * r.kv_dim + column;
    if (r.dk != nullptr) {
      for (int l = 0; l < kLanes; ++l) r.dk[row + l] += dk_acc[c][l] * r.scale;
    }
    if (r.dv != nullptr) {
      for (int l = 0; l < kLanes; ++l) r.dv[row + l] += dv_acc[c][l];
    }
  }
}

template <typename T>
RPU_ALWAYS_INLINE void backward_keys(const Rows<T>& r, int g, int64_t j0, int64_t j1) {
  for (int64_t jb = j0; jb < j1; jb += 4) {
    const int nk = static_cast<int>(std::min<int64_t>(4, j1 - jb));
    int i0 = 0;
    for (; i0 + kLanes <= r.head_dim; i0 += kLanes) {
      if constexpr (std::is_same_v<T, float>) {
        key_rows_gradient_f32(r, g, jb, nk, i0);
      } else {
        key_rows_gradient<kLanes>(r, g, jb, nk, i0);
      }
    }
    for (; i0 < r.head_dim; ++i0) key_rows_gradient<1>(r, g, jb, nk, i0);
  }
}

// Runs the kernel for tasks [begin, end) of (kv head, block of kBlock tokens), head-major;
// the float version is compiled per instruction set.
enum class Kernel { kForward, kBackwardQueries, kBackwardKeys };

template <typename T>
RPU_ALWAYS_INLINE void run_range(const Rows<T>& r, Kernel kernel, int64_t begin, int64_t end) {
  thread_local TaskScratch<T> scratch;
  const int64_t blocks = (r.n + kBlock - 1) / kBlock;
  for (int64_t task = begin; task < end; ++task) {
    const int g = static_cast<int>(task / blocks);
    const int64_t t0 = (task % blocks) * kBlock, t1 = std::min(r.n, t0 + kBlock);
    if (kernel == Kernel::kForward) forward_block(r, g, t0, t1, scratch);
    if (kernel == Kernel::kBackwardQueries) backward_queries(r, g, t0, t1, scratch);
    if (kernel == Kernel::kBackwardKeys) backward_keys(r, g, t0, t1);
  }
}

// One clone set per kernel (profiles then tell them apart).
RPU_VECTOR_CLONES void run_forward_f32(const Rows<float>& r, int64_t begin, int64_t end) {
  run_range(r, Kernel::kForward, begin, end);
}
RPU_VECTOR_CLONES void run_backward_queries_f32(const Rows<float>& r, int64_t begin, int64_t end) {
  run_range(r, Kernel::kBackwardQueries, begin, end);
}
RPU_VECTOR_CLONES void run_backward_keys_f32(const Rows<float>& r, int64_t begin, int64_t end) {
  run_range(r, Kernel::kBackwardKeys, begin, end);
}

void run_range_f32(const Rows<float>& r, Kernel kernel, int64_t begin, int64_t end) {
  if (kernel == Kernel::kForward) run_forward_f32(r, begin, end);
  if (kernel == Kernel::kBackwardQueries) run_backward_queries_f32(r, begin, end);
  if (kernel == Kernel::kBackwardKeys) run_backward_keys_f32(r, begin, end);
}

template <typename T>
void run_tasks(ThreadPool* pool, const Rows<T>& r, Kernel kernel, int n_head_kv) {
  const int64_t n_tasks = n_head_kv * ((r.n + kBlock - 1) / kBlock);
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

template <typename T>
Rows<T> make_rows(const T* q, const T* k, const T* v, std::span<const int32_t> segment_start, AttentionShape shape,
                  const AttentionSaved<T>& saved) {
  Rows<T> r{};
  r.q = q;
  r.k = k;
  r.v = v;
  r.segment_start = segment_start.data();
  r.window_offset = saved.window_offset.data();
  r.probs = const_cast<T*>(saved.probs.data());  // written by the forward pass only
  r.n = static_cast<int64_t>(segment_start.size());
  r.window_total = saved.window_total;
  r.head_dim = shape.head_dim;
  r.q_dim = static_cast<int64_t>(shape.n_head) * shape.head_dim;
  r.kv_dim = static_cast<int64_t>(shape.n_head_kv) * shape.head_dim;
  r.group = shape.n_head / shape.n_head_kv;
  r.scale = static_cast<T>(shape.scale > 0 ? shape.scale : 1.0 / std::sqrt(static_cast<double>(shape.head_dim)));
  r.softcap = static_cast<T>(shape.softcap);
  return r;
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
  if (n == 0) return;
  Rows<T> rows = make_rows(q, k, v, segment_start, shape, saved);
  rows.out = out;
  run_tasks(pool, rows, Kernel::kForward, shape.n_head_kv);
}

template <typename T>
void attention_backward(const T* q, const T* k, const T* v, std::span<const int32_t> segment_start,
                        AttentionShape shape, const AttentionSaved<T>& saved, const T* dout, T* dq, T* dk, T* dv,
                        ThreadPool* pool) {
  const int64_t n = static_cast<int64_t>(segment_start.size());
  if (static_cast<int64_t>(saved.window_offset.size()) != n + 1) fail("attention backward: no matching forward pass");
  if (n == 0) return;
  // Scratch reused across calls (dS is [n_head, window_total] like probs: megabytes per layer).
  thread_local std::vector<T> dscores;
  dscores.resize(saved.probs.size());
  Rows<T> rows = make_rows(q, k, v, segment_start, shape, saved);
  rows.dout = dout;
  rows.dq = dq;
  rows.dk = dk;
  rows.dv = dv;
  rows.dscores = dscores.data();
  run_tasks(pool, rows, Kernel::kBackwardQueries, shape.n_head_kv);
  if (dk != nullptr || dv != nullptr) run_tasks(pool, rows, Kernel::kBackwardKeys, shape.n_head_kv);
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
