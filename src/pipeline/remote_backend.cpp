#include "pipeline/remote_backend.h"

#include "core/json_text.h"

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "pipeline/remote_stream.h"

namespace rpu {
namespace {

using Clock = std::chrono::steady_clock;

void set_timeout(httplib::Client& client, double seconds, bool connect) {
  const auto us = std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6));
  const time_t sec = static_cast<time_t>(us.count() / 1000000);
  const time_t usec = static_cast<time_t>(us.count() % 1000000);
  if (connect) {
    client.set_connection_timeout(sec, usec);
  } else {
    client.set_read_timeout(sec, usec);
  }
}

// An upstream error body, passed on with the upstream's status.
ApiError upstream_error(int status, const std::string& body) {
  try {
    const auto j = parse_json_text<nlohmann::json>(body, "upstream error body");
    const auto& e = j.at("error");
    auto text = [&](const char* key) { return e.contains(key) && e[key].is_string() ? e[key].get<std::string>() : ""; };
    return ApiError(status, "upstream: " + text("message"), text("type").empty() ? "upstream_error" : text("type"),
                    text("param"), text("code"));
  } catch (const std::exception&) {
    return ApiError(status, "upstream answered HTTP " + std::to_string(status) + ": " + body.substr(0, 200),
                    "upstream_error", "", "");
  }
}

}  // namespace

struct RemoteBackend::Call {
  std::mutex mutex;
  std::condition_variable changed;
  bool headers_known = false, ended = false;
  int status = 0;
  std::string error_body, transport_error;
  std::atomic<bool> cancelled{false};
  StreamDecoder decoder;

  Call(int choices, ChatEventSink sink) : decoder(choices, std::move(sink)) {}
};

namespace {

class RemoteCall : public CallHandle {
 public:
  explicit RemoteCall(std::shared_ptr<RemoteBackend::Call> call) : call_(std::move(call)) {}
  void cancel() override { call_->cancelled = true; }

 private:
  std::shared_ptr<RemoteBackend::Call> call_;
};

}  // namespace

RemoteBackend::RemoteBackend(RemoteBackendOptions options)
    : options_(std::move(options)), running_(std::make_shared<std::atomic<int>>(0)) {
  const std::string& url = options_.base_url;
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos || (url.compare(0, scheme_end, "http") != 0 && url.compare(0, scheme_end, "https") != 0)) {
    fail("upstream URL '{}' must start with http:// or https://", url);
  }
  const size_t path_start = url.find('/', scheme_end + 3);
  scheme_host_port_ = url.substr(0, path_start);
  path_prefix_ = path_start == std::string::npos ? "" : url.substr(path_start);
  while (!path_prefix_.empty() && path_prefix_.back() == '/') path_prefix_.pop_back();
  if (options_.model_id.empty()) options_.model_id = options_.model;
}

RemoteBackend::~RemoteBackend() {
  // Calls still streaming hold only shared state; wait briefly so none outlives its sink's owner.
  for (int i = 0; i < 500 && running_->load() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

bool RemoteBackend::accepts_model(const std::string& model) const {
  return model == options_.model_id || options_.model_id.empty();
}

std::unique_ptr<CallHandle> RemoteBackend::start(const std::string& path, nlohmann::ordered_json body, int choices,
                                                 ChatEventSink sink) {
  auto call = std::make_shared<Call>(choices, std::move(sink));
  const RemoteBackendOptions options = options_;
  const std::string host = scheme_host_port_, full_path = path_prefix_ + path, payload = body.dump();
  ++*running_;
  std::thread([call, options, host, full_path, payload, running = running_] {
    httplib::Client client(host);
    client.set_tcp_nodelay(true);
    set_timeout(client, options.connect_timeout_s, true);
    set_timeout(client, options.first_byte_timeout_s, false);
    httplib::Request req;
    req.method = "POST";
    req.path = full_path;
    req.headers = {{"Content-Type", "application/json"}, {"Accept", "text/event-stream"}};
    if (!options.api_key.empty()) req.headers.emplace("Authorization", "Bearer " + options.api_key);
    req.body = payload;
    const auto started = Clock::now();
    req.response_handler = [&](const httplib::Response& r) {
      std::lock_guard<std::mutex> lock(call->mutex);
      call->status = r.status;
      call->headers_known = true;
      call->changed.notify_all();
      return !call->cancelled.load();
    };
    req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
      if (call->cancelled) return false;
      if (std::chrono::duration<double>(Clock::now() - started).count() > options.total_timeout_s) {
        call->decoder.fail("upstream exceeded the total timeout of " + std::to_string(options.total_timeout_s) + " s");
        return false;
      }
      if (call->status != 200) {
        call->error_body.append(data, size);
        return call->error_body.size() < (1u << 20);
      }
      return call->decoder.feed(std::string_view(data, size));
    };
    httplib::Response res;
    httplib::Error error = httplib::Error::Success;
    const bool ok = client.send(req, res, error);
    {
      std::lock_guard<std::mutex> lock(call->mutex);
      if (!ok && !call->headers_known) call->transport_error = httplib::to_string(error);
      call->ended = true;
      call->changed.notify_all();
    }
    if (call->status == 200 && !call->cancelled) call->decoder.finish(ok ? "" : "upstream stream broke: " + httplib::to_string(error));
    --*running;
  }).detach();

  // Wait for the upstream's status so that its refusals are the caller's errors.
  std::unique_lock<std::mutex> lock(call->mutex);
  call->changed.wait(lock, [&] { return call->ended || (call->headers_known && call->status == 200); });
  if (!call->headers_known) {
    const bool timeout = call->transport_error.find("imeout") != std::string::npos ||
                         call->transport_error.find("Read") != std::string::npos;
    throw ApiError(timeout ? 504 : 502, "upstream " + host + " " + (timeout ? "timed out" : "unreachable") + ": " +
                                            call->transport_error,
                   "upstream_error", "", timeout ? "upstream_timeout" : "upstream_unreachable");
  }
  if (call->status != 200) throw upstream_error(call->status, call->error_body);
  return std::make_unique<RemoteCall>(call);
}

std::unique_ptr<CallHandle> RemoteBackend::chat(const ChatRequest& request, ChatEventSink sink) {
  nlohmann::ordered_json body = chat_request_json(request);
  if (!options_.model.empty()) body["model"] = options_.model;
  return start("/chat/completions", std::move(body), request.n, std::move(sink));
}

std::unique_ptr<CallHandle> RemoteBackend::complete(const CompletionRequest& request, ChatEventSink sink) {
  nlohmann::ordered_json body = completion_request_json(request);
  if (!options_.model.empty()) body["model"] = options_.model;
  return start("/completions", std::move(body), static_cast<int>(request.prompts.size()) * request.n, std::move(sink));
}

EmbeddingResult RemoteBackend::embed(const EmbeddingRequest& request) {
  nlohmann::ordered_json body = {{"model", options_.model.empty() ? request.model : options_.model}};
  nlohmann::ordered_json input = nlohmann::ordered_json::array();
  for (const EmbeddingInput& in : request.inputs) {
    if (in.is_tokens) {
      input.push_back(in.tokens);
    } else {
      input.push_back(in.text);
    }
  }
  body["input"] = input;
  if (request.dimensions > 0) body["dimensions"] = request.dimensions;
  httplib::Client client(scheme_host_port_);
  set_timeout(client, options_.connect_timeout_s, true);
  set_timeout(client, options_.first_byte_timeout_s, false);
  httplib::Headers headers;
  if (!options_.api_key.empty()) headers.emplace("Authorization", "Bearer " + options_.api_key);
  auto res = client.Post(path_prefix_ + "/embeddings", headers, body.dump(), "application/json");
  if (!res) {
    throw ApiError(502, "upstream " + scheme_host_port_ + " unreachable: " + httplib::to_string(res.error()),
                   "upstream_error", "", "upstream_unreachable");
  }
  if (res->status != 200) throw upstream_error(res->status, res->body);
  EmbeddingResult result;
  try {
    const auto j = parse_json_text<nlohmann::json>(res->body, "upstream embeddings body");
    for (const auto& item : j.at("data")) result.embeddings.push_back(item.at("embedding").get<std::vector<float>>());
    result.prompt_tokens = j.value("usage", nlohmann::json::object()).value("prompt_tokens", 0);
  } catch (const std::exception& e) {
    throw ApiError(502, std::string("upstream sent an unreadable embeddings body: ") + e.what(), "upstream_error", "", "");
  }
  return result;
}

}  // namespace rpu
