// The AVX-512 kernel set (needs AVX512F/BW/VL/DQ, VNNI and F16C; Zen 4, Ice Lake and later).
// Everything declared here is compiled with those instructions enabled and must only be
// called after kernels.cpp has checked the CPU.
#pragma once

#include "kernels/kernels.h"

namespace rpu::avx512 {

const KernelSet& kernel_set();

// Integer formats (Q8_0, Q4_0, Q5_0) repacked 16 rows at a time: one 32-bit lane per row,
// so a single VNNI instruction advances 16 rows by 4 columns (see int8_layout.cpp).
constexpr int64_t kRowsPerGroup = 16;
bool packs_int8(DType type);
void pack_int8(const MatrixView& w, WeightMatrix& out);
void matmul_int8(const WeightMatrix& w, const QuantizedInput& xq, int64_t n_tokens, float* y, int64_t row_begin,
                 int64_t row_end);

// Steps of more than kKQuantPromptTokens tokens (prompts) through Q4_K / Q5_K / Q6_K matrices:
// panels of 3 (Q6_K: 2) groups unpacked once, then register tiles of groups x 4 tokens
// (kquant_prompt.cpp); kquant_panel_rows(type) is a panel's rows, for WeightMatrix::tile_rows.
constexpr int64_t kKQuantPromptTokens = 16;
int64_t kquant_panel_rows(DType type);
void matmul_kquant_prompt(const WeightMatrix& w, const QuantizedInput& xq, int64_t n_tokens, float* y,
                          int64_t row_begin, int64_t row_end);

// Float formats read in place, and a dequantize-then-dot fallback for the rest.
void matmul_float(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, int64_t row_begin,
                  int64_t row_end);

// The kernel table's attend and attend_block over KV rows of any cache type (attention.cpp).
void attend(const float* q, const KvRows& kv, int64_t pos, const AttentionParams& a, float* scores, float* out);
float attend_span(const float* q, const KvRows& kv, int64_t first, int64_t end, const AttentionParams& a,
                  float* scores, float* out);
void attend_block(const float* q, int64_t q_stride, int64_t n_q, int64_t n_heads, const KvRows& kv,
                  int64_t first_pos, const AttentionParams& a, float* out, int64_t out_stride);

void attend_group(const float* q, int64_t q_stride, int64_t n_q, const KvRows& kv, int64_t pos,
                  const AttentionParams& a, float* scores, float* out, int64_t out_stride);

// The kernel table's SwiGLU product (activation.cpp).
void swiglu(const float* gate, const float* up, int64_t n, float* out);

// A weight row as f32: vectorised for Q4_K / Q6_K, the reference dequantizer otherwise.
void dequantize_row_fast(DType type, const uint8_t* src, float* dst, int64_t n);

void quantize_input(const float* x, int64_t n_tokens, int64_t cols, QuantizedInput& out);

}  // namespace rpu::avx512
