// `rpu serve`: an OpenAI-compatible HTTP API over a pipeline Backend (a local model with its
// continuous-batching scheduler, possibly wrapped by reasoning). Endpoints: POST /v1/chat/completions, /v1/completions, /v1/embeddings;
// GET /v1/models, /health, /metrics. HTTP details stay in server.cpp (cpp-httplib).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "pipeline/backend.h"

namespace rpu {

// What a named-key authenticator (the gateway's client keys) says of a request's bearer token.
struct AuthDecision {
  enum Outcome { kAllow, kDeny, kRateLimited } outcome = kDeny;
  std::string key_id;             // who it is (request log, usage log, metrics); never the key
  double retry_after_seconds = 0; // kRateLimited: when the key's bucket has a token again
};
// Called with the bearer token of every request but /health (empty when none was sent).
// `counts_towards_limit` is false for GET /metrics: a scraper needs a key, but its scrapes do
// not use up that key's rate limit.
using Authenticator = std::function<AuthDecision(const std::string& token, bool counts_towards_limit)>;

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless asked: the API has no authentication by default
  int port = 8080;                 // 0: any free port (see Server::port())
  std::string api_key;             // when set, requests need "Authorization: Bearer <key>"
  Authenticator authenticate;      // when set, decides instead of api_key
  size_t max_body_bytes = 16u << 20;
  int http_threads = 0;            // 0: 72 (threads serving requests that have sent their headers)
  int header_timeout_seconds = 10;  // a request line + headers must arrive within this (408 after)
  int max_connections_per_client = 64;  // pending (incomplete or idle) connections per client address
  int max_connections = 1000;           // open connections in all
  double shutdown_timeout_seconds = 10;  // after stop(): requests in progress get this long to finish
  std::string log_format = "text";       // request log on stderr: text, json or off
  // A request naming a model this server does not serve gets a 404. When false and one model
  // is served, it answers instead (as llama-server does: agent frameworks send names such as
  // "gpt-4o-mini" by default); a reasoning suffix ("gpt-4o-mini+sc8") is kept.
  bool strict_model = true;
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
  // Serves until stop() is called from another thread (or a signal handler's thread), then
  // drains: requests in progress get `shutdown_timeout_seconds` to finish before their
  // connections are cut (which cancels their generations). False if some request still had
  // not returned after that; its thread may still be using the backend.
  bool run();
  // Stops accepting connections (new ones are refused) and starts the drain; returns at once.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rpu
