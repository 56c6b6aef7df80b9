// Reranking calls as every Backend shares them: the default refusal, the checks a request must
// pass, and the best-first order callers present scores in (server, CLI, retrieval).
#include <algorithm>
#include <numeric>

#include "pipeline/backend.h"

namespace rpu {

RerankResult Backend::rerank(const RerankRequest& request) {
  const std::string name = request.model.empty() ? model_id() : request.model;
  throw ApiError::bad_request("model", "model '" + name +
                                           "' is not a reranking model: /v1/rerank needs a cross-encoder (a bert "
                                           "model with pooling type rank, e.g. ms-marco-MiniLM or bge-reranker)");
}

void validate_rerank_request(const RerankRequest& request) {
  if (request.documents.empty()) throw ApiError::bad_request("documents", "'documents' must be a non-empty array of strings");
  if (request.top_n < 0) throw ApiError::bad_request("top_n", "'top_n' must be at least 1");
}

std::vector<size_t> rerank_order(const std::vector<double>& scores, int top_n) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  if (top_n > 0 && static_cast<size_t>(top_n) < order.size()) order.resize(static_cast<size_t>(top_n));
  return order;
}

}  // namespace rpu
