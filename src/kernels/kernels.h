// The kernel dispatch table. Every variant (scalar reference, AVX-512, ...) fills one
// KernelSet; a model is prepared for one set at load (weights may be repacked into that
// set's layout) and the forward pass calls through it. The set is chosen once at start-up
// from the CPU's features; the environment variable RPU_KERNELS can force one by name.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"

namespace rpu {

// 64-byte aligned bytes owned by a packed weight.
struct AlignedFree {
  void operator()(uint8_t* p) const;
};
using AlignedBytes = std::unique_ptr<uint8_t[], AlignedFree>;
AlignedBytes allocate_aligned(size_t n_bytes);  // zero-filled

// A weight matrix prepared for a kernel set: the file's bytes plus, when the set repacks
// this type, its own copy in the set's layout.
struct WeightMatrix {
  MatrixView view;        // W[rows, cols] as stored in the GGUF file
  AlignedBytes packed;    // set-specific layout, or null to compute from `view`
  size_t packed_bytes = 0;  // the size of `packed` (for --mlock)
  int64_t row_granule = 1;  // row ranges handed to matmul must start at multiples of this
};

// Activations X[n_tokens, cols] quantized per 32 values for integer dot products:
// x ~= d[t, b] * q[t, 32b + i], with sum[t, b] = sum_i q[t, 32b + i] kept for the
// zero-point corrections of offset weight formats (sum16 per half-block for 16-wide ones).
struct QuantizedInput {
  int64_t n_tokens = 0;
  int64_t cols = 0;
  std::vector<int8_t> q;       // [n_tokens, cols], 64-byte aligned rows not required
  std::vector<float> d;        // [n_tokens, cols / 32]
  std::vector<int32_t> sum;    // [n_tokens, cols / 32]
  std::vector<int32_t> sum16;  // [n_tokens, cols / 16]

  // Sizes the buffers for X[tokens, columns] (kept across calls: no allocation once grown);
  // throws unless columns is a multiple of 32.
  void reshape(int64_t tokens, int64_t columns);
};

// One head's keys and values in a KV cache whose rows may be f32, f16 or Q8_0 (kv_rows.h):
// position p's key row starts at k + p * k_row_bytes and the head is elements
// [offset, offset + head_dim) of it (Q8_0: block i/32, value i%32); likewise for v.
struct KvRows {
  const uint8_t* k = nullptr;
  const uint8_t* v = nullptr;
  DType k_type = DType::F32, v_type = DType::F32;
  int64_t k_row_bytes = 0, v_row_bytes = 0;
  int64_t offset = 0;
};

struct KernelSet {
  const char* name;
  // Prepares w for this set; fills out.view and possibly out.packed / out.row_granule.
  void (*pack)(const MatrixView& w, WeightMatrix& out);
  // Whether matmul on w reads the quantized input (so callers quantize X once per input).
  bool (*wants_quantized_input)(const WeightMatrix& w);
  void (*quantize_input)(const float* x, int64_t n_tokens, int64_t cols, QuantizedInput& out);
  // Rows [row_begin, row_end) of Y = X W^T, for X[n_tokens, w.cols] and Y[n_tokens, w.rows]
  // (f32, row-major). xq holds X quantized when wants_quantized_input(w).
  void (*matmul)(const WeightMatrix& w, const float* x, const QuantizedInput& xq, int64_t n_tokens, float* y,
                 int64_t row_begin, int64_t row_end);
  // One head of attention over n_pos cached positions:
  //   out[head_dim] = softmax_p(scale * q . k_p) weighted sum of v_p,  p = 0 .. n_pos-1,
  // where k_p = k + p * stride and v_p = v + p * stride (floats). scores: n_pos scratch floats.
  void (*attend)(const float* q, const float* k, const float* v, int64_t stride, int64_t n_pos, int64_t head_dim,
                 float scale, float* scores, float* out);
  // The same for n_q <= 16 consecutive queries of one head (a prefill block): query j sits at
  // position first_pos + j and attends to positions 0 .. first_pos + j. Query j is
  // q + j * q_stride and its output out + j * out_stride. Null: callers use attend per query.
  void (*attend_block)(const float* q, int64_t q_stride, int64_t n_q, const float* k, const float* v, int64_t stride,
                       int64_t first_pos, int64_t head_dim, float scale, float* out, int64_t out_stride);
  // attend over typed cache rows (kv.k_type / kv.v_type each F32, F16 or Q8_0), read in place:
  // the compact cache's decode path, where reading the cache is most of the work.
  void (*attend_kv)(const float* q, const KvRows& kv, int64_t n_pos, int64_t head_dim, float scale, float* scores,
                    float* out);
};

const KernelSet& reference_kernels();
std::vector<const KernelSet*> available_kernels();  // those this CPU can run, reference first
const KernelSet& find_kernels(const std::string& name);  // throws naming the choices
// Chosen on first use: RPU_KERNELS if set, else the fastest available.
const KernelSet& active_kernels();

// Reference attention for one head (also the fallback of sets without their own).
void attend_ref(const float* q, const float* k, const float* v, int64_t stride, int64_t n_pos, int64_t head_dim,
                float scale, float* scores, float* out);

// Reference attention over typed rows: each row's head slice converted to f32, then the
// arithmetic of attend_ref.
void attend_kv_ref(const float* q, const KvRows& kv, int64_t n_pos, int64_t head_dim, float scale, float* scores,
                   float* out);
// attend_kv for sets whose attend has no typed loads for a case: the head's rows converted
// into per-thread f32 buffers, then `attend` (the set's own f32 kernel) over them.
using AttendFn = void (*)(const float*, const float*, const float*, int64_t, int64_t, int64_t, float, float*, float*);
void attend_kv_via_f32(AttendFn attend, const float* q, const KvRows& kv, int64_t n_pos, int64_t head_dim, float scale,
                       float* scores, float* out);

// Reference quantization of activations (also used by fast sets as their oracle).
void quantize_input_ref(const float* x, int64_t n_tokens, int64_t cols, QuantizedInput& out);

}  // namespace rpu
