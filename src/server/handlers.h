// What the endpoint handlers share, and the handlers themselves (one file each). Internal to
// src/server: includes cpp-httplib. Handlers only translate between the OpenAI JSON and the
// pipeline (src/pipeline/backend.h); the model work happens behind the Backend.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "pipeline/backend.h"
#include "server/metrics.h"
#include "server/openai_protocol.h"
#include "server/server.h"

namespace rpu {

struct ServerContext {
  ServerContext(Backend& b, const ServerOptions& o) : backend(b), options(o) {}

  Backend& backend;
  ServerOptions options;
  ServerMetrics metrics;
  // Set when a shutdown's drain deadline passes: responses in progress end at once with an
  // error (generation_stream.cpp) before their connections are cut.
  std::atomic<bool> shutting_down{false};
};

// Each handler validates the request, answers errors with an OpenAI error body, and serves
// the result (streamed as Server-Sent Events when asked).
void handle_chat_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_embeddings(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_rerank(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
// llama-server's tokenizer and template endpoints (tokenize_handler.cpp).
void handle_tokenize(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_detokenize(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_apply_template(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);

// What the request log reports of the request the calling thread serves (each request is
// served, streamed responses included, on one HTTP worker thread).
struct RequestTally {
  int64_t prompt_tokens = 0, completion_tokens = 0;
  std::string key_id = "-";
  int status = 0;  // when set, what the log reports instead of the response's status
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
};
RequestTally& request_tally();

// Shared plumbing (server_io.cpp).
void send_json(httplib::Response& res, int status, const nlohmann::ordered_json& body);
void send_error(httplib::Response& res, const ApiError& error);
// After a request whose body had body_bytes, hands freed memory back to the system when the
// body was large: glibc keeps the freed parse trees and grammars of a big request in its
// arenas otherwise (RSS stayed above 1 GB after requests of a few MB each).
void return_memory_after_request(size_t body_bytes);
// Called once at server start: see server_io.cpp.
void keep_large_allocations_returnable();
// Fills the request's client_key_id (from the authenticated key) and task (X-Rpu-Task).
void tag_caller(GenerationFields& fields, const httplib::Request& req);
// Checks that `model` names the served model (OpenAI clients always send one).
// Refuses a model this server does not serve (404), or, without strict_model, rewrites the
// name to the one model served: for /v1/rerank (`for_rerank`) the reranker served beside a
// chat model (Backend::default_reranker), elsewhere the one model besides that reranker.
void check_model_name(const ServerContext& ctx, std::string& model, bool for_rerank = false);

}  // namespace rpu
