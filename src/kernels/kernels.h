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
#include "core/large_buffer.h"
#include "core/tensor.h"

namespace rpu {

// Aligned bytes owned by a packed weight: in huge pages from 2 MiB up (core/large_buffer.h), so
// loading Qwen2.5-0.5B Q8_0 took 45,800 page faults instead of 153,900 (`rpu run -n 1`).
using AlignedBytes = LargeBuffer;
AlignedBytes allocate_aligned(size_t n_bytes);  // zero-filled

// A weight matrix prepared for a kernel set: the file's bytes plus, when the set repacks
// this type, its own copy in the set's layout.
struct WeightMatrix {
  MatrixView view;        // W[rows, cols] as stored in the GGUF file
  AlignedBytes packed;    // set-specific layout, or null to compute from `view`
  size_t packed_bytes = 0;  // the size of `packed` (for --mlock)
  int64_t row_granule = 1;  // row ranges handed to matmul must start at multiples of this
  // Rows of the set's widest multi-token tile (a multiple of row_granule), or 0 if it has none:
  // a range of whole tiles runs every row in the widest tile, while a range cut mid-tile runs
  // its ends in narrower, slower ones (avx512 int8: 3 x 16 rows; the results are the same).
  int64_t tile_rows = 0;
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

// One head's keys and values in a KV cache whose rows may be f32, f16 or Q8_0 (kv_rows.h).
// A row holds the values of one position that the cache stores together (kv_cache.h: one KV
// head's, or all kv_dim when heads share Q8_0 blocks); the head is elements [offset, offset +
// head_dim) of it (Q8_0: block i/32, value i%32). Rows are either one contiguous run (pages ==
// null: position p at k + p * k_row_bytes) or pages of page_size consecutive positions (kv_cache.h): position p
// is row p % page_size of page pages[p / page_size], whose first row is at
// k + pages[p / page_size] * k_page_bytes. Kernels walk positions page by page (key() and
// run_end()), so the inner loops always read consecutive rows of one page.
struct KvRows {
  const uint8_t* k = nullptr;
  const uint8_t* v = nullptr;
  DType k_type = DType::F32, v_type = DType::F32;
  int64_t k_row_bytes = 0, v_row_bytes = 0;
  int64_t offset = 0;
  const int32_t* pages = nullptr;
  int64_t page_size = 0;
  int64_t k_page_bytes = 0, v_page_bytes = 0;

  const uint8_t* key(int64_t p) const {
    if (pages == nullptr) return k + p * k_row_bytes;
    return k + pages[p / page_size] * k_page_bytes + (p % page_size) * k_row_bytes;
  }
  const uint8_t* value(int64_t p) const {
    if (pages == nullptr) return v + p * v_row_bytes;
    return v + pages[p / page_size] * v_page_bytes + (p % page_size) * v_row_bytes;
  }
  // The end of the run of contiguous rows that starts at position p, at most `end`.
  int64_t run_end(int64_t p, int64_t end) const {
    if (pages == nullptr) return end;
    const int64_t page_end = (p / page_size + 1) * page_size;
    return page_end < end ? page_end : end;
  }
};

// What one attention call computes, besides its rows: for a query at position t,
//   s_p = scale * q . k_p                      for p in [visible_from(t), t]
//   s_p = softcap * tanh(s_p / softcap)        when softcap > 0 (gemma2)
//   out = sum_p softmax(s)_p v_p
// where visible_from(t) = max(0, t - window + 1) for a sliding window (window > 0), else 0.
struct AttentionParams {
  int64_t head_dim = 0;
  float scale = 1.0f;
  float softcap = 0.0f;
  int64_t window = 0;

  int64_t visible_from(int64_t t) const { return window > 0 && t - window + 1 > 0 ? t - window + 1 : 0; }
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
  // One head of attention (AttentionParams) for the query q[head_dim] at position pos over the
  // rows [visible_from(pos), pos] of kv, of any KV type, read in place: out[head_dim].
  // scores: pos + 1 scratch floats.
  void (*attend)(const float* q, const KvRows& kv, int64_t pos, const AttentionParams& a, float* scores, float* out);
  // The same for n_q <= 16 consecutive queries (a prefill block) of n_heads query heads that
  // share kv (heads of one GQA group): query j of head h is q + j * q_stride + h * head_dim at
  // position first_pos + j, its output out + j * out_stride + h * head_dim. Each (head, query)
  // result must not depend on the other queries or heads in the call (batch invariance); a set
  // runs a group's heads together so each K/V row is read once for all of them. Null: callers
  // use attend per query.
  void (*attend_block)(const float* q, int64_t q_stride, int64_t n_q, int64_t n_heads, const KvRows& kv,
                       int64_t first_pos, const AttentionParams& a, float* out, int64_t out_stride);
  // attend for the n_q query heads of one GQA group (they share kv) at one position: query j is
  // q + j * q_stride, its output out + j * out_stride; scores: n_q * (pos + 1) scratch floats.
  // Each output must be bit for bit attend's for that query alone (so the grouping, which follows
  // the model's shape, never the batch, changes nothing); reading each K/V row once for the
  // group and running the queries' value sums side by side is what makes it cheaper. Null:
  // callers use attend per query.
  void (*attend_group)(const float* q, int64_t q_stride, int64_t n_q, const KvRows& kv, int64_t pos,
                       const AttentionParams& a, float* scores, float* out, int64_t out_stride);
  // SwiGLU's product for n values: out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + e^-g).
  // One exp per FFN value of every token, so scalar expf was ~10% of a small model's decode.
  // Null: callers use swiglu_ref.
  void (*swiglu)(const float* gate, const float* up, int64_t n, float* out);
  // The compute roofline of prefill: `rounds` of the set's int8 dot-product instruction on
  // independent register accumulators (no memory traffic, latency hidden), as fast as one
  // thread issues them; returns the 8-bit multiply-adds done. engine/bench.h times it on every
  // thread. Null: the set has no int8 instruction worth measuring.
  uint64_t (*int8_peak_loop)(int64_t rounds);
  // attend over the rows [first, end) only, one span of a long context (first at or after
  // visible_from of the query's position): out[head_dim] is those rows' values weighted by the
  // softmax of their scores taken over the span alone; returns log(sum_p e^{s_p}) over the span
  // (after the soft cap), which merge_attention_spans needs to join spans into attend's result.
  // Spans let a long decode context be split between threads and read once per GQA group.
  // scores: end - first scratch floats. Null: callers attend over the whole context.
  float (*attend_span)(const float* q, const KvRows& kv, int64_t first, int64_t end, const AttentionParams& a,
                       float* scores, float* out);
  // The read of the bandwidth probe (engine/bench.h): the sum mod 2^64 of n 64-bit words, with
  // the widest loads the set has, so the probe finds what the memory system gives rather than
  // what 8-byte loads reach (on the 2-vCPU Zen 4 host, 2 threads: 48-51 GB/s with a scalar
  // loop, 56-61 GB/s with 512-bit loads, and a decode step read its 30 MB output head at
  // 59-65 GB/s, more than the scalar probe's "roofline"). Null: callers use sum_words_ref.
  uint64_t (*sum_words)(const uint64_t* words, int64_t n);
  // attend_span for the n_q query heads of one GQA group (they share kv) over the same span:
  // query j is q + j * q_stride, its output out + j * out_stride and its log-sum-exp
  // lse[j * lse_stride] (lse may be null); scores: n_q * (end - first) scratch floats. Each
  // result must be bit for bit attend_span's for that query alone. The set walks the span a run of rows at a time, all the
  // queries over one run before the next, so a long context's K/V rows come from memory once
  // per group, not once per head with the stream stalled while the other heads re-read them
  // from L2. Null: callers run attend_span per query.
  void (*attend_span_group)(const float* q, int64_t q_stride, int64_t n_q, const KvRows& kv, int64_t first,
                            int64_t end, const AttentionParams& a, float* scores, float* out, int64_t out_stride,
                            float* lse, int64_t lse_stride);
};

// Joins n spans' results of one query (attend_span's out[i * out_stride ..] and log-sum-exp
// lse[i]) into the attention over all of them: out = sum_i w_i out_i with w_i = e^{lse_i} / sum_j
// e^{lse_j}, in span order.
void merge_attention_spans(const float* outs, int64_t out_stride, const float* lse, int64_t n, int64_t head_dim,
                           float* out);

const KernelSet& reference_kernels();
std::vector<const KernelSet*> available_kernels();  // those this CPU can run, reference first
const KernelSet& find_kernels(const std::string& name);  // throws naming the choices
// Chosen on first use: RPU_KERNELS if set, else the fastest available.
const KernelSet& active_kernels();

// Reference attention for one head (the oracle): each visible row's head slice converted to f32
// (kv_slice_to_f32), then the formula of AttentionParams in plain sequential f32 arithmetic.
void attend_ref(const float* q, const KvRows& kv, int64_t pos, const AttentionParams& a, float* scores, float* out);
// attend_span's oracle, in the same plain arithmetic.
float attend_span_ref(const float* q, const KvRows& kv, int64_t first, int64_t end, const AttentionParams& a,
                      float* scores, float* out);
// sum_words in plain 64-bit integer adds (the oracle, and the probe of sets without their own).
uint64_t sum_words_ref(const uint64_t* words, int64_t n);
// SwiGLU in plain f32 with std::exp (the oracle, and the path of sets without their own).
void swiglu_ref(const float* gate, const float* up, int64_t n, float* out);
// Rows of an f32 buffer as KvRows: position p at rows + p * stride floats, the head at offset.
KvRows f32_rows(const float* k, const float* v, int64_t stride, int64_t offset);

// Reference quantization of activations (also used by fast sets as their oracle).
void quantize_input_ref(const float* x, int64_t n_tokens, int64_t cols, QuantizedInput& out);

}  // namespace rpu
