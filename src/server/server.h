// `rpu serve`: an OpenAI-compatible HTTP API over a pipeline Backend (a local model with its
// continuous-batching scheduler, possibly wrapped by reasoning). Endpoints: POST /v1/chat/completions, /v1/completions, /v1/embeddings;
// GET /v1/models, /health, /metrics. HTTP details stay in server.cpp (cpp-httplib).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "pipeline/backend.h"

namespace rpu {

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless asked: the API has no authentication by default
  int port = 8080;                 // 0: any free port (see Server::port())
  std::string api_key;             // when set, requests need "Authorization: Bearer <key>"
  size_t max_body_bytes = 16u << 20;
  int http_threads = 0;            // 0: 72
};

class Server {
 public:
  Server(Backend& backend, const ServerOptions& options);
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
