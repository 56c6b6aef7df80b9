// Non-owning views of weight tensors as they lie in a model file.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace rpu {

// A 2-D weight matrix W[rows, cols] stored row-major in `type` blocks: row r starts at
// data + r * row_bytes. In GGUF terms cols = ne[0] (contiguous) and rows = ne[1].
struct MatrixView {
  DType type = DType::F32;
  const uint8_t* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  uint64_t row_bytes = 0;

  const uint8_t* row(int64_t r) const { return data + static_cast<uint64_t>(r) * row_bytes; }
};

}  // namespace rpu
