#include "server/server.h"

#include <strings.h>

#include <chrono>
#include <cmath>
#include <map>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/error.h"
#include "server/connection_gate.h"
#include "server/handlers.h"
#include "server/request_log.h"

namespace rpu {
namespace {

ConnectionLimits limits_from(const ServerOptions& o) {
  ConnectionLimits limits;
  limits.header_timeout = std::chrono::seconds(std::max(1, o.header_timeout_seconds));
  limits.max_per_client = o.max_connections_per_client;
  limits.max_connections = o.max_connections;
  // Every request in flight holds a worker (streams write from it): the caller sizes the pool
  // for every slot and queued request, plus a few for /health and /metrics.
  limits.workers = o.http_threads > 0 ? o.http_threads : 72;
  limits.max_body_bytes = o.max_body_bytes;
  return limits;
}

// Constant-time comparison: the API key must not leak through response timing.
bool same_secret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// The credentials of "Authorization: Bearer KEY"; the scheme is case-insensitive (RFC 9110).
bool bearer_token(const std::string& auth, std::string& token) {
  constexpr size_t kScheme = 6;  // "Bearer"
  if (auth.size() <= kScheme || strncasecmp(auth.c_str(), "Bearer", kScheme) != 0 || auth[kScheme] != ' ') return false;
  const size_t start = auth.find_first_not_of(' ', kScheme);
  if (start == std::string::npos) return false;
  token = auth.substr(start);
  return true;
}

// `allowed`: the methods of every registered path, so a known path asked with another method
// answers 405 (with Allow), not 404.
void answer_http_error(const std::map<std::string, std::string>& allowed, const httplib::Request& req,
                       httplib::Response& res) {
  // Only errors no handler answered: unknown paths, bodies over the limit, bad HTTP.
  if (!res.body.empty()) return;
  const auto known = res.status == 404 ? allowed.find(req.path) : allowed.end();
  if (known != allowed.end()) {
    res.set_header("Allow", known->second);
    send_error(res, ApiError(405, "method " + req.method + " is not allowed on " + req.path + " (allowed: " +
                                      known->second + ")",
                             "invalid_request_error", "", "method_not_allowed"));
  } else if (res.status == 404) {
    send_error(res, ApiError(404, "no endpoint " + req.method + " " + req.path, "not_found_error", "", "unknown_url"));
  } else if (res.status == 413) {
    send_error(res, ApiError(413, "the request body is larger than the server accepts (--max-body)",
                             "invalid_request_error", "", "request_too_large"));
  } else if (res.status == 405) {
    send_error(res, ApiError(405, "method " + req.method + " is not allowed on " + req.path, "invalid_request_error",
                             "", "method_not_allowed"));
  } else {
    send_error(res, ApiError(res.status, "the HTTP request could not be served", "invalid_request_error", "", ""));
  }
}

}  // namespace

struct Server::Impl {
  ServerContext ctx;
  GatedHttpServer http;
  int port = 0;
  LogFormat log_format;
  std::string key_id;

  Impl(Backend& backend, const ServerOptions& options)
      : ctx{backend, options},
        http(limits_from(options)),
        log_format(parse_log_format(options.log_format)),
        key_id(options.api_key.empty() ? "-" : api_key_id(options.api_key)) {}

  std::map<std::string, std::string> allowed_methods;  // path -> "POST" or "GET, HEAD"

  void install_auth();
  void install_routes();
  // Registers a handler and records its method for the 405 answer.
  void route(const char* method, const std::string& path, httplib::Server::Handler handler);
  void install_request_log();
};

// Requests need the API key (when one is set) or the authenticator's yes, except /health for
// load balancers. A refusal is answered before httplib reads the request's body (pre-routing), so
// the body is still in the socket: the answer says `Connection: close`, or a client reusing the
// connection would have that body parsed as its next request (the official client then saw a
// connection error instead of its next 401).
void Server::Impl::install_auth() {
  auto refuse = [](httplib::Response& res, const ApiError& error) {
    send_error(res, error);
    res.set_header("Connection", "close");
    return httplib::Server::HandlerResponse::Handled;
  };
  http.set_pre_routing_handler([this, refuse](const httplib::Request& req, httplib::Response& res) {
    const std::string& key = ctx.options.api_key;
    const Authenticator& authenticate = ctx.options.authenticate;
    if ((key.empty() && !authenticate) || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    std::string token;
    const bool has_token = bearer_token(auth, token);
    if (authenticate) {
      const AuthDecision decision = authenticate(has_token ? token : std::string(), req.path != "/metrics");
      request_tally().key_id = decision.outcome == AuthDecision::kDeny ? (auth.empty() ? "none" : "invalid") : decision.key_id;
      if (decision.outcome == AuthDecision::kAllow) return httplib::Server::HandlerResponse::Unhandled;
      if (decision.outcome == AuthDecision::kRateLimited) {
        ApiError limited(429, "rate limit reached for key '" + decision.key_id + "'; retry after the Retry-After header's seconds",
                         "rate_limit_error", "", "rate_limit_exceeded");
        limited.retry_after_seconds = decision.retry_after_seconds;
        return refuse(res, limited);
      }
    } else if (has_token && same_secret(token, key)) {
      request_tally().key_id = key_id;
      return httplib::Server::HandlerResponse::Unhandled;
    } else {
      request_tally().key_id = auth.empty() ? "none" : "invalid";
    }
    return refuse(res, ApiError(401,
                                auth.empty() ? "missing API key: send 'Authorization: Bearer <key>'" : "incorrect API key provided",
                                "authentication_error", "", "invalid_api_key"));
  });
}

void Server::Impl::install_routes() {
  // Handlers throw ApiError for the client's mistakes; anything else is the server's.
  auto guarded = [this](void (*handler)(ServerContext&, const httplib::Request&, httplib::Response&),
                        const char* endpoint) {
    return [this, handler, endpoint](const httplib::Request& req, httplib::Response& res) {
      const auto start = std::chrono::steady_clock::now();
      try {
        handler(ctx, req, res);
      } catch (const ApiError& e) {
        send_error(res, e);
      } catch (const Error& e) {
        send_error(res, ApiError(400, e.what(), "invalid_request_error", "", ""));
      } catch (const std::exception& e) {
        // The server's own fault: the client learns only that; the detail goes to the log.
        fmt::print(stderr, "rpu serve: internal error on {} {}: {}\n", req.method, req.path, e.what());
        send_error(res, ApiError(500, "internal server error", "server_error", "", ""));
      }
      return_memory_after_request(req.body.size());
      // Streamed responses report their own latency when the stream ends.
      if (!res.is_chunked_content_provider_) {
        ctx.metrics.on_request_done(endpoint, res.status,
                                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      }
    };
  };
  // Each also without the version prefix, as llama.cpp's server offers.
  for (const char* prefix : {"/v1", ""}) {
    route("POST", std::string(prefix) + "/chat/completions", guarded(&handle_chat_completions, "chat"));
    route("POST", std::string(prefix) + "/completions", guarded(&handle_completions, "completions"));
    route("POST", std::string(prefix) + "/embeddings", guarded(&handle_embeddings, "embeddings"));
    route("POST", std::string(prefix) + "/rerank", guarded(&handle_rerank, "rerank"));
    route("POST", std::string(prefix) + "/reranking", guarded(&handle_rerank, "rerank"));
  }
  // llama-server's own (unversioned) paths.
  route("POST", "/tokenize", guarded(&handle_tokenize, "tokenize"));
  route("POST", "/detokenize", guarded(&handle_detokenize, "detokenize"));
  route("POST", "/apply-template", guarded(&handle_apply_template, "apply-template"));
  route("GET", "/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, models_list(ctx.backend.model_ids()));
  });
  route("GET", "/health", [](const httplib::Request&, httplib::Response& res) { send_json(res, 200, {{"status", "ok"}}); });
  route("GET", "/metrics", [this](const httplib::Request&, httplib::Response& res) {
    const BackendLoad load = ctx.backend.load();
    ctx.metrics.set_queue_depth(load.queued);
    ctx.metrics.set_active_sequences(load.active_sequences);
    ctx.metrics.set_kv_cache_bytes(load.kv_bytes_in_use, load.kv_bytes_mapped);
    res.set_content(ctx.metrics.render() + ctx.backend.metrics_text(), "text/plain; version=0.0.4; charset=utf-8");
  });
  http.set_error_handler(
      [this](const httplib::Request& req, httplib::Response& res) { answer_http_error(allowed_methods, req, res); });
}

void Server::Impl::route(const char* method, const std::string& path, httplib::Server::Handler handler) {
  if (std::string_view(method) == "POST") {
    http.Post(path, std::move(handler));
    allowed_methods[path] = "POST";
  } else {
    http.Get(path, std::move(handler));  // httplib also answers HEAD with a GET handler
    allowed_methods[path] = "GET, HEAD";
  }
}

// One line per request: httplib's logger runs on the worker thread after the response (a
// stream included) was written, so the thread's tally holds the request's tokens.
void Server::Impl::install_request_log() {
  http.on_request_begin = [] { request_tally() = RequestTally{}; };
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    RequestTally& tally = request_tally();
    RequestLogLine line{req.remote_addr, req.method, req.path, res.status, tally.prompt_tokens, tally.completion_tokens,
                        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - tally.start).count(),
                        tally.key_id};
    if (res.content_provider_ && !res.content_provider_success_) line.status = 499;  // the client went away
    if (tally.status != 0) line.status = tally.status;
    write_request_log(line, log_format);
    tally = RequestTally{};
  });
  http.on_gate_answer = [this](const GateAnswer& a) {
    write_request_log({a.client, a.method, a.path, a.status, 0, 0, a.ms, "-"}, log_format);
  };
}

Server::Server(Backend& backend, const ServerOptions& options) : impl_(std::make_unique<Impl>(backend, options)) {
  httplib::Server& http = impl_->http;
  http.set_payload_max_length(options.max_body_bytes);
  keep_large_allocations_returnable();
  // Only SO_REUSEADDR (a restart may bind while old connections linger in TIME_WAIT). httplib's
  // default also sets SO_REUSEPORT, with which a second server bound the same port and the
  // kernel split connections between the two.
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  // Streams write one small chunk per token: without TCP_NODELAY, Nagle's algorithm holds a
  // chunk until the previous one is acknowledged, and a client's delayed ACK stalls it ~40 ms.
  http.set_tcp_nodelay(true);
  impl_->install_auth();
  impl_->install_routes();
  impl_->install_request_log();
  impl_->http.on_drain_deadline = [this] { impl_->ctx.shutting_down = true; };
}

Server::~Server() { stop(); }

void Server::bind() {
  const ServerOptions& o = impl_->ctx.options;
  if (o.port == 0) {
    impl_->port = impl_->http.bind_to_any_port(o.host);
    if (impl_->port < 0) fail("cannot listen on {}: no free port", o.host);
  } else {
    if (!impl_->http.bind_to_port(o.host, o.port)) {
      fail("cannot listen on {}:{}: the port is in use by another process, or the address is not one of this machine, "
           "or not permitted",
           o.host, o.port);
    }
    impl_->port = o.port;
  }
  impl_->http.widen_listen_backlog();
}

int Server::port() const { return impl_->port; }

bool Server::run() {
  impl_->http.start();
  impl_->http.listen_after_bind();
  const double timeout = std::max(0.0, impl_->ctx.options.shutdown_timeout_seconds);
  return impl_->http.drain(std::chrono::milliseconds(static_cast<int64_t>(std::llround(timeout * 1000))));
}

void Server::stop() { impl_->http.stop_listening(); }

}  // namespace rpu
