// The AVX2 kernel set (needs AVX2, FMA and F16C; Haswell, Zen 1 and later): for x86-64
// CPUs without the AVX-512 set. Everything declared here is compiled with those
// instructions enabled and must only be called after kernels.cpp has checked the CPU.
// This header itself needs no AVX2 (declarations only).
#pragma once

#include "kernels/kernels.h"

namespace rpu::avx2 {

const KernelSet& kernel_set();

// Integer formats (Q8_0, Q4_0, Q5_0) repacked 8 rows at a time: one 32-bit lane of a ymm
// register per row, so one load holds 4 consecutive weights of each of the 8 rows and
// maddubs + madd against 4 broadcast activation bytes advances all 8 dot products (see
// int8_kernels.cpp for the byte layout).
constexpr int64_t kRowsPerGroup = 8;
bool packs_int8(DType type);
void pack_int8(const MatrixView& w, WeightMatrix& out);
void matmul_int8(const WeightMatrix& w, const QuantizedInput& xq, int64_t n_tokens, float* y, int64_t row_begin,
                 int64_t row_end);

// Q4_K, Q5_K and Q6_K in the same 8-row layout, scales per 32 / 16 columns (kquant_kernels.cpp).
bool packs_kquant(DType type);
void pack_kquant(const MatrixView& w, WeightMatrix& out);
void matmul_kquant(const WeightMatrix& w, const QuantizedInput& xq, int64_t n_tokens, float* y, int64_t row_begin,
                   int64_t row_end);

// Float formats read in place, and a dequantize-then-dot fallback for the rest.
void matmul_float(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, int64_t row_begin,
                  int64_t row_end);

// The kernel table's attend over KV rows of any cache type (attention.cpp).
void attend(const float* q, const KvRows& kv, int64_t pos, const AttentionParams& a, float* scores, float* out);
// The kernel table's attend_span: attend over the rows [first, end) only, returning their
// log-sum-exp; a long context's decode step is split into spans read once per GQA group.
float attend_span(const float* q, const KvRows& kv, int64_t first, int64_t end, const AttentionParams& a,
                  float* scores, float* out);
// The kernel table's attend_group and attend_span_group: a GQA group's queries over the same
// rows, each page run read once for all of them (attention.cpp).
void attend_group(const float* q, int64_t q_stride, int64_t n_q, const KvRows& kv, int64_t pos,
                  const AttentionParams& a, float* scores, float* out, int64_t out_stride);
void attend_span_group(const float* q, int64_t q_stride, int64_t n_q, const KvRows& kv, int64_t first, int64_t end,
                       const AttentionParams& a, float* scores, float* out, int64_t out_stride, float* lse,
                       int64_t lse_stride);
// The kernel table's attend_block: a prefill block's queries in vector lanes (attention_block.cpp).
void attend_block(const float* q, int64_t q_stride, int64_t n_q, int64_t n_heads, const KvRows& kv,
                  int64_t first_pos, const AttentionParams& a, float* out, int64_t out_stride);

// A weight row as f32: vectorised for Q4_K / Q6_K, the reference dequantizer otherwise.
void dequantize_row_fast(DType type, const uint8_t* src, float* dst, int64_t n);

// SwiGLU's product out = silu(gate) * up (activation.cpp); out may be gate.
void swiglu(const float* gate, const float* up, int64_t n, float* out);

void quantize_input(const float* x, int64_t n_tokens, int64_t cols, QuantizedInput& out);

}  // namespace rpu::avx2
