// Rows of a compact KV cache: the element types a cache may hold (f32, f16, Q8_0), their row
// sizes, and the scalar conversion of a head's slice of a row back to f32. The attention
// kernels over such rows are in the kernel table (kernels.h, attend_kv).
#pragma once

#include <cstdint>
#include <string>

#include "core/dtype.h"

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

}  // namespace rpu
