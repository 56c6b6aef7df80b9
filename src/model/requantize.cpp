#include "model/requantize.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "core/error.h"
#include "io/gguf.h"
#include "kernels/quant.h"

namespace rpu {
namespace {

// GGML_QNT_VERSION: the layout version of the quantized block formats llama.cpp writes.
constexpr uint32_t kQuantizationVersion = 2;

int block_count(const GgufFile& file) {
  const std::string arch = file.get_string("general.architecture");
  if (!arch.empty()) {
    if (const GgufValue* v = file.find(arch + ".block_count")) return static_cast<int>(v->as_int("block_count"));
  }
  int n = 0;  // no metadata: one more than the highest "blk.N." seen
  for (const auto& t : file.tensors()) {
    int layer = -1;
    if (std::sscanf(t.name.c_str(), "blk.%d.", &layer) == 1 && layer + 1 > n) n = layer + 1;
  }
  return n;
}

// The output file's directory must exist; fopen's "No such file or directory" would not say
// which part of the path is missing.
void check_output_path(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent)) {
    fail("cannot write '{}': directory '{}' does not exist", path, parent.string());
  }
}

}  // namespace

void convert_rows(ThreadPool* pool, DType type, uint64_t cols, uint64_t first_row, uint64_t n_rows, uint8_t* dst,
                  const std::function<void(uint64_t row, float* out)>& source) {
  const uint64_t row_bytes = dtype_row_bytes(type, cols);
  // Batches of about 64K values: small enough that the pool can share them out evenly (and
  // around a thread another process is holding up), large enough to amortise dispatch.
  const uint64_t batch = std::max<uint64_t>(1, 65536 / cols);
  const auto n_batches = static_cast<int64_t>((n_rows + batch - 1) / batch);
  auto work = [&](int64_t b0, int64_t b1) {
    std::vector<float> row(cols);
    const uint64_t end = std::min(n_rows, static_cast<uint64_t>(b1) * batch);
    for (uint64_t r = static_cast<uint64_t>(b0) * batch; r < end; ++r) {
      source(first_row + r, row.data());
      quantize_row(type, row.data(), dst + r * row_bytes, static_cast<int64_t>(cols));
    }
  };
  if (pool == nullptr || pool->size() == 1 || n_batches <= 1) {
    work(0, n_batches);
  } else {
    pool->parallel_for(n_batches, work);
  }
}

RequantizeResult requantize(const std::string& in_path, const std::string& out_path, const QuantScheme& scheme,
                            ThreadPool* pool, const ProgressFn& progress) {
  const auto start = std::chrono::steady_clock::now();
  check_output_path(out_path);
  const GgufFile in = GgufFile::open(in_path);

  std::vector<TensorDesc> descs;
  for (const auto& t : in.tensors()) descs.push_back({t.name, t.shape, t.type});
  const std::vector<TensorPlan> plan = plan_tensor_types(scheme, descs, block_count(in));

  RequantizeResult result;
  result.n_tensors = descs.size();
  GgufWriter out;
  for (const auto& [key, value] : in.metadata()) out.set(key, value);
  out.set("general.file_type", GgufValue::u32(scheme.file_type));
  bool any_quantized = false;
  for (const auto& p : plan) any_quantized = any_quantized || dtype_info(p.type).block_size > 1;
  if (any_quantized) out.set("general.quantization_version", GgufValue::u32(kQuantizationVersion));

  // Shared by every producer: which tensor is being written and how far along the output is.
  struct State {
    ConvertProgress progress;
    ProgressFn report;
  };
  auto state = std::make_shared<State>();
  state->report = progress;
  state->progress.n_tensors = descs.size();

  for (size_t i = 0; i < descs.size(); ++i) {
    const GgufTensorInfo& t = in.tensors()[i];
    const DType to = plan[i].type;
    const uint64_t cols = t.shape[0];
    const uint64_t out_bytes = t.rows() * dtype_row_bytes(to, cols);
    result.bytes_in += t.n_bytes;
    result.bytes_out += out_bytes;
    state->progress.bytes_total += out_bytes;
    if (plan[i].fallback) ++result.n_fallback;
    if (to != t.type) {
      ++result.n_converted;
      if (!can_dequantize(t.type)) fail("{}: tensor '{}' has type {}, which rpu cannot read", in_path, t.name, dtype_name(t.type));
      if (!can_quantize(to)) fail("tensor '{}': rpu cannot write type {}", t.name, dtype_name(to));
    }
    const uint64_t in_row_bytes = dtype_row_bytes(t.type, cols);
    const DType from = t.type;
    const uint8_t* data = t.data;
    out.add_produced_tensor(t.name, to, t.shape, [=](uint64_t first_row, uint64_t n_rows, uint8_t* dst) {
      state->progress.tensor = i;
      if (from == to) {
        std::memcpy(dst, data + first_row * in_row_bytes, n_rows * in_row_bytes);
      } else {
        convert_rows(pool, to, cols, first_row, n_rows, dst, [&](uint64_t row, float* values) {
          dequantize_row(from, data + row * in_row_bytes, values, static_cast<int64_t>(cols));
        });
      }
      state->progress.bytes_done += n_rows * dtype_row_bytes(to, cols);
      if (state->report) state->report(state->progress);
    });
  }
  out.write(out_path);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace rpu
