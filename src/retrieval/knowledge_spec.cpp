#include "retrieval/knowledge_spec.h"

#include "core/error.h"
#include "core/json_text.h"
#include "pipeline/call.h"

namespace rpu::retrieval {

SearchMode search_mode_parse(const std::string& text) {
  if (text == "hybrid") return SearchMode::kHybrid;
  if (text == "bm25" || text == "text") return SearchMode::kText;
  if (text == "dense") return SearchMode::kDense;
  fail("unknown search mode '{}' (expected hybrid, bm25 or dense)", text);
}

const char* search_mode_name(SearchMode mode) {
  switch (mode) {
    case SearchMode::kHybrid: return "hybrid";
    case SearchMode::kText: return "bm25";
    case SearchMode::kDense: return "dense";
  }
  return "?";
}

namespace {

int int_field(const nlohmann::ordered_json& value, const char* key, int fallback, int lo, int hi) {
  if (!value.contains(key)) return fallback;
  const auto& v = value[key];
  const std::string param = std::string("knowledge.") + key;
  const std::optional<int64_t> whole = json_whole_number(v);  // 5 and 5.0, as the request's own fields
  if (!whole) throw ApiError::bad_request(param, "'" + param + "' must be an integer");
  const int64_t n = *whole;
  if (n < lo || n > hi) {
    throw ApiError::bad_request(param, "'" + param + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  }
  return static_cast<int>(n);
}

}  // namespace

KnowledgeSpec knowledge_spec_parse(const nlohmann::ordered_json& value) {
  if (!value.is_object()) throw ApiError::bad_request("knowledge", "'knowledge' must be an object such as {\"kb\": \"docs\", \"k\": 5}");
  for (const auto& [key, _] : value.items()) {
    if (key != "kb" && key != "k" && key != "mode" && key != "max_tokens" && key != "rerank" && key != "extractive") {
      throw ApiError::bad_request("knowledge." + key, "unknown field 'knowledge." + key +
                                                          "' (expected kb, k, mode, max_tokens, rerank, extractive)");
    }
  }
  KnowledgeSpec spec;
  if (!value.contains("kb") || !value["kb"].is_string() || value["kb"].get<std::string>().empty()) {
    throw ApiError::bad_request("knowledge.kb", "'knowledge.kb' must name a knowledge base");
  }
  spec.kb = value["kb"].get<std::string>();
  spec.k = int_field(value, "k", spec.k, 1, 50);
  spec.max_tokens = int_field(value, "max_tokens", spec.max_tokens, 64, 1 << 20);
  if (value.contains("rerank")) spec.rerank = int_field(value, "rerank", 0, 0, 200);
  if (value.contains("extractive")) {
    if (!value["extractive"].is_boolean()) {
      throw ApiError::bad_request("knowledge.extractive", "'knowledge.extractive' must be true or false");
    }
    spec.extractive = value["extractive"].get<bool>();
  }
  if (value.contains("mode")) {
    if (!value["mode"].is_string()) throw ApiError::bad_request("knowledge.mode", "'knowledge.mode' must be a string");
    try {
      spec.mode = search_mode_parse(value["mode"].get<std::string>());
    } catch (const Error& e) {
      throw ApiError::bad_request("knowledge.mode", e.what());
    }
  }
  return spec;
}

}  // namespace rpu::retrieval
