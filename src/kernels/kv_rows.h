// Rows of a compact KV cache: the element types a cache may hold (f32, f16, Q8_0), their row
// sizes, the scalar conversion of a head's slice of a row back to f32, and the pieces every
// kernel set's attention shares (where a head starts in a row, whether a set's typed loads can
// read it in place, the soft cap, a run of rows converted to f32 for the cases they cannot).
// The attention kernels themselves are in the kernel table (kernels.h: attend, attend_block).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "kernels/blocks.h"

namespace rpu {

// F32, F16 or Q8_0.
bool is_kv_cache_type(DType type);
// "f32", "f16" or "q8_0" (the --cache-type spelling); throws rpu::Error naming the choices.
DType parse_kv_cache_type(const std::string& name);
std::string kv_cache_type_name(DType type);
// Bytes of a row of n values (Q8_0: n a multiple of 32, 34 bytes per 32 values).
int64_t kv_row_bytes(DType type, int64_t n);
// Elements [offset, offset + n) of a row of `type` as f32 (any offset; Q8_0 across blocks).
void kv_slice_to_f32(DType type, const uint8_t* row, int64_t offset, int64_t n, float* out);

// Whether a head of head_dim values at `offset` is whole 32-value units of its row: what the
// SIMD sets' typed loads need (they read f16/Q8_0 32 values at a time, Q8_0 block-aligned).
inline bool kv_head_in_whole_blocks(DType type, int64_t offset, int64_t head_dim) {
  return head_dim % kQK == 0 && (type != DType::Q8_0 || offset % kQK == 0);
}
// The head's first byte in a row: f32/f16 by element, Q8_0 by block (offset % 32 == 0).
inline const uint8_t* kv_head_start(DType type, const uint8_t* row, int64_t offset) {
  switch (type) {
    case DType::F32: return row + 4 * offset;
    case DType::F16: return row + 2 * offset;
    default: return row + offset / kQK * static_cast<int64_t>(sizeof(BlockQ8_0));
  }
}
// The head slices of n_rows consecutive rows (row_bytes apart) as f32 [n_rows][head_dim] in
// `buffer` (grown as needed); returns its data. For heads the typed loads cannot read.
const float* kv_rows_to_f32(DType type, const uint8_t* first_row, int64_t row_bytes, int64_t offset, int64_t n_rows,
                            int64_t head_dim, std::vector<float>& buffer);
// scores[i] = cap * tanh(scores[i] / cap) for i < n (gemma2's attention soft cap).
void soft_cap_scores(float* scores, int64_t n, float cap);

}  // namespace rpu
