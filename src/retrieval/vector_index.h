// Nearest chunks to a query embedding (all vectors L2-normalised, so inner product = cosine).
//   exact   one pass over the stored vectors as a matrix V[n, dims]: scores = V q, through the
//           kernel table's f32 matmul (the same SIMD code the model's float weights use), then
//           a top-k selection. O(n * dims) per query; exact.
//   hnsw    above `hnsw_threshold` vectors, an HNSW graph (Debian's hnswlib, inner-product
//           space, M = 16, ef_construction = 200, ef_search = max(128, 4k): recall@10 0.99 at 100k
//           vectors of a low intrinsic dimension, bench/RESULTS.md): approximate,
//           O(log n) per query. Built once and saved beside the base (`<kb>.hnsw`, with the base's
//           generation in `<kb>.hnsw.json`), rebuilt when the base has changed since.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "retrieval/kb_store.h"

namespace rpu::retrieval {

struct VectorIndexOptions {
  int64_t hnsw_threshold = 50000;  // vectors; below it the exact scan is fast enough (< 10 ms)
  std::string cache_path;          // where the HNSW graph is saved; empty: not saved
  int64_t generation = 0;          // the base's generation the vectors come from
  int threads = 2;                 // for building the graph
};

class VectorIndex {
 public:
  // ids[n] and vectors[n * dims], L2-normalised rows.
  VectorIndex(std::vector<int64_t> ids, std::vector<float> vectors, int dims, const VectorIndexOptions& options);
  ~VectorIndex();
  VectorIndex(const VectorIndex&) = delete;
  VectorIndex& operator=(const VectorIndex&) = delete;

  // The k best chunks for query[dims], best first.
  std::vector<ScoredChunk> search(const std::vector<float>& query, int k) const;
  // The exact scan, whatever the size (the oracle the HNSW graph is measured against).
  std::vector<ScoredChunk> search_exact(const std::vector<float>& query, int k) const;

  bool uses_hnsw() const { return hnsw_ != nullptr; }
  int64_t size() const { return static_cast<int64_t>(ids_.size()); }
  int dims() const { return dims_; }

 private:
  struct Hnsw;
  void build_or_load_hnsw(const VectorIndexOptions& options);

  std::vector<int64_t> ids_;
  std::vector<float> vectors_;
  int dims_;
  WeightMatrix matrix_;  // vectors_ as a float matrix for the kernel table
  std::unique_ptr<Hnsw> hnsw_;
};

}  // namespace rpu::retrieval
