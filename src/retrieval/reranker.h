// Second-stage ranking: a model that reads the query and each candidate chunk together and
// scores their relevance (a cross-encoder), applied by the Retriever to the first stage's best
// candidates (BM25, dense or fused). Cross-encoders see word-level interactions that neither
// BM25 nor a single query vector can, at the price of one forward pass per candidate, so only
// the top `SearchOptions::rerank` candidates are rescored.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/cross_encoder.h"

namespace rpu::retrieval {

class Reranker {
 public:
  virtual ~Reranker() = default;
  virtual std::string model() const = 0;
  // One relevance score per text, in order; higher is more relevant. Thread-safe.
  virtual std::vector<double> score(const std::string& query, const std::vector<std::string>& texts) = 0;
};

// A cross-encoder (a bert model with pooling rank) as a Reranker; `encoder` must outlive it.
std::unique_ptr<Reranker> cross_encoder_reranker(CrossEncoder& encoder, std::string model);

}  // namespace rpu::retrieval
