// What the endpoint handlers share, and the handlers themselves (one file each). Internal to
// src/server: includes cpp-httplib.
#pragma once

#include <httplib.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "engine/scheduler.h"
#include "model/model.h"
#include "server/metrics.h"
#include "server/openai_protocol.h"
#include "server/server.h"
#include "server/tool_calls.h"
#include "text/chat_template.h"
#include "text/grammar.h"
#include "text/tokenizer.h"

namespace rpu {

struct ServerContext {
  ServerContext(const Model& m, const Tokenizer& t, Scheduler& s, const ServerOptions& o)
      : model(m), tokenizer(t), scheduler(s), options(o) {}

  const Model& model;
  const Tokenizer& tokenizer;
  Scheduler& scheduler;
  ServerOptions options;
  ServerMetrics metrics;
  std::optional<ChatTemplate> chat_template;  // none: chat requests are refused
  ToolCallFormat tool_format = ToolCallFormat::kGeneric;
  bool template_has_system_role = true;  // false: tool instructions travel in the user turn
  std::string bos_text, eos_text;  // the template's bos_token / eos_token

  // The token trie constrained decoding walks, built on first use (it costs a pass over the
  // vocabulary) and shared by every request.
  std::shared_ptr<const GrammarVocab> grammar_vocab();

 private:
  std::once_flag grammar_vocab_once_;
  std::shared_ptr<const GrammarVocab> grammar_vocab_;
};

// Each handler validates the request, answers errors with an OpenAI error body, and serves
// the result (streamed as Server-Sent Events when asked).
void handle_chat_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_embeddings(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);

// Shared plumbing (server_io.cpp).
void send_json(httplib::Response& res, int status, const nlohmann::ordered_json& body);
void send_error(httplib::Response& res, const ApiError& error);
// Checks that `model` names the served model (OpenAI clients always send one).
void check_model_name(const ServerContext& ctx, const std::string& model);
// A seed for requests that do not give one.
uint64_t random_seed();

}  // namespace rpu
