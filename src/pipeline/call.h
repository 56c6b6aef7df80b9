// What a caller asks of a model, independent of HTTP: the OpenAI request shapes (chat,
// completions, embeddings) that agent frameworks send, and reranking as Jina, Cohere and
// llama-server shape it, already validated. The server parses
// JSON into these (src/server/openai_request.cpp); the CLI fills them from flags; reasoning,
// retrieval and routing read and rewrite them before a Backend runs them.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "decode/copy_matcher.h"
#include "decode/sampler.h"

namespace rpu {

// A caller's mistake (or a refusal), with the HTTP status and the OpenAI error fields the
// server answers it with: {"error": {"message", "type", "param", "code"}}. Thrown by every
// layer that validates a request, so the CLI and the server report the same message.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& message, std::string type = "invalid_request_error", std::string param = "",
           std::string code = "")
      : std::runtime_error(message), status(status), type(std::move(type)), param(std::move(param)), code(std::move(code)) {}
  // A 400 invalid_request_error naming the request field at fault.
  static ApiError bad_request(std::string param, const std::string& message) {
    return ApiError(400, message, "invalid_request_error", std::move(param));
  }
  int status;
  std::string type, param, code;  // empty param / code are sent as null
  // > 0: when the caller may try again (an upstream's or a rate limiter's Retry-After), sent
  // back as the Retry-After header.
  double retry_after_seconds = 0;
};

// Fields every generating call shares.
struct GenerationFields {
  std::string model;
  int max_tokens = -1;  // -1: until the context is full
  int n = 1;
  SamplingParams sampling;  // OpenAI defaults: temperature 1, top_p 1, no top-k / min-p
  bool has_seed = false;
  std::vector<std::string> stop;
  bool stream = false;          // transport hint: how the caller wants the events delivered
  bool include_usage = false;   // transport hint (stream_options.include_usage)
  bool ignore_eos = false;
  // Optional: true once the caller has gone away. Polled by CPU-heavy preparation (template
  // rendering, schema and grammar building) and by blocking calls (run_chat/run_completion,
  // reasoning), which then stop with ApiError 499.
  std::function<bool()> cancelled;
  // Who is calling and for what, as the transport saw it (the gateway routes and logs by
  // these): the id of the client's API key ("-" when none) and the task header (X-Rpu-Task).
  std::string client_key_id;
  std::string task;
};

struct ChatRequest : GenerationFields {
  nlohmann::ordered_json messages;              // array of message objects
  nlohmann::ordered_json tools;                 // array or null
  nlohmann::ordered_json tool_choice;           // "none" | "auto" | "required" | {function: {name}} | null
  nlohmann::ordered_json response_format;       // object or null
  nlohmann::ordered_json chat_template_kwargs;  // object or null
  nlohmann::ordered_json reasoning;             // rpu extension (src/reasoning), object or null
  nlohmann::ordered_json knowledge;             // rpu extension (src/retrieval), object or null
  // GBNF the answer must follow (llama-server's "grammar" field; root rule "root"); empty: none.
  // Not combinable with response_format json_* or a forced tool call, which make their own.
  std::string grammar;
  // The request field the grammar came from, named by its errors ("knowledge.extractive" when a
  // wrapper made it).
  std::string grammar_param = "grammar";
  // rpu extension (decode/copy_matcher.h): JSON keys whose string values the answer must copy
  // verbatim from the request's messages (not the assistant's); empty: none. The conversion
  // loop's routes set it for the keys a cluster's teacher always copies.
  std::vector<CopyField> copy_fields;
  // rpu extension (decode/calculator.h): the results of the arithmetic steps the answer writes
  // ("27 + 26 =") are computed, not left to the model. The conversion loop's routes set it for
  // a cluster whose teacher writes its arithmetic out.
  bool calculator = false;
  // With the calculator: -1 writes results as calculator_spelling does; N >= 0 writes every
  // result with N decimals ({"decimals": N}; a route whose teacher writes them so).
  int calculator_decimals = -1;
  // rpu-internal (a gateway route's force_tool_call): with tool_choice "auto", the answer must
  // still be a tool call, enforced by the grammar alone: the prompt stays as the caller sent it
  // ("required" would add an instruction a specialist trained on the logged calls never saw).
  bool tool_call_required = false;
  // A "<think>...</think>" span leading the answer goes to reasoning_content (think_split.h);
  // false ("reasoning_format": "none", llama-server's name): the output is content as written.
  bool split_reasoning = true;
  bool logprobs = false;
  int top_logprobs = 0;
};

struct CompletionPrompt {
  std::string text;
  std::vector<int32_t> tokens;
  bool is_tokens = false;
};

struct CompletionRequest : GenerationFields {
  std::vector<CompletionPrompt> prompts;  // one generation each
  bool echo = false;
  int logprobs = -1;           // -1: none; 0..20 alternatives (legacy format)
  bool parse_special = true;   // special tokens written in a text prompt are parsed (as llama.cpp)
  bool add_special = true;     // the model's BOS is added to a text prompt (false: it has its own)
};

struct EmbeddingInput {
  std::string text;
  std::vector<int32_t> tokens;
  bool is_tokens = false;
};

struct EmbeddingRequest {
  std::string model;
  std::vector<EmbeddingInput> inputs;
  bool base64 = false;
  int dimensions = 0;  // 0: not given
  std::string client_key_id;  // as in GenerationFields
  std::function<bool()> cancelled;  // as in GenerationFields: polled while the inputs wait
};

// Relevance of each document to a query, by a cross-encoder (a reranking model).
struct RerankRequest {
  std::string model;
  std::string query;
  std::vector<std::string> documents;  // at least one: the text each document is scored by
  // The documents as the client sent them, echoed by return_documents in the same shape: a
  // Cohere-style object ({"text": ..., other fields}) comes back whole; a plain string (or an
  // empty array: every document a string) comes back as Jina and Cohere send it, {"text": ...}.
  nlohmann::ordered_json documents_as_sent = nlohmann::ordered_json::array();
  // How the caller wants the answer presented (the server's /v1/rerank); backends score every
  // document whatever these say, so a wrapper or an upstream never drops a score.
  int top_n = 0;                  // 0: every document
  bool return_documents = false;
  std::string client_key_id;      // as in GenerationFields
  std::function<bool()> cancelled;  // as in GenerationFields: polled while the pairs wait
};

struct RerankResult {
  std::vector<double> scores;  // one per document, in the request's order; higher = more relevant
  int prompt_tokens = 0;       // tokens of every (query, document) pair read
};

// The documents' indexes best first (ties keep the request's order), the first top_n of them
// (top_n <= 0: all).
std::vector<size_t> rerank_order(const std::vector<double>& scores, int top_n);
// ApiError 400 naming the field for a request no reranker can answer (no documents, top_n < 0).
void validate_rerank_request(const RerankRequest& request);

struct Usage {
  int prompt_tokens = 0, completion_tokens = 0, total_tokens = 0, cached_tokens = 0;
  int reasoning_tokens = 0;  // of the completion tokens, those in a reasoning span
};

}  // namespace rpu
