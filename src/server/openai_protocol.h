// The OpenAI wire protocol: request parsing with OpenAI-style validation errors, and the
// JSON of responses and stream chunks. Pure functions, no HTTP and no model.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "engine/request.h"
#include "pipeline/call.h"
#include "decode/sampler.h"

namespace rpu {

nlohmann::ordered_json error_body(const ApiError& error);

// default_model: what a body without "model" names (llama-server's /apply-template needs none);
// empty: "model" is required, as OpenAI's endpoints have it.
ChatRequest parse_chat_request(std::string_view body, const std::string& default_model = "");
CompletionRequest parse_completion_request(std::string_view body);
EmbeddingRequest parse_embedding_request(std::string_view body);
RerankRequest parse_rerank_request(std::string_view body);

// llama-server's /tokenize and /detokenize (not OpenAI's): clients count and inspect tokens with
// them. The model is optional (the one served).
struct TokenizeRequest {
  std::string model;
  std::string content;
  bool add_special = false;   // the model's BOS (llama-server's default: not added)
  bool parse_special = true;  // "<|im_start|>" written in the text is that token
  bool with_pieces = false;   // {"id", "piece"} objects instead of bare ids
};
TokenizeRequest parse_tokenize_request(std::string_view body);
struct DetokenizeRequest {
  std::string model;
  std::vector<int32_t> tokens;
};
DetokenizeRequest parse_detokenize_request(std::string_view body);

// Compact JSON; invalid UTF-8 (a token may end inside a character) becomes U+FFFD.
std::string to_json_text(const nlohmann::ordered_json& value);
std::string make_response_id(const std::string& prefix);  // prefix + 24 random alphanumerics
std::string sse_data(const nlohmann::ordered_json& value);  // "data: <json>\n\n"
std::string sse_done();                                     // "data: [DONE]\n\n"

struct ChatChoice {
  int index = 0;
  std::optional<std::string> content;
  nlohmann::ordered_json tool_calls;  // array (possibly empty) or null
  std::optional<std::vector<TokenLogprob>> logprobs;
  std::string finish_reason;
  std::string reasoning;  // reasoning_content; empty: the field is left out
};

nlohmann::ordered_json chat_completion(const std::string& id, int64_t created, const std::string& model,
                                       const std::vector<ChatChoice>& choices, const Usage& usage);
// Stream chunks; with include_usage every chunk carries "usage": null until the usage chunk.
nlohmann::ordered_json chat_chunk_role(const std::string& id, int64_t created, const std::string& model, int index,
                                       bool include_usage);
// A delta with "reasoning_content" when `reasoning` is not empty, and "content" when `text` is not
// (or both are empty: a chunk carrying only logprobs).
nlohmann::ordered_json chat_chunk_content(const std::string& id, int64_t created, const std::string& model, int index,
                                          const std::string& reasoning, const std::string& text,
                                          const std::optional<std::vector<TokenLogprob>>& logprobs, bool include_usage);
nlohmann::ordered_json chat_chunk_tool_calls(const std::string& id, int64_t created, const std::string& model,
                                             int index, const nlohmann::ordered_json& tool_calls, bool include_usage);
nlohmann::ordered_json chat_chunk_finish(const std::string& id, int64_t created, const std::string& model, int index,
                                         const std::string& finish_reason, bool include_usage);
nlohmann::ordered_json chat_chunk_usage(const std::string& id, int64_t created, const std::string& model,
                                        const Usage& usage);

struct CompletionChoice {
  int index = 0;
  std::string text;
  std::optional<std::vector<TokenLogprob>> logprobs;
  std::string finish_reason;
};
nlohmann::ordered_json text_completion(const std::string& id, int64_t created, const std::string& model,
                                       const std::vector<CompletionChoice>& choices, const Usage& usage);
nlohmann::ordered_json completion_chunk(const std::string& id, int64_t created, const std::string& model, int index,
                                        const std::string& text,
                                        const std::optional<std::vector<TokenLogprob>>& logprobs,
                                        size_t text_offset, const std::optional<std::string>& finish_reason,
                                        bool include_usage);
nlohmann::ordered_json completion_usage_chunk(const std::string& id, int64_t created, const std::string& model,
                                              const Usage& usage);

nlohmann::ordered_json embeddings_list(const std::string& model, const std::vector<std::vector<float>>& embeddings,
                                       bool base64, int prompt_tokens);
// The /v1/rerank response: results best first (the first top_n), each {index, relevance_score,
// document: {text} when return_documents}, and usage.
nlohmann::ordered_json rerank_list(const RerankRequest& request, const RerankResult& result);
nlohmann::ordered_json models_list(const std::vector<std::string>& ids);

}  // namespace rpu
