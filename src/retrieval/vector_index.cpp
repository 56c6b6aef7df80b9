#include "retrieval/vector_index.h"

#include <hnswlib/hnswlib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/error.h"

namespace rpu::retrieval {

struct VectorIndex::Hnsw {
  explicit Hnsw(int dims) : space(static_cast<size_t>(dims)) {}
  hnswlib::InnerProductSpace space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph;
};

namespace {

// The k largest of scores[n] as (index, score), best first.
std::vector<std::pair<int64_t, float>> top_k(const float* scores, int64_t n, int k) {
  std::vector<std::pair<int64_t, float>> best;
  const size_t want = static_cast<size_t>(std::min<int64_t>(k, n));
  if (want == 0) return best;
  auto worse = [](const std::pair<int64_t, float>& a, const std::pair<int64_t, float>& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  };
  best.reserve(want + 1);
  for (int64_t i = 0; i < n; ++i) {
    if (best.size() == want && !(scores[i] > best.front().second)) continue;
    best.emplace_back(i, scores[i]);
    std::push_heap(best.begin(), best.end(), worse);  // min-heap on score
    if (best.size() > want) {
      std::pop_heap(best.begin(), best.end(), worse);
      best.pop_back();
    }
  }
  std::sort(best.begin(), best.end(), worse);
  return best;
}

}  // namespace

VectorIndex::VectorIndex(std::vector<int64_t> ids, std::vector<float> vectors, int dims, const VectorIndexOptions& options)
    : ids_(std::move(ids)), vectors_(std::move(vectors)), dims_(dims) {
  if (dims_ <= 0) fail("vector index: dims must be positive, got {}", dims_);
  if (vectors_.size() != ids_.size() * static_cast<size_t>(dims_)) {
    fail("vector index: {} values for {} vectors of {} dims", vectors_.size(), ids_.size(), dims_);
  }
  MatrixView view;
  view.type = DType::F32;
  view.data = reinterpret_cast<const uint8_t*>(vectors_.data());
  view.rows = static_cast<int64_t>(ids_.size());
  view.cols = dims_;
  view.row_bytes = static_cast<uint64_t>(dims_) * sizeof(float);
  active_kernels().pack(view, matrix_);
  if (size() >= options.hnsw_threshold) build_or_load_hnsw(options);
}

VectorIndex::~VectorIndex() = default;

void VectorIndex::build_or_load_hnsw(const VectorIndexOptions& options) {
  namespace fs = std::filesystem;
  hnsw_ = std::make_unique<Hnsw>(dims_);
  const std::string meta_path = options.cache_path + ".json";
  const nlohmann::json meta = {{"generation", options.generation}, {"count", size()}, {"dims", dims_}};
  if (!options.cache_path.empty() && fs::exists(options.cache_path) && fs::exists(meta_path)) {
    std::ifstream in(meta_path);
    const auto saved = nlohmann::json::parse(in, nullptr, false);
    if (saved == meta) {
      try {
        hnsw_->graph = std::make_unique<hnswlib::HierarchicalNSW<float>>(&hnsw_->space, options.cache_path, false,
                                                                        static_cast<size_t>(size()));
        return;
      } catch (const std::exception&) {
        hnsw_->graph.reset();  // unreadable: rebuilt below
      }
    }
  }
  hnsw_->graph = std::make_unique<hnswlib::HierarchicalNSW<float>>(&hnsw_->space, static_cast<size_t>(size()), 16, 200, 100);
  // Insertion is thread-safe in hnswlib; rows are handed out one by one.
  std::atomic<int64_t> next{0};
  auto work = [&] {
    for (int64_t i = next++; i < size(); i = next++) {
      hnsw_->graph->addPoint(vectors_.data() + i * dims_, static_cast<hnswlib::labeltype>(i));
    }
  };
  std::vector<std::thread> workers;
  for (int t = 1; t < std::max(1, options.threads); ++t) workers.emplace_back(work);
  work();
  for (auto& w : workers) w.join();
  if (!options.cache_path.empty()) {
    const std::string tmp = options.cache_path + ".tmp";
    hnsw_->graph->saveIndex(tmp);
    fs::rename(tmp, options.cache_path);
    std::ofstream(meta_path) << meta.dump() << '\n';
  }
}

std::vector<ScoredChunk> VectorIndex::search_exact(const std::vector<float>& query, int k) const {
  if (static_cast<int>(query.size()) != dims_) fail("vector index: a query of {} values for {} dims", query.size(), dims_);
  std::vector<float> scores(ids_.size());
  if (!ids_.empty()) {
    QuantizedInput unused;
    active_kernels().matmul(matrix_, query.data(), unused, 1, scores.data(), 0, size());
  }
  std::vector<ScoredChunk> out;
  for (const auto& [i, score] : top_k(scores.data(), size(), k)) out.push_back({ids_[static_cast<size_t>(i)], score});
  return out;
}

int64_t hnsw_ef_search(int64_t n_vectors, int k) {
  return std::min<int64_t>(kMaxEfSearch, std::max<int64_t>({128, 4 * int64_t{k}, n_vectors / 2500}));
}

std::vector<ScoredChunk> VectorIndex::search(const std::vector<float>& query, int k) const {
  if (!hnsw_) return search_exact(query, k);
  if (static_cast<int>(query.size()) != dims_) fail("vector index: a query of {} values for {} dims", query.size(), dims_);
  const int want = std::min<int>(k, static_cast<int>(size()));
  if (want <= 0) return {};
  // ef is per-graph state in hnswlib; concurrent searches set the same value (it depends only
  // on k and the base's size).
  hnsw_->graph->setEf(static_cast<size_t>(hnsw_ef_search(size(), want)));
  auto heap = hnsw_->graph->searchKnn(query.data(), static_cast<size_t>(want));
  std::vector<ScoredChunk> out(heap.size());
  for (size_t i = heap.size(); i-- > 0;) {
    // hnswlib's inner-product distance is 1 - dot; the heap pops the farthest first.
    out[i] = {ids_[static_cast<size_t>(heap.top().second)], 1.0 - heap.top().first};
    heap.pop();
  }
  return out;
}

}  // namespace rpu::retrieval
