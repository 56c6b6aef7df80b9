// `rpu serve`: an OpenAI-compatible HTTP API over one model and its continuous-batching
// scheduler. Endpoints: POST /v1/chat/completions, /v1/completions, /v1/embeddings;
// GET /v1/models, /health, /metrics. HTTP details stay in server.cpp (cpp-httplib).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "engine/scheduler.h"
#include "model/model.h"
#include "text/tokenizer.h"

namespace rpu {

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless asked: the API has no authentication by default
  int port = 8080;                 // 0: any free port (see Server::port())
  std::string api_key;             // when set, requests need "Authorization: Bearer <key>"
  std::string model_id;            // the name /v1/models reports and requests may use
  std::string chat_template;       // Jinja source; empty: the model's own (tokenizer.chat_template)
  size_t max_body_bytes = 16u << 20;
  int http_threads = 0;            // 0: enough for every slot and queued request
};

class Server {
 public:
  Server(const Model& model, const Tokenizer& tokenizer, Scheduler& scheduler, const ServerOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket (throws rpu::Error naming host and port on failure).
  void bind();
  int port() const;
  // Serves until stop() is called from another thread (or a signal handler's thread).
  void run();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rpu
