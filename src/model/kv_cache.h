// Keys and values of every processed position, per layer, in f32.
#pragma once

#include <vector>

#include "model/config.h"

namespace rpu {

class KVCache {
 public:
  KVCache(const ModelConfig& config, int n_ctx);

  int capacity() const { return n_ctx_; }
  // Row of [kv_dim] floats for (layer, position); positions < capacity().
  float* key(int layer, int pos) { return keys_.data() + offset(layer, pos); }
  float* value(int layer, int pos) { return values_.data() + offset(layer, pos); }
  const float* key(int layer, int pos) const { return keys_.data() + offset(layer, pos); }
  const float* value(int layer, int pos) const { return values_.data() + offset(layer, pos); }

 private:
  size_t offset(int layer, int pos) const {
    return (static_cast<size_t>(layer) * n_ctx_ + static_cast<size_t>(pos)) * kv_dim_;
  }

  int n_ctx_;
  size_t kv_dim_;
  std::vector<float> keys_;    // [n_layer][n_ctx][kv_dim]
  std::vector<float> values_;  // [n_layer][n_ctx][kv_dim]
};

}  // namespace rpu
