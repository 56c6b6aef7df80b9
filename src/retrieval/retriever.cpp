#include "retrieval/retriever.h"

#include <algorithm>
#include <unordered_map>

#include "core/error.h"

namespace rpu::retrieval {

std::vector<ScoredChunk> reciprocal_rank_fusion(const std::vector<std::vector<ScoredChunk>>& lists, int k, int c) {
  std::vector<ScoredChunk> fused;
  std::unordered_map<int64_t, size_t> at;
  for (const auto& list : lists) {
    for (size_t rank = 0; rank < list.size(); ++rank) {
      const double add = 1.0 / (c + static_cast<double>(rank + 1));
      const auto [it, fresh] = at.emplace(list[rank].chunk_id, fused.size());
      if (fresh) {
        fused.push_back({list[rank].chunk_id, add});
      } else {
        fused[it->second].score += add;
      }
    }
  }
  std::stable_sort(fused.begin(), fused.end(), [](const ScoredChunk& a, const ScoredChunk& b) { return a.score > b.score; });
  if (static_cast<int>(fused.size()) > k) fused.resize(static_cast<size_t>(std::max(0, k)));
  return fused;
}

void check_embedder_matches(const KnowledgeBase& kb, const Embedder& embedder) {
  if (kb.settings().dims != embedder.dims()) {
    fail("{}: stores {}-dimensional embeddings (model '{}'), but the model given embeds {} dimensions", kb.path(),
         kb.settings().dims, kb.settings().embed_model, embedder.dims());
  }
}

Retriever::Retriever(std::unique_ptr<KnowledgeBase> kb, std::unique_ptr<Embedder> embedder, VectorIndexOptions index_options)
    : kb_(std::move(kb)), embedder_(std::move(embedder)), index_options_(std::move(index_options)) {
  if (embedder_ && embedder_->dims() > 0) check_embedder_matches(*kb_, *embedder_);
  if (index_options_.cache_path.empty()) index_options_.cache_path = kb_->path() + ".hnsw";
}

Retriever::~Retriever() = default;

const VectorIndex& Retriever::index() {
  const int64_t generation = kb_->generation();
  if (!index_ || generation != index_generation_) {
    std::vector<int64_t> ids;
    std::vector<float> vectors;
    kb_->load_embeddings(ids, vectors);
    VectorIndexOptions o = index_options_;
    o.generation = generation;
    index_ = std::make_unique<VectorIndex>(std::move(ids), std::move(vectors), kb_->settings().dims, o);
    index_generation_ = generation;
  }
  return *index_;
}

void Retriever::set_reranker(std::shared_ptr<Reranker> reranker) {
  std::lock_guard<std::mutex> lock(mutex_);
  reranker_ = std::move(reranker);
}

std::vector<SearchHit> Retriever::search(const std::string& query, const SearchOptions& options) {
  if (options.k <= 0) return {};
  if (options.mode == SearchMode::kDense && !dense()) {
    fail("{}: a dense search needs embeddings and the base's embedding model (this base: {})", kb_->path(),
         kb_->settings().dims == 0 ? "BM25 only" : "no model loaded");
  }
  std::shared_ptr<Reranker> reranker;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    reranker = reranker_;
  }
  if (options.rerank <= 0) reranker.reset();
  const int depth = reranker ? std::max(options.k, options.rerank) : options.k;
  std::vector<float> query_vector;
  if (options.mode != SearchMode::kText && dense()) query_vector = embedder_->embed({query}).at(0);
  std::vector<SearchHit> hits = first_stage(query, query_vector, options, depth);
  if (!reranker || hits.empty()) return hits;

  std::vector<std::string> texts;
  texts.reserve(hits.size());
  for (const SearchHit& hit : hits) texts.push_back(hit.chunk.text);
  const std::vector<double> scores = reranker->score(query, texts);
  if (scores.size() != hits.size()) fail("the reranker returned {} scores for {} chunks", scores.size(), hits.size());
  for (size_t i = 0; i < hits.size(); ++i) {
    hits[i].first_stage_rank = static_cast<int>(i + 1);
    hits[i].score = scores[i];
  }
  // Ties keep the first stage's order.
  std::stable_sort(hits.begin(), hits.end(), [](const SearchHit& a, const SearchHit& b) { return a.score > b.score; });
  if (static_cast<int>(hits.size()) > options.k) hits.resize(static_cast<size_t>(options.k));
  return hits;
}

std::vector<SearchHit> Retriever::first_stage(const std::string& query, const std::vector<float>& query_vector,
                                              const SearchOptions& options, int depth) {
  std::lock_guard<std::mutex> lock(mutex_);
  const int candidates = std::max(depth, options.candidates);
  std::vector<ScoredChunk> text, vectors;
  if (options.mode != SearchMode::kDense) text = kb_->search_text(query, candidates);
  if (!query_vector.empty()) vectors = index().search(query_vector, candidates);
  std::vector<ScoredChunk> ranked;
  if (options.mode == SearchMode::kText || vectors.empty()) {
    ranked = text;
  } else if (options.mode == SearchMode::kDense || text.empty()) {
    ranked = vectors;
  } else {
    ranked = reciprocal_rank_fusion({text, vectors}, depth);
  }
  if (static_cast<int>(ranked.size()) > depth) ranked.resize(static_cast<size_t>(depth));
  auto rank_in = [](const std::vector<ScoredChunk>& list, int64_t id) {
    for (size_t i = 0; i < list.size(); ++i) {
      if (list[i].chunk_id == id) return static_cast<int>(i + 1);
    }
    return 0;
  };
  std::vector<SearchHit> hits;
  for (const ScoredChunk& s : ranked) {
    hits.push_back({kb_->chunk(s.chunk_id), s.score, rank_in(text, s.chunk_id), rank_in(vectors, s.chunk_id), 0});
  }
  return hits;
}

}  // namespace rpu::retrieval
