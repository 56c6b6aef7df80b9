#include "model/kv_cache.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "kernels/kv_rows.h"
#include "kernels/quant.h"

namespace rpu {
namespace {

int64_t row_bytes_of(DType type, int64_t kv_dim, const char* what) {
  if (!is_kv_cache_type(type)) {
    fail("the KV cache's {} cannot be stored as type {}: expected f32, f16 or q8_0", what, static_cast<uint32_t>(type));
  }
  if (type == DType::Q8_0 && kv_dim % 32 != 0) {
    fail("a q8_0 KV cache needs rows of a multiple of 32 values; this model's {} rows have {} (use f16 or f32)", what,
         kv_dim);
  }
  return kv_row_bytes(type, kv_dim);
}

}  // namespace

KVCache::KVCache(const ModelConfig& config, int n_ctx, int n_seq, KVCacheTypes types)
    : n_ctx_(n_ctx),
      n_seq_(n_seq),
      n_layer_(config.n_layer),
      kv_dim_(config.kv_dim()),
      types_(types),
      k_row_bytes_(row_bytes_of(types.k, config.kv_dim(), "keys")),
      v_row_bytes_(row_bytes_of(types.v, config.kv_dim(), "values")) {
  if (n_ctx < 1) fail("context size must be at least 1, got {}", n_ctx);
  if (n_seq < 1) fail("the number of sequences must be at least 1, got {}", n_seq);
  const size_t rows = static_cast<size_t>(n_seq) * static_cast<size_t>(n_layer_) * static_cast<size_t>(n_ctx);
  keys_.reset(new uint8_t[rows * static_cast<size_t>(k_row_bytes_)]);
  values_.reset(new uint8_t[rows * static_cast<size_t>(v_row_bytes_)]);
}

void KVCache::store(int seq, int layer, int pos, const float* k, const float* v) {
  const int64_t row = row_index(seq, layer, pos);
  uint8_t* k_row = keys_.get() + row * k_row_bytes_;
  uint8_t* v_row = values_.get() + row * v_row_bytes_;
  if (types_.k == DType::F32) {
    std::memcpy(k_row, k, static_cast<size_t>(k_row_bytes_));
  } else {
    quantize_row(types_.k, k, k_row, kv_dim_);
  }
  if (types_.v == DType::F32) {
    std::memcpy(v_row, v, static_cast<size_t>(v_row_bytes_));
  } else {
    quantize_row(types_.v, v, v_row, kv_dim_);
  }
}

void KVCache::copy_prefix(int from_seq, int to_seq, int n_pos) {
  if (from_seq == to_seq || n_pos <= 0) return;
  // A sequence's rows of one layer are contiguous, so a prefix is one block per layer, whatever the type.
  for (int layer = 0; layer < n_layer_; ++layer) {
    const int64_t from = row_index(from_seq, layer, 0), to = row_index(to_seq, layer, 0);
    std::memcpy(keys_.get() + to * k_row_bytes_, keys_.get() + from * k_row_bytes_,
                static_cast<size_t>(n_pos * k_row_bytes_));
    std::memcpy(values_.get() + to * v_row_bytes_, values_.get() + from * v_row_bytes_,
                static_cast<size_t>(n_pos * v_row_bytes_));
  }
}

}  // namespace rpu
