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

// A slice is one KV head when a head's values are whole in both types (a Q8_0 block holds 32
// values, so heads of 8 or 16 values share blocks), else the whole row (kv_cache.h).
int64_t slice_values_of(const ModelConfig& config, KVCacheTypes types) {
  const int64_t kv_dim = config.kv_dim(), head_dim = config.head_dim;
  if (head_dim <= 0 || kv_dim % head_dim != 0) return kv_dim;
  const bool blocks = types.k == DType::Q8_0 || types.v == DType::Q8_0;
  return blocks && head_dim % 32 != 0 ? kv_dim : head_dim;
}

}  // namespace

KVCache::KVCache(const ModelConfig& config, int n_ctx, int n_seq, KVCacheTypes types, int page_size)
    : n_ctx_(n_ctx),
      n_seq_(n_seq),
      n_layer_(config.n_layer),
      page_size_(page_size),
      pages_per_seq_(0),
      kv_dim_(config.kv_dim()),
      types_(types),
      k_row_bytes_(row_bytes_of(types.k, config.kv_dim(), "keys")),
      v_row_bytes_(row_bytes_of(types.v, config.kv_dim(), "values")),
      slice_values_(slice_values_of(config, types)),
      n_slices_(kv_dim_ / slice_values_),
      k_slice_bytes_(kv_row_bytes(types.k, slice_values_)),
      v_slice_bytes_(kv_row_bytes(types.v, slice_values_)) {
  if (n_ctx < 1) fail("context size must be at least 1, got {}", n_ctx);
  if (n_seq < 1) fail("the number of sequences must be at least 1, got {}", n_seq);
  if (page_size < 1) fail("a KV cache page must hold at least 1 position, got {}", page_size);
  pages_per_seq_ = (n_ctx + page_size - 1) / page_size;
  // Every sequence can map a full context of pages of its own; sharing only lowers the count,
  // and a copy on write replaces a page at least one other sequence still maps, so the pool
  // never runs dry.
  const int n_pages = n_seq * pages_per_seq_;
  tables_.assign(static_cast<size_t>(n_seq), std::vector<int32_t>(static_cast<size_t>(pages_per_seq_), -1));
  refs_.assign(static_cast<size_t>(n_pages), 0);
  free_.resize(static_cast<size_t>(n_pages));
  for (int i = 0; i < n_pages; ++i) free_[static_cast<size_t>(i)] = n_pages - 1 - i;  // page 0 first
  const size_t rows = static_cast<size_t>(n_pages) * static_cast<size_t>(n_layer_) * static_cast<size_t>(page_size);
  // Lazily committed, in huge pages where offered (core/large_buffer.h): a decode step's
  // first touches of new rows were page faults costing more than the step's arithmetic.
  keys_ = allocate_large_buffer(rows * static_cast<size_t>(k_row_bytes_));
  values_ = allocate_large_buffer(rows * static_cast<size_t>(v_row_bytes_));
}

int KVCache::page_of(int seq, int pos) const {
  const int32_t page = tables_[static_cast<size_t>(seq)][static_cast<size_t>(pos / page_size_)];
  if (page < 0) fail("KV cache position {} of sequence {} holds no rows", pos, seq);
  return page;
}

void KVCache::read_row(const LargeBuffer& rows, DType type, int64_t slice_bytes, int seq, int layer, int pos,
                       float* out) const {
  const int page = page_of(seq, pos);
  for (int64_t s = 0; s < n_slices_; ++s) {
    const uint8_t* slice = rows.get() + slice_at(page, layer, s, pos % page_size_) * slice_bytes;
    kv_slice_to_f32(type, slice, 0, slice_values_, out + s * slice_values_);
  }
}

void KVCache::read_key(int seq, int layer, int pos, float* out) const {
  read_row(keys_, types_.k, k_slice_bytes_, seq, layer, pos, out);
}

void KVCache::read_value(int seq, int layer, int pos, float* out) const {
  read_row(values_, types_.v, v_slice_bytes_, seq, layer, pos, out);
}

KvRows KVCache::head_rows(int seq, int layer, int64_t offset) const {
  const int64_t slice = offset / slice_values_;
  KvRows rows;
  rows.k = keys_.get() + slice_at(0, layer, slice, 0) * k_slice_bytes_;
  rows.v = values_.get() + slice_at(0, layer, slice, 0) * v_slice_bytes_;
  rows.k_type = types_.k;
  rows.v_type = types_.v;
  rows.k_row_bytes = k_slice_bytes_;
  rows.v_row_bytes = v_slice_bytes_;
  rows.offset = offset - slice * slice_values_;
  rows.pages = tables_[static_cast<size_t>(seq)].data();
  rows.page_size = page_size_;
  rows.k_page_bytes = slice_at(1, 0, 0, 0) * k_slice_bytes_;
  rows.v_page_bytes = slice_at(1, 0, 0, 0) * v_slice_bytes_;
  return rows;
}

int KVCache::allocate_page() {
  // Cannot be empty (see the constructor); checked anyway, since a wrong page would corrupt
  // another sequence's rows.
  if (free_.empty()) fail("the KV cache has no free page left (internal error)");
  const int page = free_.back();
  free_.pop_back();
  refs_[static_cast<size_t>(page)] = 1;
  ++pages_in_use_;
  return page;
}

void KVCache::release_page(int page) {
  if (--refs_[static_cast<size_t>(page)] == 0) {
    free_.push_back(page);
    --pages_in_use_;
  }
}

void KVCache::prepare_write(int seq, int begin, int end) {
  std::vector<int32_t>& table = tables_[static_cast<size_t>(seq)];
  for (int i = begin / page_size_; i * page_size_ < end; ++i) {
    int32_t& page = table[static_cast<size_t>(i)];
    if (page < 0) {
      page = allocate_page();
      ++pages_mapped_;
      continue;
    }
    if (refs_[static_cast<size_t>(page)] == 1) continue;
    // Shared: this sequence's rows before `begin` move to a page of its own, every layer.
    const int page_copy = allocate_page();
    const int keep = std::clamp(begin - i * page_size_, 0, page_size_);
    for (int layer = 0; layer < n_layer_ && keep > 0; ++layer) {
      for (int64_t s = 0; s < n_slices_; ++s) {
        std::memcpy(keys_.get() + slice_at(page_copy, layer, s, 0) * k_slice_bytes_,
                    keys_.get() + slice_at(page, layer, s, 0) * k_slice_bytes_, static_cast<size_t>(keep * k_slice_bytes_));
        std::memcpy(values_.get() + slice_at(page_copy, layer, s, 0) * v_slice_bytes_,
                    values_.get() + slice_at(page, layer, s, 0) * v_slice_bytes_,
                    static_cast<size_t>(keep * v_slice_bytes_));
      }
    }
    release_page(page);
    page = page_copy;
  }
}

void KVCache::store(int seq, int layer, int pos, const float* k, const float* v) {
  const int page = page_of(seq, pos), slot = pos % page_size_;
  for (int64_t s = 0; s < n_slices_; ++s) {
    const int64_t at = slice_at(page, layer, s, slot);
    store_slice(types_.k, k + s * slice_values_, keys_.get() + at * k_slice_bytes_, k_slice_bytes_);
    store_slice(types_.v, v + s * slice_values_, values_.get() + at * v_slice_bytes_, v_slice_bytes_);
  }
}

void KVCache::store_slice(DType type, const float* x, uint8_t* dst, int64_t bytes) const {
  if (type == DType::F32) {
    std::memcpy(dst, x, static_cast<size_t>(bytes));
  } else {
    quantize_row(type, x, dst, slice_values_);
  }
}

void KVCache::share_prefix(int from_seq, int to_seq, int n_pos) {
  if (from_seq == to_seq) return;
  truncate(to_seq, 0);
  const std::vector<int32_t>& from = tables_[static_cast<size_t>(from_seq)];
  std::vector<int32_t>& to = tables_[static_cast<size_t>(to_seq)];
  // Every page holding a prefix position, the partly filled last one too: it is copied when
  // either sequence next writes into it (prepare_write).
  for (int i = 0; i * page_size_ < n_pos; ++i) {
    const int32_t page = from[static_cast<size_t>(i)];
    if (page < 0) fail("cannot share position {} of sequence {}: it holds no rows", i * page_size_, from_seq);
    ++refs_[static_cast<size_t>(page)];
    to[static_cast<size_t>(i)] = page;
    ++pages_mapped_;
  }
}

void KVCache::truncate(int seq, int n_pos) {
  std::vector<int32_t>& table = tables_[static_cast<size_t>(seq)];
  // Last page first, so the free list hands them out again in their old order: a sequence
  // refilled from the start gets back the pages it had, already touched (in first-to-last
  // order, its first positions went to its last page, whose rows were mostly never written).
  for (int i = pages_per_seq_ - 1; i >= (std::max(n_pos, 0) + page_size_ - 1) / page_size_; --i) {
    int32_t& page = table[static_cast<size_t>(i)];
    if (page < 0) continue;
    release_page(page);
    --pages_mapped_;
    page = -1;
  }
}

}  // namespace rpu
