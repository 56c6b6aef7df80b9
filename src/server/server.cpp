#include "server/server.h"

#include <chrono>
#include <thread>

#include "core/error.h"
#include "server/handlers.h"

namespace rpu {

struct Server::Impl {
  ServerContext ctx;
  httplib::Server http;
  int port = 0;

  Impl(Backend& backend, const ServerOptions& options) : ctx{backend, options} {}
};

namespace {

// Constant-time comparison: the API key must not leak through response timing.
bool same_secret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

Server::Server(Backend& backend, const ServerOptions& options) : impl_(std::make_unique<Impl>(backend, options)) {
  httplib::Server& http = impl_->http;
  // Every request in flight holds an HTTP thread (streams write from it): the caller sizes the
  // pool for every slot and queued request, plus a few for /health and /metrics.
  const int threads = options.http_threads > 0 ? options.http_threads : 72;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http.set_payload_max_length(options.max_body_bytes);
  keep_large_allocations_returnable();
  http.set_read_timeout(60);
  http.set_write_timeout(60);
  http.set_keep_alive_max_count(1000);
  // Streams write one small chunk per token: without TCP_NODELAY, Nagle's algorithm holds a
  // chunk until the previous one is acknowledged, and a client's delayed ACK stalls it ~40 ms.
  http.set_tcp_nodelay(true);

  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    const ServerContext& c = impl_->ctx;
    if (c.options.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (auth.compare(0, prefix.size(), prefix) == 0 && same_secret(auth.substr(prefix.size()), c.options.api_key)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    send_error(res, ApiError(401,
                             auth.empty() ? "missing API key: send 'Authorization: Bearer <key>'" : "incorrect API key provided",
                             "authentication_error", "", "invalid_api_key"));
    return httplib::Server::HandlerResponse::Handled;
  });

  // Handlers throw ApiError for the client's mistakes; anything else is the server's.
  auto guarded = [this](void (*handler)(ServerContext&, const httplib::Request&, httplib::Response&),
                        const char* endpoint) {
    return [this, handler, endpoint](const httplib::Request& req, httplib::Response& res) {
      const auto start = std::chrono::steady_clock::now();
      try {
        handler(impl_->ctx, req, res);
      } catch (const ApiError& e) {
        send_error(res, e);
      } catch (const Error& e) {
        send_error(res, ApiError(400, e.what(), "invalid_request_error", "", ""));
      } catch (const std::exception& e) {
        send_error(res, ApiError(500, std::string("internal error: ") + e.what(), "server_error", "", ""));
      }
      return_memory_after_request(req.body.size());
      // Streamed responses report their own latency when the stream ends.
      if (!res.is_chunked_content_provider_) {
        impl_->ctx.metrics.on_request_done(
            endpoint, res.status,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      }
    };
  };
  http.Post("/v1/chat/completions", guarded(&handle_chat_completions, "chat"));
  http.Post("/v1/completions", guarded(&handle_completions, "completions"));
  http.Post("/v1/embeddings", guarded(&handle_embeddings, "embeddings"));
  // Aliases without the version prefix, as llama.cpp's server offers.
  http.Post("/chat/completions", guarded(&handle_chat_completions, "chat"));
  http.Post("/completions", guarded(&handle_completions, "completions"));
  http.Post("/embeddings", guarded(&handle_embeddings, "embeddings"));

  http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, models_list({impl_->ctx.backend.model_id()}));
  });
  http.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"status", "ok"}});
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    ServerContext& c = impl_->ctx;
    const BackendLoad load = c.backend.load();
    c.metrics.set_queue_depth(load.queued);
    c.metrics.set_active_sequences(load.active_sequences);
    res.set_content(c.metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    // Only errors no handler answered: unknown paths, bodies over the limit, bad HTTP.
    if (!res.body.empty()) return;
    if (res.status == 404) {
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
  });
}

Server::~Server() { stop(); }

void Server::bind() {
  const ServerOptions& o = impl_->ctx.options;
  if (o.port == 0) {
    impl_->port = impl_->http.bind_to_any_port(o.host);
    if (impl_->port < 0) fail("cannot listen on {}: no free port", o.host);
  } else {
    if (!impl_->http.bind_to_port(o.host, o.port)) {
      fail("cannot listen on {}:{} (address in use, not an address of this machine, or not permitted)", o.host, o.port);
    }
    impl_->port = o.port;
  }
}

int Server::port() const { return impl_->port; }

void Server::run() { impl_->http.listen_after_bind(); }

void Server::stop() {
  if (impl_->http.is_running()) impl_->http.stop();
}

}  // namespace rpu
