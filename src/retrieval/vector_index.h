// Nearest chunks to a query embedding (all vectors L2-normalised, so inner product = cosine).
//   exact   one pass over the stored vectors as a matrix V[n, dims]: scores = V q, through the
//           kernel table's f32 matmul (the same SIMD code the model's float weights use), then
//           a top-k selection. O(n * dims) per query; exact.
//   hnsw    above `hnsw_threshold` vectors, an HNSW graph (Debian's hnswlib, inner-product
//           space, M = 16, ef_construction = 200, ef_search = hnsw_ef_search: recall@10 0.99 at
//           100k vectors of a low intrinsic dimension and 0.98 at 1M, bench/RESULTS.md): approximate,
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

// The HNSW search breadth for the k nearest of n_vectors: max(128, 4k), and n / 2500 for large
// bases, at most kMaxEfSearch. Measured on 256-dim vectors of intrinsic dimension 32, asking for
// the Retriever's 50 (recall@10 against the exact scan; bench/RESULTS.md "Knowledge bases: scale"):
// ef 200 gave 0.9995 at 10k and 0.986 at 100k but 0.94 at 1M, where ef 400 gives 0.98 (p50
// 2.4-2.7 ms against 1.3-1.4).
constexpr int64_t kMaxEfSearch = 2000;
int64_t hnsw_ef_search(int64_t n_vectors, int k);

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
