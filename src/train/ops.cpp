// Element-wise and per-row ops: embedding, RMSNorm, RoPE, SwiGLU (see ops.h).
#include "train/ops.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/error.h"
#include "train/vector_math.h"

namespace rpu::train {

template <typename T>
void embedding_forward(std::span<const int32_t> tokens, const T* table, int n_vocab, int dim, T* out) {
  for (size_t t = 0; t < tokens.size(); ++t) {
    const int32_t token = tokens[t];
    if (token < 0 || token >= n_vocab) fail("token id {} is outside the vocabulary (0..{})", token, n_vocab - 1);
    const T* row = table + static_cast<int64_t>(token) * dim;
    std::copy(row, row + dim, out + static_cast<int64_t>(t) * dim);
  }
}

template <typename T>
void embedding_backward(std::span<const int32_t> tokens, const T* dout, int dim, T* dtable) {
  for (size_t t = 0; t < tokens.size(); ++t) {
    T* row = dtable + static_cast<int64_t>(tokens[t]) * dim;
    const T* d = dout + static_cast<int64_t>(t) * dim;
    for (int i = 0; i < dim; ++i) row[i] += d[i];
  }
}

namespace {

// sum_i a_i b_i (c_i) in double over 8 interleaved partial sums: a single running double sum
// is one add's latency per value, which made RMSNorm a few % of a training step.
template <typename T>
RPU_ALWAYS_INLINE double sum_products(const T* a, const T* b, const T* c, int n) {
  double partial[8] = {};
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) {
      const double ab = static_cast<double>(a[i + l]) * b[i + l];
      partial[l] += c != nullptr ? ab * c[i + l] : ab;
    }
  }
  double sum = 0.0;
  for (; i < n; ++i) sum += c != nullptr ? static_cast<double>(a[i]) * b[i] * c[i] : static_cast<double>(a[i]) * b[i];
  for (double x : partial) sum += x;
  return sum;
}

template <typename T>
RPU_ALWAYS_INLINE void rmsnorm_forward_rows(const T* x, const T* weight, int64_t rows, int dim, double eps, T* y,
                                            T* inv_rms) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * dim;
    T* yr = y + r * dim;
    const double sum_sq = sum_products<T>(xr, xr, nullptr, dim);
    const T scale = static_cast<T>(1.0 / std::sqrt(sum_sq / dim + eps));
    inv_rms[r] = scale;
    for (int i = 0; i < dim; ++i) yr[i] = xr[i] * scale * weight[i];
  }
}

// y_i = x_i s w_i with s = (mean(x^2) + eps)^(-1/2), ds/dx_j = -s^3 x_j / dim, so
// dx_j = s w_j dy_j - x_j s^3 / dim * sum_i dy_i w_i x_i.
template <typename T>
RPU_ALWAYS_INLINE void rmsnorm_backward_rows(const T* x, const T* weight, const T* inv_rms, const T* dy, int64_t rows,
                                             int dim, T* dx, T* dweight) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * dim;
    const T* dyr = dy + r * dim;
    const T s = inv_rms[r];
    if (dweight != nullptr) {
      for (int i = 0; i < dim; ++i) dweight[i] += dyr[i] * xr[i] * s;
    }
    if (dx == nullptr) continue;
    const double dot = sum_products<T>(dyr, weight, xr, dim);
    const T coef = static_cast<T>(dot * s * s * s / dim);
    T* dxr = dx + r * dim;
    for (int i = 0; i < dim; ++i) dxr[i] += s * weight[i] * dyr[i] - xr[i] * coef;
  }
}

RPU_VECTOR_CLONES void rmsnorm_forward_f32(const float* x, const float* weight, int64_t rows, int dim, double eps,
                                           float* y, float* inv_rms) {
  rmsnorm_forward_rows(x, weight, rows, dim, eps, y, inv_rms);
}

RPU_VECTOR_CLONES void rmsnorm_backward_f32(const float* x, const float* weight, const float* inv_rms,
                                            const float* dy, int64_t rows, int dim, float* dx, float* dweight) {
  rmsnorm_backward_rows(x, weight, inv_rms, dy, rows, dim, dx, dweight);
}

}  // namespace

template <typename T>
void rmsnorm_forward(const T* x, const T* weight, int64_t rows, int dim, double eps, T* y, T* inv_rms) {
  if constexpr (std::is_same_v<T, float>) {
    rmsnorm_forward_f32(x, weight, rows, dim, eps, y, inv_rms);
  } else {
    rmsnorm_forward_rows(x, weight, rows, dim, eps, y, inv_rms);
  }
}

template <typename T>
void rmsnorm_backward(const T* x, const T* weight, const T* inv_rms, const T* dy, int64_t rows, int dim, T* dx,
                      T* dweight) {
  if constexpr (std::is_same_v<T, float>) {
    rmsnorm_backward_f32(x, weight, inv_rms, dy, rows, dim, dx, dweight);
  } else {
    rmsnorm_backward_rows(x, weight, inv_rms, dy, rows, dim, dx, dweight);
  }
}

Rope Rope::from_config(const ModelConfig& config, std::span<const float> freq_factors) {
  Rope rope;
  rope.style = config.arch->rope_style;
  rope.head_dim = config.head_dim;
  rope.rope_dim = config.rope_dim;
  rope.position_scale = config.rope_position_scale;
  rope.mscale = config.rope_attn_factor;
  const int half = config.rope_dim / 2;
  if (!freq_factors.empty() && static_cast<int>(freq_factors.size()) != half) {
    fail("rope frequency factors hold {} values, rope needs {}", freq_factors.size(), half);
  }
  for (int i = 0; i < half; ++i) {
    double f = std::pow(static_cast<double>(config.rope_theta), -2.0 * i / config.rope_dim);
    if (!freq_factors.empty()) f /= freq_factors[static_cast<size_t>(i)];
    rope.inv_freq.push_back(f);
  }
  rope.table_positions = std::clamp(config.n_ctx_train, 0, 4096);
  rope.cos_sin.resize(static_cast<size_t>(rope.table_positions) * half * 2);
  for (int position = 0; position < rope.table_positions; ++position) {
    for (int i = 0; i < half; ++i) {
      const double angle = position * rope.position_scale * rope.inv_freq[static_cast<size_t>(i)];
      const size_t at = (static_cast<size_t>(position) * half + i) * 2;
      rope.cos_sin[at] = rope.mscale * std::cos(angle);
      rope.cos_sin[at + 1] = rope.mscale * std::sin(angle);
    }
  }
  return rope;
}

namespace {

// Rotates every head of one token's row by the angles of `position`; `direction` -1 applies
// the inverse rotation. out may alias in.
template <typename T>
void rotate_row(const Rope& rope, int32_t position, int n_heads, int direction, const T* in, T* out, bool accumulate) {
  const int half = rope.rope_dim / 2;
  const bool tabled = position >= 0 && position < rope.table_positions;
  for (int i = 0; i < half; ++i) {
    double cos_m, sin_m;  // mscale cos, mscale sin
    if (tabled) {
      const size_t at = (static_cast<size_t>(position) * half + i) * 2;
      cos_m = rope.cos_sin[at];
      sin_m = rope.cos_sin[at + 1];
    } else {
      const double angle = position * rope.position_scale * rope.inv_freq[static_cast<size_t>(i)];
      cos_m = rope.mscale * std::cos(angle);
      sin_m = rope.mscale * std::sin(angle);
    }
    // mscale R is transposed to mscale R^T: both directions scale alike.
    const T cos_a = static_cast<T>(cos_m);
    const T sin_a = static_cast<T>(direction * sin_m);
    const int a = rope.style == RopeStyle::kAdjacent ? 2 * i : i;
    const int b = rope.style == RopeStyle::kAdjacent ? 2 * i + 1 : i + half;
    for (int h = 0; h < n_heads; ++h) {
      const int64_t base = static_cast<int64_t>(h) * rope.head_dim;
      const T x0 = in[base + a], x1 = in[base + b];
      const T y0 = x0 * cos_a - x1 * sin_a, y1 = x0 * sin_a + x1 * cos_a;
      if (accumulate) {
        out[base + a] += y0;
        out[base + b] += y1;
      } else {
        out[base + a] = y0;
        out[base + b] = y1;
      }
    }
  }
}

}  // namespace

template <typename T>
void rope_forward(const Rope& rope, const int32_t* positions, int64_t n, int n_heads, T* x) {
  const int64_t stride = static_cast<int64_t>(n_heads) * rope.head_dim;
  for (int64_t t = 0; t < n; ++t) rotate_row(rope, positions[t], n_heads, +1, x + t * stride, x + t * stride, false);
}

template <typename T>
void rope_backward(const Rope& rope, const int32_t* positions, int64_t n, int n_heads, const T* dy, T* dx) {
  const int64_t stride = static_cast<int64_t>(n_heads) * rope.head_dim;
  const int half = rope.rope_dim / 2;
  for (int64_t t = 0; t < n; ++t) {
    const T* d = dy + t * stride;
    T* out = dx + t * stride;
    // Dims past rope_dim pass through unrotated.
    for (int h = 0; h < n_heads; ++h) {
      for (int i = rope.rope_dim; i < rope.head_dim; ++i) out[h * rope.head_dim + i] += d[h * rope.head_dim + i];
    }
    if (half > 0) rotate_row(rope, positions[t], n_heads, -1, d, out, true);
  }
}

namespace {

template <typename T>
RPU_ALWAYS_INLINE void swiglu_forward_loop(const T* gate, const T* up, int64_t count, T* out) {
  for (int64_t i = 0; i < count; ++i) {
    const T g = gate[i];
    out[i] = g / (T(1) + exp_of(-g)) * up[i];
  }
}

// silu(g) = g s with s = sigmoid(g); silu'(g) = s (1 + g (1 - s)).
template <typename T>
RPU_ALWAYS_INLINE void swiglu_backward_loop(const T* gate, const T* up, const T* dout, int64_t count, T* dgate,
                                            T* dup) {
  for (int64_t i = 0; i < count; ++i) {
    const T g = gate[i];
    const T s = T(1) / (T(1) + exp_of(-g));
    if (dgate != nullptr) dgate[i] += dout[i] * up[i] * s * (T(1) + g * (T(1) - s));
    if (dup != nullptr) dup[i] += dout[i] * g * s;
  }
}

// The float loops compiled per instruction set (gemm.h), so exp_of vectorises.
RPU_VECTOR_CLONES void swiglu_forward_f32(const float* gate, const float* up, int64_t count, float* out) {
  swiglu_forward_loop(gate, up, count, out);
}
RPU_VECTOR_CLONES void swiglu_backward_f32(const float* gate, const float* up, const float* dout, int64_t count,
                                           float* dgate, float* dup) {
  swiglu_backward_loop(gate, up, dout, count, dgate, dup);
}

}  // namespace

template <typename T>
void swiglu_forward(const T* gate, const T* up, int64_t count, T* out) {
  if constexpr (std::is_same_v<T, float>) {
    swiglu_forward_f32(gate, up, count, out);
  } else {
    swiglu_forward_loop(gate, up, count, out);
  }
}

template <typename T>
void swiglu_backward(const T* gate, const T* up, const T* dout, int64_t count, T* dgate, T* dup) {
  if constexpr (std::is_same_v<T, float>) {
    swiglu_backward_f32(gate, up, dout, count, dgate, dup);
  } else {
    swiglu_backward_loop(gate, up, dout, count, dgate, dup);
  }
}

namespace {

// GELU, tanh form, and its derivative: u = c (g + 0.044715 g^3), gelu = g (1 + tanh u) / 2,
// gelu' = (1 + tanh u) / 2 + g (1 - tanh^2 u) c (1 + 3 0.044715 g^2) / 2.
constexpr double kGeluC = 0.7978845608028654;  // sqrt(2 / pi)

template <typename T>
T gelu_tanh(T g) {
  return T(0.5) * g * (T(1) + std::tanh(T(kGeluC) * (g + T(0.044715) * g * g * g)));
}

template <typename T>
T gelu_tanh_grad(T g) {
  const T th = std::tanh(T(kGeluC) * (g + T(0.044715) * g * g * g));
  return T(0.5) * (T(1) + th) + T(0.5) * g * (T(1) - th * th) * T(kGeluC) * (T(1) + T(3 * 0.044715) * g * g);
}

}  // namespace

template <typename T>
void geglu_forward(const T* gate, const T* up, int64_t count, T* out) {
  for (int64_t i = 0; i < count; ++i) out[i] = gelu_tanh(gate[i]) * up[i];
}

template <typename T>
void geglu_backward(const T* gate, const T* up, const T* dout, int64_t count, T* dgate, T* dup) {
  for (int64_t i = 0; i < count; ++i) {
    if (dgate != nullptr) dgate[i] += dout[i] * up[i] * gelu_tanh_grad(gate[i]);
    if (dup != nullptr) dup[i] += dout[i] * gelu_tanh(gate[i]);
  }
}

template <typename T>
void softcap_forward(T* x, int64_t count, double cap) {
  for (int64_t i = 0; i < count; ++i) x[i] = static_cast<T>(cap * std::tanh(x[i] / cap));
}

template <typename T>
void softcap_backward(const T* y, const T* dy, int64_t count, double cap, T* dx) {
  for (int64_t i = 0; i < count; ++i) {
    const double th = y[i] / cap;  // tanh(x / cap)
    dx[i] += static_cast<T>(dy[i] * (1 - th * th));
  }
}

#define RPU_INSTANTIATE(T)                                                                                   \
  template void geglu_forward<T>(const T*, const T*, int64_t, T*);                                          \
  template void geglu_backward<T>(const T*, const T*, const T*, int64_t, T*, T*);                           \
  template void softcap_forward<T>(T*, int64_t, double);                                                    \
  template void softcap_backward<T>(const T*, const T*, int64_t, double, T*);                               \
  template void embedding_forward<T>(std::span<const int32_t>, const T*, int, int, T*);                     \
  template void embedding_backward<T>(std::span<const int32_t>, const T*, int, T*);                         \
  template void rmsnorm_forward<T>(const T*, const T*, int64_t, int, double, T*, T*);                       \
  template void rmsnorm_backward<T>(const T*, const T*, const T*, const T*, int64_t, int, T*, T*);          \
  template void rope_forward<T>(const Rope&, const int32_t*, int64_t, int, T*);                             \
  template void rope_backward<T>(const Rope&, const int32_t*, int64_t, int, const T*, T*);                  \
  template void swiglu_forward<T>(const T*, const T*, int64_t, T*);                                         \
  template void swiglu_backward<T>(const T*, const T*, const T*, int64_t, T*, T*);
RPU_INSTANTIATE(float)
RPU_INSTANTIATE(double)
#undef RPU_INSTANTIATE

}  // namespace rpu::train
