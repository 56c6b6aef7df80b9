// Search over one knowledge base: BM25 (FTS5), dense (vector_index.h), or both fused by
// reciprocal rank fusion: score(chunk) = sum over the lists it appears in of 1 / (60 + rank),
// rank 1-based (Cormack et al., 2009: k = 60). Each list contributes its top `candidates`.
// With a reranker (reranker.h), the first stage's best `rerank` chunks are rescored by it and
// the k best of those returned, ordered by its score.
// Thread-safe: one mutex around the base's connection and the lazily built vector index; the
// model calls (the query's embedding, the reranker) run outside it, so concurrent searches of
// one base only wait for each other's SQL and index lookups.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "retrieval/embedder.h"
#include "retrieval/kb_store.h"
#include "retrieval/knowledge_spec.h"
#include "retrieval/reranker.h"
#include "retrieval/vector_index.h"

namespace rpu::retrieval {


struct SearchOptions {
  int k = 5;
  SearchMode mode = SearchMode::kHybrid;
  int candidates = 50;  // per list, before fusion
  int rerank = kDefaultRerankDepth;  // first-stage chunks the retriever's reranker rescores (0 or no reranker: none)
};

struct SearchHit {
  ChunkRecord chunk;
  double score = 0;    // the reranker's score when reranked, else the fused score (hybrid), BM25, or cosine
  int text_rank = 0;   // 1-based rank in the BM25 list; 0: not in it
  int dense_rank = 0;  // 1-based rank in the dense list; 0: not in it
  int first_stage_rank = 0;  // 1-based rank before reranking; 0: not reranked
};

// Fuses ranked lists (best first) into the k best by reciprocal rank; ties by first appearance.
std::vector<ScoredChunk> reciprocal_rank_fusion(const std::vector<std::vector<ScoredChunk>>& lists, int k, int c = 60);

class Retriever {
 public:
  // `embedder`: the model the base was embedded with (null or dims 0: BM25 only; a dense or
  // hybrid search then uses BM25 alone, and dense alone is an error).
  Retriever(std::unique_ptr<KnowledgeBase> kb, std::unique_ptr<Embedder> embedder, VectorIndexOptions index_options = {});
  ~Retriever();

  std::vector<SearchHit> search(const std::string& query, const SearchOptions& options);
  KnowledgeBase& kb() { return *kb_; }
  Embedder* embedder() { return embedder_.get(); }
  // Rescores the first stage's best candidates of every later search (null: none).
  void set_reranker(std::shared_ptr<Reranker> reranker);
  Reranker* reranker() const { return reranker_.get(); }
  bool dense() const { return embedder_ && embedder_->dims() > 0 && kb_->settings().dims > 0; }

 private:
  const VectorIndex& index();  // built on first use, rebuilt when the base's generation moved
  // The first stage: the `depth` best chunks (BM25, dense or fused), under the mutex.
  std::vector<SearchHit> first_stage(const std::string& query, const std::vector<float>& query_vector,
                                     const SearchOptions& options, int depth);

  std::mutex mutex_;
  std::unique_ptr<KnowledgeBase> kb_;
  std::unique_ptr<Embedder> embedder_;
  std::shared_ptr<Reranker> reranker_;
  VectorIndexOptions index_options_;
  std::unique_ptr<VectorIndex> index_;
  int64_t index_generation_ = -1;
};

// The base's embedding model, checked: dims must match what the base stores.
void check_embedder_matches(const KnowledgeBase& kb, const Embedder& embedder);

}  // namespace rpu::retrieval
