// Second-stage ranking: a model that reads the query and each candidate chunk together and
// scores their relevance (a cross-encoder), applied by the Retriever to the first stage's best
// candidates (BM25, dense or fused). Cross-encoders see word-level interactions that neither
// BM25 nor a single query vector can, at the price of one forward pass per candidate, so only
// the top `SearchOptions::rerank` candidates are rescored.
//
// The scores come from a Backend's rerank() (pipeline/backend.h): a LocalBackend over a
// cross-encoder scores the pairs in its scheduler's batches, beside the server's own /v1/rerank
// calls; a RemoteBackend or a gateway target scores them elsewhere.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/backend.h"

namespace rpu::retrieval {

class Reranker {
 public:
  virtual ~Reranker() = default;
  virtual std::string model() const = 0;
  // One relevance score per text, in order; higher is more relevant. Thread-safe.
  virtual std::vector<double> score(const std::string& query, const std::vector<std::string>& texts) = 0;
};

// A reranking call to whatever answers it (a Backend, a gateway target looked up per call).
using RerankCall = std::function<RerankResult(const RerankRequest&)>;

// Scores through `call`; `model` is the name reported (rpu.knowledge.reranker) and sent as the
// request's model.
std::unique_ptr<Reranker> calling_reranker(RerankCall call, std::string model);
// Scores through `backend.rerank()` (`backend` must outlive the reranker).
std::unique_ptr<Reranker> backend_reranker(Backend& backend, std::string model);

}  // namespace rpu::retrieval
