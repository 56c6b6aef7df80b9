// Conversion of rows between float and the GGUF tensor element types (plain floats, integers
// and ggml's block-quantized formats). These are the scalar reference implementations; the
// block layouts themselves are described in kernels/blocks.h.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace rpu {

bool can_dequantize(DType type);
bool can_quantize(DType type);
// n must be a multiple of the type's block size; throws rpu::Error otherwise or if unsupported.
void dequantize_row(DType type, const void* src, float* dst, int64_t n);
void quantize_row(DType type, const float* src, void* dst, int64_t n);

}  // namespace rpu
