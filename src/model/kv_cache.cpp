#include "model/kv_cache.h"

#include "core/error.h"

namespace rpu {

KVCache::KVCache(const ModelConfig& config, int n_ctx) : n_ctx_(n_ctx), kv_dim_(static_cast<size_t>(config.kv_dim())) {
  if (n_ctx < 1) fail("context size must be at least 1, got {}", n_ctx);
  const size_t n = static_cast<size_t>(config.n_layer) * static_cast<size_t>(n_ctx) * kv_dim_;
  keys_.assign(n, 0.0f);
  values_.assign(n, 0.0f);
}

}  // namespace rpu
