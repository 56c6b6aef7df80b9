#include "kernels/kv_rows.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/fp16.h"
#include "kernels/blocks.h"
#include "kernels/kernels.h"

namespace rpu {

bool is_kv_cache_type(DType type) { return type == DType::F32 || type == DType::F16 || type == DType::Q8_0; }

DType parse_kv_cache_type(const std::string& name) {
  if (name == "f32") return DType::F32;
  if (name == "f16") return DType::F16;
  if (name == "q8_0") return DType::Q8_0;
  fail("unknown KV cache type '{}': expected f32, f16 or q8_0", name);
}

std::string kv_cache_type_name(DType type) {
  switch (type) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::Q8_0: return "q8_0";
    default: fail("not a KV cache type: {}", static_cast<uint32_t>(type));
  }
}

int64_t kv_row_bytes(DType type, int64_t n) {
  switch (type) {
    case DType::F32: return 4 * n;
    case DType::F16: return 2 * n;
    case DType::Q8_0:
      if (n % kQK != 0) fail("a Q8_0 KV row needs a multiple of {} values, got {}", kQK, n);
      return n / kQK * static_cast<int64_t>(sizeof(BlockQ8_0));
    default: fail("not a KV cache type: {}", static_cast<uint32_t>(type));
  }
}

void kv_slice_to_f32(DType type, const uint8_t* row, int64_t offset, int64_t n, float* out) {
  switch (type) {
    case DType::F32:
      std::memcpy(out, row + 4 * offset, static_cast<size_t>(n) * 4);
      return;
    case DType::F16: {
      const auto* h = reinterpret_cast<const uint16_t*>(row) + offset;
      for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(h[i]);
      return;
    }
    case DType::Q8_0: {
      // Block by block: one scale conversion per 32 values (prefill converts whole heads).
      const auto* blocks = reinterpret_cast<const BlockQ8_0*>(row);
      for (int64_t i = 0; i < n;) {
        const int64_t e = offset + i;  // element index in the row
        const BlockQ8_0& b = blocks[e / kQK];
        const float d = f16_to_f32(b.d);
        const int64_t in_block = std::min<int64_t>(n - i, kQK - e % kQK);
        const int8_t* qs = b.qs + e % kQK;
        for (int64_t j = 0; j < in_block; ++j) out[i + j] = d * static_cast<float>(qs[j]);
        i += in_block;
      }
      return;
    }
    default: fail("not a KV cache type: {}", static_cast<uint32_t>(type));
  }
}

const float* kv_rows_to_f32(DType type, const uint8_t* first_row, int64_t row_bytes, int64_t offset, int64_t n_rows,
                            int64_t head_dim, std::vector<float>& buffer) {
  const size_t n = static_cast<size_t>(n_rows * head_dim);
  if (buffer.size() < n) buffer.resize(n);
  for (int64_t p = 0; p < n_rows; ++p) {
    kv_slice_to_f32(type, first_row + p * row_bytes, offset, head_dim, buffer.data() + p * head_dim);
  }
  return buffer.data();
}

void soft_cap_scores(float* scores, int64_t n, float cap) {
  for (int64_t i = 0; i < n; ++i) scores[i] = cap * std::tanh(scores[i] / cap);
}

KvRows f32_rows(const float* k, const float* v, int64_t stride, int64_t offset) {
  KvRows rows;
  rows.k = reinterpret_cast<const uint8_t*>(k);
  rows.v = reinterpret_cast<const uint8_t*>(v);
  rows.k_row_bytes = rows.v_row_bytes = stride * static_cast<int64_t>(sizeof(float));
  rows.offset = offset;
  return rows;
}

}  // namespace rpu
