// The "knowledge" request extension as the server, the gateway config and the CLI read it:
// {"kb": NAME, "k": 5, "mode": "hybrid"|"bm25"|"dense", "max_tokens": 2000, "rerank": 20,
//  "extractive": false}. Kept apart from
// the search itself so the gateway's config reader (and its fuzz target) checks a route's
// default without linking the store.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace rpu::retrieval {

enum class SearchMode { kHybrid, kText, kDense };

// First-stage chunks a reranker rescores when the caller does not say (SearchOptions, the
// "knowledge" extension, `rpu kb search --rerank-top`, `rpu ask --rerank-top`): the one home
// of this default.
inline constexpr int kDefaultRerankDepth = 20;
SearchMode search_mode_parse(const std::string& text);  // "hybrid" | "bm25" | "dense"; throws naming the value
const char* search_mode_name(SearchMode mode);

struct KnowledgeSpec {
  std::string kb;
  int k = 5;
  SearchMode mode = SearchMode::kHybrid;
  int max_tokens = 2000;
  // First-stage chunks the server's reranker rescores (0: none). Unset: kDefaultRerankDepth when
  // the server has a reranker; set above 0 on a server without one, the request is refused.
  std::optional<int> rerank;
  // The answer may use only the words of the sources and the question (extractive.h).
  bool extractive = false;
};

// Throws ApiError 400 naming the field (param "knowledge.k", ...).
KnowledgeSpec knowledge_spec_parse(const nlohmann::ordered_json& value);

}  // namespace rpu::retrieval
