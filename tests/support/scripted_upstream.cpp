#include "scripted_upstream.h"

#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

namespace rpu::test {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

struct ScriptedUpstream::State {
  httplib::Server server;
  std::thread thread;
  mutable std::mutex mutex;
  std::vector<UpstreamStep> script;
  size_t next = 0;
  std::vector<Clock::time_point> times;
  std::atomic<bool> healthy{true}, stopping{false};

  UpstreamStep take_step() {
    std::lock_guard<std::mutex> lock(mutex);
    times.push_back(Clock::now());
    const UpstreamStep step = script.at(std::min(next, script.size() - 1));
    ++next;
    return step;
  }
  // Sleeps in slices so that stopping the server is not held up; false once stopping.
  bool pause(int ms) const {
    const auto until = Clock::now() + std::chrono::milliseconds(ms);
    while (Clock::now() < until) {
      if (stopping) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return !stopping;
  }
};

namespace {

std::string chunk(const json& choices) {
  return "data: " + json{{"object", "chat.completion.chunk"}, {"choices", choices}}.dump() + "\n\n";
}

// The chat stream of a step: every choice's pieces, the finishes, the usage chunk, [DONE].
void serve_stream(const std::shared_ptr<ScriptedUpstream::State>& state, const UpstreamStep& step, int n,
                  httplib::Response& res) {
  res.set_chunked_content_provider("text/event-stream", [state, step, n](size_t, httplib::DataSink& sink) {
    // Returning false closes the connection without the chunked body's end: a broken stream.
    if (step.kind == UpstreamStep::Kind::drop_before_first) return false;
    if (!state->pause(step.delay_ms)) return false;
    for (const std::string& piece : step.pieces) {
      for (int i = 0; i < n; ++i) {
        const std::string bytes = chunk(json::array({{{"index", i}, {"delta", {{"content", piece}}}}}));
        if (!sink.write(bytes.data(), bytes.size())) return false;
        if (step.kind == UpstreamStep::Kind::drop_after_first) return false;
      }
    }
    std::string tail;
    for (int i = 0; i < n; ++i) {
      tail += chunk(json::array({{{"index", i}, {"delta", json::object()}, {"finish_reason", "stop"}}}));
    }
    tail += "data: " + json{{"choices", json::array()}, {"usage", {{"prompt_tokens", 5}, {"completion_tokens", 2 * n}}}}.dump() +
            "\n\ndata: [DONE]\n\n";
    if (!sink.write(tail.data(), tail.size())) return false;
    sink.done();
    return true;
  });
}

void serve_chat(const std::shared_ptr<ScriptedUpstream::State>& state, const httplib::Request& req,
                httplib::Response& res) {
  UpstreamStep step = state->take_step();
  const json body = json::parse(req.body, nullptr, false);
  const int n = body.is_object() ? body.value("n", 1) : 1;
  if (body.is_object() && body.contains("messages") && !body["messages"].empty()) {
    const json& content = body["messages"].back().value("content", json());
    if (content.is_string() && content.get<std::string>().rfind("delay:", 0) == 0) {
      step.delay_ms = std::stoi(content.get<std::string>().substr(6));
    }
  }
  if (step.kind != UpstreamStep::Kind::status) return serve_stream(state, step, n, res);
  res.status = step.status;
  if (!step.retry_after.empty()) res.set_header("Retry-After", step.retry_after);
  const json error = {{"error", {{"message", "scripted " + std::to_string(step.status)}, {"type", "server_error"}}}};
  res.set_content(error.dump(), "application/json");
}

// POST /v1/rerank: a status step answers its error; any other step scores document i as
// 0.25 * i + (query length), returned best first as llama-server does (top_n ignored).
void serve_rerank(const std::shared_ptr<ScriptedUpstream::State>& state, const httplib::Request& req,
                  httplib::Response& res) {
  const UpstreamStep step = state->take_step();
  if (step.kind == UpstreamStep::Kind::status) {
    res.status = step.status;
    if (!step.retry_after.empty()) res.set_header("Retry-After", step.retry_after);
    res.set_content(json{{"error", {{"message", "scripted " + std::to_string(step.status)}}}}.dump(), "application/json");
    return;
  }
  const json body = json::parse(req.body);
  json results = json::array();
  const size_t n = body["documents"].size();
  for (size_t i = n; i-- > 0;) {
    results.push_back({{"index", i}, {"relevance_score", 0.25 * static_cast<double>(i) + body["query"].get<std::string>().size()}});
  }
  res.set_content(json{{"model", body["model"]}, {"object", "list"}, {"results", results},
                       {"usage", {{"prompt_tokens", 3 * n}, {"total_tokens", 3 * n}}}}.dump(),
                  "application/json");
}

}  // namespace

ScriptedUpstream::ScriptedUpstream(std::vector<UpstreamStep> script) : state_(std::make_shared<State>()) {
  state_->script = std::move(script);
  state_->server.set_keep_alive_timeout(1);
  std::weak_ptr<State> weak = state_;
  state_->server.Post("/v1/chat/completions", [weak](const httplib::Request& req, httplib::Response& res) {
    if (auto state = weak.lock()) serve_chat(state, req, res);
  });
  state_->server.Post("/v1/rerank", [weak](const httplib::Request& req, httplib::Response& res) {
    if (auto state = weak.lock()) serve_rerank(state, req, res);
  });
  state_->server.Get("/health", [weak](const httplib::Request&, httplib::Response& res) {
    auto state = weak.lock();
    res.status = state && state->healthy ? 200 : 503;
    res.set_content(res.status == 200 ? "ok" : "down", "text/plain");
  });
  port_ = state_->server.bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("scripted upstream: no port");
  state_->thread = std::thread([state = state_.get()] { state->server.listen_after_bind(); });
}

ScriptedUpstream::~ScriptedUpstream() {
  state_->stopping = true;
  state_->server.stop();
  state_->thread.join();
}

std::string ScriptedUpstream::base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
std::string ScriptedUpstream::health_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/health"; }

void ScriptedUpstream::set_script(std::vector<UpstreamStep> script) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->script = std::move(script);
  state_->next = 0;
}

void ScriptedUpstream::set_healthy(bool healthy) { state_->healthy = healthy; }

int ScriptedUpstream::requests() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return static_cast<int>(state_->times.size());
}

std::vector<Clock::time_point> ScriptedUpstream::request_times() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->times;
}

bool ScriptedUpstream::wait_for_requests(int n, int timeout_ms) const {
  const auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (requests() < n) {
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

int closed_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace rpu::test
