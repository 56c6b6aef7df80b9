#include "model/kv_cache.h"

#include <algorithm>

#include "core/error.h"

namespace rpu {

KVCache::KVCache(const ModelConfig& config, int n_ctx, int n_seq)
    : n_ctx_(n_ctx), n_seq_(n_seq), n_layer_(config.n_layer), kv_dim_(static_cast<size_t>(config.kv_dim())) {
  if (n_ctx < 1) fail("context size must be at least 1, got {}", n_ctx);
  if (n_seq < 1) fail("the number of sequences must be at least 1, got {}", n_seq);
  const size_t n = static_cast<size_t>(n_seq) * static_cast<size_t>(n_layer_) * static_cast<size_t>(n_ctx) * kv_dim_;
  keys_.reset(new float[n]);
  values_.reset(new float[n]);
}

void KVCache::copy_prefix(int from_seq, int to_seq, int n_pos) {
  if (from_seq == to_seq || n_pos <= 0) return;
  const size_t n = static_cast<size_t>(n_pos) * kv_dim_;
  for (int layer = 0; layer < n_layer_; ++layer) {
    std::copy_n(key(from_seq, layer, 0), n, key(to_seq, layer, 0));
    std::copy_n(value(from_seq, layer, 0), n, value(to_seq, layer, 0));
  }
}

}  // namespace rpu
