// Keys and values of every processed position for a fixed number of sequences (slots), each
// of K and V in its own element type: f32 (the default), f16 or Q8_0 (kernels/kv_rows.h;
// `--cache-type`). Each slot has its own contiguous [n_layer][n_ctx] region of rows (a row:
// kv_dim values of the type, kv_row_bytes() bytes) so attention kernels read one sequence's
// positions with a constant stride.
#pragma once

#include <cstdint>
#include <memory>

#include "core/dtype.h"
#include "model/config.h"

namespace rpu {

// The element types of the cache's keys and values.
struct KVCacheTypes {
  DType k = DType::F32;
  DType v = DType::F32;
  bool is_f32() const { return k == DType::F32 && v == DType::F32; }
};

class KVCache {
 public:
  // Throws rpu::Error for a type other than f32/f16/q8_0, or Q8_0 with kv_dim % 32 != 0.
  KVCache(const ModelConfig& config, int n_ctx, int n_seq = 1, KVCacheTypes types = {});

  int capacity() const { return n_ctx_; }  // positions per sequence
  int n_seq() const { return n_seq_; }
  const KVCacheTypes& types() const { return types_; }
  int64_t key_row_bytes() const { return k_row_bytes_; }
  int64_t value_row_bytes() const { return v_row_bytes_; }
  // Bytes of K and V for one position of one sequence, over all layers.
  int64_t bytes_per_token() const { return static_cast<int64_t>(n_layer_) * (k_row_bytes_ + v_row_bytes_); }

  // Rows for (sequence, layer, position); positions < capacity().
  const uint8_t* key(int seq, int layer, int pos) const { return keys_.get() + row_index(seq, layer, pos) * k_row_bytes_; }
  const uint8_t* value(int seq, int layer, int pos) const {
    return values_.get() + row_index(seq, layer, pos) * v_row_bytes_;
  }
  // Stores kv_dim floats as the key / value row (converted to the cache's type).
  void store(int seq, int layer, int pos, const float* k, const float* v);
  // Copies positions [0, n_pos) of every layer from one sequence to another (prefix reuse).
  void copy_prefix(int from_seq, int to_seq, int n_pos);

 private:
  int64_t row_index(int seq, int layer, int pos) const {
    return (static_cast<int64_t>(seq) * n_layer_ + layer) * n_ctx_ + pos;
  }

  int n_ctx_, n_seq_, n_layer_;
  int64_t kv_dim_;
  KVCacheTypes types_;
  int64_t k_row_bytes_, v_row_bytes_;
  // Left uninitialised on purpose: pages are committed only when a sequence reaches them, so
  // a server with many long slots costs memory in proportion to what it actually holds.
  std::unique_ptr<uint8_t[]> keys_;    // [n_seq][n_layer][n_ctx] rows of k_row_bytes_
  std::unique_ptr<uint8_t[]> values_;  // [n_seq][n_layer][n_ctx] rows of v_row_bytes_
};

}  // namespace rpu
