// Converting a model file's tensors to other element types: the loop behind `rpu quantize`,
// and the parallel row converter it shares with `rpu synth`.
//
// Each converted tensor streams through GgufWriter in bounded chunks of rows: a chunk's rows
// are produced as f32 (dequantized from the mapped input, or generated) and quantized to the
// target type by every thread of the pool, then written. Memory stays at one chunk (about
// 64 MiB) on top of the mapped input, whatever the model size.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "model/quant_plan.h"

namespace rpu {

// Progress of a conversion, reported after every chunk (from the calling thread).
struct ConvertProgress {
  size_t tensor = 0;        // index of the tensor being written, 0-based
  size_t n_tensors = 0;
  uint64_t bytes_done = 0;  // output tensor bytes written so far
  uint64_t bytes_total = 0;
};
using ProgressFn = std::function<void(const ConvertProgress&)>;

// Quantizes rows [first_row, first_row + n_rows) of a [rows, cols] tensor to `type` into dst
// (row-major, dtype_row_bytes(type, cols) per row). `source(row, out)` fills out[cols] with
// row `row` as f32; it is called concurrently from every thread of `pool` (null: this thread).
void convert_rows(ThreadPool* pool, DType type, uint64_t cols, uint64_t first_row, uint64_t n_rows, uint8_t* dst,
                  const std::function<void(uint64_t row, float* out)>& source);

struct RequantizeResult {
  size_t n_tensors = 0;
  size_t n_converted = 0;   // tensors whose type changed
  size_t n_fallback = 0;    // tensors that could not take the scheme's type for their shape
  uint64_t bytes_in = 0;    // tensor data, input
  uint64_t bytes_out = 0;   // tensor data, output
  double seconds = 0;
};

// Reads in_path, converts its tensors as plan_tensor_types decides for `scheme`, sets
// general.file_type (and general.quantization_version for quantized files) and writes
// out_path. Throws rpu::Error with one line for an unreadable input, a tensor type rpu cannot
// convert, or an output that cannot be written.
RequantizeResult requantize(const std::string& in_path, const std::string& out_path, const QuantScheme& scheme,
                            ThreadPool* pool, const ProgressFn& progress = nullptr);

}  // namespace rpu
