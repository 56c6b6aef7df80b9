// Keys and values of every processed position for a fixed number of sequences (slots), each
// of K and V in its own element type: f32 (the default), f16 or Q8_0 (kernels/kv_rows.h;
// `--cache-type`). A row is kv_dim values of the type (kv_row_bytes() bytes).
//
// Rows live in pages of page_size() consecutive positions of every layer, laid out
// [page][layer][slice][position in page], where a slice is one KV head's values (head_dim of
// them) when its bytes are whole (f32, f16, or Q8_0 with head_dim a multiple of 32), else the
// whole row. Head-major, so one head's keys in a page are one contiguous run for the attention
// kernels: a long context's decode reads each head's rows front to back instead of head_dim of
// every kv_dim values, which the prefetchers served at a third of the weights' rate. Each
// sequence has a table of page ids (KvRows::pages); pages are reference counted, so sequences that share a prompt prefix hold one copy of its full pages
// (share_prefix). A write into a page another sequence also maps first copies it
// (prepare_write: copy on write), so rewinds and truncations never disturb a shared page.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/dtype.h"
#include "core/large_buffer.h"
#include "kernels/kernels.h"
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
  static constexpr int kDefaultPageSize = 64;  // positions per page

  // Throws rpu::Error for a type other than f32/f16/q8_0, or Q8_0 with kv_dim % 32 != 0.
  KVCache(const ModelConfig& config, int n_ctx, int n_seq = 1, KVCacheTypes types = {},
          int page_size = kDefaultPageSize);

  int capacity() const { return n_ctx_; }  // positions per sequence
  int n_seq() const { return n_seq_; }
  const KVCacheTypes& types() const { return types_; }
  int64_t key_row_bytes() const { return k_row_bytes_; }
  int64_t value_row_bytes() const { return v_row_bytes_; }
  // Bytes of K and V for one position of one sequence, over all layers.
  int64_t bytes_per_token() const { return static_cast<int64_t>(n_layer_) * (k_row_bytes_ + v_row_bytes_); }

  // Pages: their size in positions and bytes (K and V of every layer), how many distinct pages
  // hold rows now, and how many the sequences' tables map in all (what the same rows would
  // take without sharing).
  int page_size() const { return page_size_; }
  int64_t page_bytes() const { return static_cast<int64_t>(page_size_) * bytes_per_token(); }
  int pages_in_use() const { return pages_in_use_; }
  int pages_mapped() const { return pages_mapped_; }

  // The key / value row of (sequence, layer, position) as kv_dim floats (gathered from its
  // slices and converted from the cache's type); the position must hold a stored row.
  void read_key(int seq, int layer, int pos, float* out) const;
  void read_value(int seq, int layer, int pos, float* out) const;
  // One KV head's rows of (sequence, layer), the kernels' view: `offset` is the head's first
  // value in a row (a multiple of head_dim); the view's rows are its slice, offset within it.
  KvRows head_rows(int seq, int layer, int64_t offset) const;
  // Values per slice: head_dim (head-major pages) or kv_dim (the fallback, see above).
  int64_t slice_values() const { return slice_values_; }

  // Makes positions [begin, end) of seq writable: maps fresh pages where it has none and copies
  // a page it shares with another sequence (its rows before `begin`) into a page of its own.
  // Not thread-safe: call before the step's (parallel) stores.
  void prepare_write(int seq, int begin, int end);
  // Stores kv_dim floats as the key / value row (converted to the cache's type).
  void store(int seq, int layer, int pos, const float* k, const float* v);
  // Makes `to` hold positions [0, n_pos) of `from` by mapping the same pages (no copy); `to`'s
  // previous pages are released.
  void share_prefix(int from_seq, int to_seq, int n_pos);
  // Keeps positions [0, n_pos) of seq and releases the pages wholly beyond them.
  void truncate(int seq, int n_pos);

 private:
  // The first byte of (page, layer, slice, slot) counted in slices of `slice_bytes`.
  int64_t slice_at(int page, int layer, int64_t slice, int slot) const {
    return ((static_cast<int64_t>(page) * n_layer_ + layer) * n_slices_ + slice) * page_size_ + slot;
  }
  void store_slice(DType type, const float* x, uint8_t* dst, int64_t bytes) const;
  void read_row(const LargeBuffer& rows, DType type, int64_t slice_bytes, int seq, int layer, int pos,
                float* out) const;
  int page_of(int seq, int pos) const;  // throws if unmapped
  int allocate_page();
  void release_page(int page);

  int n_ctx_, n_seq_, n_layer_, page_size_, pages_per_seq_;
  int64_t kv_dim_;
  KVCacheTypes types_;
  int64_t k_row_bytes_, v_row_bytes_;
  int64_t slice_values_, n_slices_;         // values per slice, slices per row
  int64_t k_slice_bytes_, v_slice_bytes_;
  std::vector<std::vector<int32_t>> tables_;  // [seq][position / page_size] -> page id, -1 unmapped
  std::vector<int32_t> refs_;                 // [page] sequences mapping it
  std::vector<int32_t> free_;                 // page ids, the next one to use last
  int pages_in_use_ = 0;
  // Table entries >= 0 over all sequences, kept on every map and unmap (read every step for
  // /metrics, so never recounted over the tables).
  int pages_mapped_ = 0;
  // Left uninitialised on purpose: memory is committed only when a page is first written, and
  // freed pages are reused most recently freed first, so a server with many long slots costs
  // memory in proportion to the distinct rows it actually holds.
  LargeBuffer keys_;    // [n_pages][n_layer][n_slices][page_size] slices of k_slice_bytes_
  LargeBuffer values_;  // [n_pages][n_layer][n_slices][page_size] slices of v_slice_bytes_
};

}  // namespace rpu
