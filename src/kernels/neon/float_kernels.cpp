// Plain ASIMD kernels every AArch64 core runs, shared by the neon, dotprod and i8mm sets:
// activation quantization, matmul over float weights read in place (F32, F16 widened with
// FCVTL, BF16) and the dequantize-then-dot fallback for formats without an integer layout.
#include <arm_neon.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/quant.h"
#include "neon.h"

namespace rpu::neon {
namespace {

// 4 weights from column c as f32.
template <DType kType>
inline float32x4_t load4(const uint8_t* row, int64_t c) {
  if constexpr (kType == DType::F32) {
    return vld1q_f32(reinterpret_cast<const float*>(row) + c);
  } else if constexpr (kType == DType::F16) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(reinterpret_cast<const uint16_t*>(row) + c)));
  } else {  // BF16: the top half of an f32
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(reinterpret_cast<const uint16_t*>(row) + c), 16));
  }
}

template <DType kType>
inline float weight_at(const uint8_t* row, int64_t c) {
  float buffer[4] = {};
  constexpr size_t kSize = kType == DType::F32 ? 4 : 2;
  alignas(16) uint8_t raw[16] = {};
  std::memcpy(raw, row + c * kSize, kSize);
  vst1q_f32(buffer, load4<kType>(raw, 0));
  return buffer[0];
}

// One weight row against NT tokens, 8 columns per step in two accumulators per token.
template <DType kType, int NT>
void row_kernel(const uint8_t* row, int64_t cols, const float* x, int64_t t0, float* y, int64_t rows, int64_t r) {
  float32x4_t acc0[NT], acc1[NT];
  for (int t = 0; t < NT; ++t) acc0[t] = acc1[t] = vdupq_n_f32(0.0f);
  const float* xt[NT];
  for (int t = 0; t < NT; ++t) xt[t] = x + (t0 + t) * cols;
  int64_t c = 0;
  for (; c + 8 <= cols; c += 8) {
    const float32x4_t w0 = load4<kType>(row, c), w1 = load4<kType>(row, c + 4);
    for (int t = 0; t < NT; ++t) {
      acc0[t] = vfmaq_f32(acc0[t], w0, vld1q_f32(xt[t] + c));
      acc1[t] = vfmaq_f32(acc1[t], w1, vld1q_f32(xt[t] + c + 4));
    }
  }
  for (int t = 0; t < NT; ++t) {
    float sum = vaddvq_f32(vaddq_f32(acc0[t], acc1[t]));
    for (int64_t i = c; i < cols; ++i) sum += weight_at<kType>(row, i) * xt[t][i];
    y[(t0 + t) * rows + r] = sum;
  }
}

template <DType kType>
void matmul_rows(const uint8_t* data, uint64_t row_bytes, int64_t cols, const float* x, int64_t n_tokens, float* y,
                 int64_t rows, int64_t row_begin, int64_t row_end) {
  for (int64_t r = row_begin; r < row_end; ++r) {
    const uint8_t* row = data + static_cast<uint64_t>(r - row_begin) * row_bytes;
    int64_t t = 0;
    for (; t + 4 <= n_tokens; t += 4) row_kernel<kType, 4>(row, cols, x, t, y, rows, r);
    switch (n_tokens - t) {
      case 3: row_kernel<kType, 3>(row, cols, x, t, y, rows, r); break;
      case 2: row_kernel<kType, 2>(row, cols, x, t, y, rows, r); break;
      case 1: row_kernel<kType, 1>(row, cols, x, t, y, rows, r); break;
      default: break;
    }
  }
}

}  // namespace

void matmul_float(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, int64_t row_begin,
                  int64_t row_end) {
  const MatrixView& v = w.view;
  switch (v.type) {
    case DType::F32:
      return matmul_rows<DType::F32>(v.row(row_begin), v.row_bytes, v.cols, x, n_tokens, y, v.rows, row_begin, row_end);
    case DType::F16:
      return matmul_rows<DType::F16>(v.row(row_begin), v.row_bytes, v.cols, x, n_tokens, y, v.rows, row_begin, row_end);
    case DType::BF16:
      return matmul_rows<DType::BF16>(v.row(row_begin), v.row_bytes, v.cols, x, n_tokens, y, v.rows, row_begin, row_end);
    default: break;
  }
  thread_local std::vector<float> row;
  row.resize(static_cast<size_t>(v.cols));
  for (int64_t r = row_begin; r < row_end; ++r) {
    dequantize_row(v.type, v.row(r), row.data(), v.cols);
    matmul_rows<DType::F32>(reinterpret_cast<const uint8_t*>(row.data()), 0, v.cols, x, n_tokens, y, v.rows, r, r + 1);
  }
}

// Same contract and rounding as quantize_input_ref: d = amax / 127, q = round-half-even(x * (1/d))
// (FCVTNS rounds to nearest, ties to even, whatever FPCR says).
void quantize_input(const float* x, int64_t n_tokens, int64_t cols, QuantizedInput& out) {
  out.reshape(n_tokens, cols);
  const int64_t nb = cols / 32;
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t b = 0; b < nb; ++b) {
      const float* src = x + t * cols + b * 32;
      float32x4_t v[8];
      for (int i = 0; i < 8; ++i) v[i] = vld1q_f32(src + 4 * i);
      float32x4_t m = vabsq_f32(v[0]);
      for (int i = 1; i < 8; ++i) m = vmaxq_f32(m, vabsq_f32(v[i]));
      const float d = vmaxvq_f32(m) / 127.0f;
      const float32x4_t inv = vdupq_n_f32(d != 0.0f ? 1.0f / d : 0.0f);
      int32x4_t q[8];
      for (int i = 0; i < 8; ++i) q[i] = vcvtnq_s32_f32(vmulq_f32(v[i], inv));
      // |x * inv| <= 127 after rounding: the narrowing never saturates.
      int16x8_t h[4];
      for (int i = 0; i < 4; ++i) h[i] = vcombine_s16(vqmovn_s32(q[2 * i]), vqmovn_s32(q[2 * i + 1]));
      int8_t* dst = out.q.data() + t * cols + b * 32;
      vst1q_s8(dst, vcombine_s8(vqmovn_s16(h[0]), vqmovn_s16(h[1])));
      vst1q_s8(dst + 16, vcombine_s8(vqmovn_s16(h[2]), vqmovn_s16(h[3])));
      const int32_t s0 = vaddvq_s32(vaddq_s32(vaddq_s32(q[0], q[1]), vaddq_s32(q[2], q[3])));
      const int32_t s1 = vaddvq_s32(vaddq_s32(vaddq_s32(q[4], q[5]), vaddq_s32(q[6], q[7])));
      out.d[static_cast<size_t>(t * nb + b)] = d;
      out.sum[static_cast<size_t>(t * nb + b)] = s0 + s1;
      out.sum16[static_cast<size_t>((t * nb + b) * 2)] = s0;
      out.sum16[static_cast<size_t>((t * nb + b) * 2 + 1)] = s1;
    }
  }
}

}  // namespace rpu::neon
