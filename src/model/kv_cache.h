// Keys and values of every processed position, in f32, for a fixed number of sequences
// (slots). Each slot has its own contiguous [n_layer][n_ctx][kv_dim] region so attention
// kernels read one sequence's positions with a constant stride.
#pragma once

#include <memory>

#include "model/config.h"

namespace rpu {

class KVCache {
 public:
  KVCache(const ModelConfig& config, int n_ctx, int n_seq = 1);

  int capacity() const { return n_ctx_; }  // positions per sequence
  int n_seq() const { return n_seq_; }
  // Row of [kv_dim] floats for (sequence, layer, position); positions < capacity().
  float* key(int seq, int layer, int pos) { return keys_.get() + offset(seq, layer, pos); }
  float* value(int seq, int layer, int pos) { return values_.get() + offset(seq, layer, pos); }
  const float* key(int seq, int layer, int pos) const { return keys_.get() + offset(seq, layer, pos); }
  const float* value(int seq, int layer, int pos) const { return values_.get() + offset(seq, layer, pos); }
  // Copies positions [0, n_pos) of every layer from one sequence to another (prefix reuse).
  void copy_prefix(int from_seq, int to_seq, int n_pos);

 private:
  size_t offset(int seq, int layer, int pos) const {
    return ((static_cast<size_t>(seq) * n_layer_ + static_cast<size_t>(layer)) * n_ctx_ + static_cast<size_t>(pos)) *
           kv_dim_;
  }

  int n_ctx_, n_seq_, n_layer_;
  size_t kv_dim_;
  // Left uninitialised on purpose: pages are committed only when a sequence reaches them, so
  // a server with many long slots costs memory in proportion to what it actually holds.
  std::unique_ptr<float[]> keys_;    // [n_seq][n_layer][n_ctx][kv_dim]
  std::unique_ptr<float[]> values_;  // [n_seq][n_layer][n_ctx][kv_dim]
};

}  // namespace rpu
