// What the endpoint handlers share, and the handlers themselves (one file each). Internal to
// src/server: includes cpp-httplib. Handlers only translate between the OpenAI JSON and the
// pipeline (src/pipeline/backend.h); the model work happens behind the Backend.
#pragma once

#include <httplib.h>

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
};

// Each handler validates the request, answers errors with an OpenAI error body, and serves
// the result (streamed as Server-Sent Events when asked).
void handle_chat_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_embeddings(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);

// Shared plumbing (server_io.cpp).
void send_json(httplib::Response& res, int status, const nlohmann::ordered_json& body);
void send_error(httplib::Response& res, const ApiError& error);
// After a request whose body had body_bytes, hands freed memory back to the system when the
// body was large: glibc keeps the freed parse trees and grammars of a big request in its
// arenas otherwise (RSS stayed above 1 GB after requests of a few MB each).
void return_memory_after_request(size_t body_bytes);
// Called once at server start: see server_io.cpp.
void keep_large_allocations_returnable();
// Checks that `model` names the served model (OpenAI clients always send one).
void check_model_name(const ServerContext& ctx, const std::string& model);

}  // namespace rpu
