#include "pipeline/remote_backend.h"

#include "core/json_text.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <ctime>
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

ApiError upstream_error_body(int status, const std::string& body) {
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

// An upstream error body, passed on with the upstream's status and its Retry-After (which
// tells a retrying wrapper, or our own caller, when to try again).
ApiError upstream_error(int status, const std::string& body, const std::string& retry_after) {
  ApiError error = upstream_error_body(status, body);
  if (const auto seconds = parse_retry_after(retry_after)) error.retry_after_seconds = *seconds;
  return error;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::optional<double> parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (all_digits(value)) return value.size() > 9 ? 1e9 : std::stod(std::string(value));
  // HTTP-date: IMF-fixdate, or the obsolete RFC 850 and asctime forms a recipient must accept.
  const std::string text(value);
  for (const char* format : {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"}) {
    std::tm tm{};
    const char* end = strptime(text.c_str(), format, &tm);
    if (end == nullptr || *end != '\0') continue;
    const auto when = std::chrono::system_clock::from_time_t(timegm(&tm));
    return std::max(0.0, std::chrono::duration<double>(when - now).count());
  }
  return std::nullopt;
}

struct RemoteBackend::Call {
  std::mutex mutex;
  std::condition_variable changed;
  bool headers_known = false, ended = false;
  int status = 0;
  std::string error_body, transport_error, retry_after;
  std::atomic<bool> cancelled{false};
  // chat() waits for the first event (first_token_timeout_s): until one is delivered, an error
  // finish is held back as `broken` and the call abandoned, so the sink never sees it.
  bool waiting_first = false, delivered = false, broken = false;
  std::string broken_error;
  httplib::Client* client = nullptr;  // while sending: stop() unblocks a silent upstream
  StreamDecoder decoder;

  Call(int choices, ChatEventSink sink)
      : decoder(choices, [this, sink = std::move(sink)](const ChatEvent& e) {
          if (admit(e)) sink(e);
        }) {}

  // Whether an event may reach the sink (none does after cancel()).
  bool admit(const ChatEvent& e) {
    std::lock_guard<std::mutex> lock(mutex);
    if (cancelled) return false;
    if (waiting_first && !delivered && e.finish_reason == "error") {
      broken = true;
      broken_error = e.error;
      cancelled = true;  // the choices' other error finishes are dropped too
      changed.notify_all();
      return false;
    }
    delivered = true;
    changed.notify_all();
    return true;
  }

  void cancel() {
    std::lock_guard<std::mutex> lock(mutex);
    cancelled = true;
    if (client) client->stop();
  }
};

namespace {

class RemoteCall : public CallHandle {
 public:
  explicit RemoteCall(std::shared_ptr<RemoteBackend::Call> call) : call_(std::move(call)) {}
  void cancel() override { call_->cancel(); }

 private:
  std::shared_ptr<RemoteBackend::Call> call_;
};

// The call's thread: one POST to host + path, its SSE body fed to the call's decoder as it
// arrives, the end marked for whoever waits. `running` counts such threads (~RemoteBackend).
void send_call(std::shared_ptr<RemoteBackend::Call> call, RemoteBackendOptions options, std::string host,
               std::string full_path, std::string payload, std::shared_ptr<std::atomic<int>> running) {
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
    call->retry_after = r.get_header_value("Retry-After");
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
  bool go = false;
  {
    std::lock_guard<std::mutex> lock(call->mutex);
    go = !call->cancelled;
    if (go) call->client = &client;
  }
  httplib::Response res;
  httplib::Error error = httplib::Error::Canceled;
  const bool ok = go && client.send(req, res, error);
  {
    std::lock_guard<std::mutex> lock(call->mutex);
    call->client = nullptr;
    if (!ok && !call->headers_known) call->transport_error = httplib::to_string(error);
  }
  // The choices' last events go out before `ended`, so that a caller waiting for the first
  // event sees them (or their absence) once the call has ended.
  if (call->status == 200 && !call->cancelled) call->decoder.finish(ok ? "" : "upstream stream broke: " + httplib::to_string(error));
  {
    std::lock_guard<std::mutex> lock(call->mutex);
    call->ended = true;
    call->changed.notify_all();
  }
  --*running;
}

// Waits for the upstream's status, so that its refusals are the caller's errors: a transport
// failure is a 502 (a timeout a 504), a refusal the upstream's own status and body.
void wait_status(RemoteBackend::Call& call, const std::string& host) {
  std::unique_lock<std::mutex> lock(call.mutex);
  call.changed.wait(lock, [&] { return call.ended || (call.headers_known && call.status == 200); });
  if (!call.headers_known) {
    const bool timeout = call.transport_error.find("imeout") != std::string::npos ||
                         call.transport_error.find("Read") != std::string::npos;
    throw ApiError(timeout ? 504 : 502, "upstream " + host + " " + (timeout ? "timed out" : "unreachable") + ": " +
                                            call.transport_error,
                   "upstream_error", "", timeout ? "upstream_timeout" : "upstream_unreachable");
  }
  if (call.status != 200) throw upstream_error(call.status, call.error_body, call.retry_after);
}

// An embeddings or rerank body's usage.prompt_tokens (0 when the upstream sends none).
int usage_prompt_tokens(const nlohmann::json& body) {
  const nlohmann::json usage = body.value("usage", nlohmann::json::object());
  return static_cast<int>(json_integer(usage, "prompt_tokens", 0, 0, INT32_MAX));
}

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
                                                 ChatEventSink sink, const std::function<bool()>& cancelled,
                                                 std::vector<StreamDecoder::EchoedPrompt> echoes) {
  const auto sent = Clock::now();
  auto call = std::make_shared<Call>(choices, std::move(sink));
  if (!echoes.empty()) call->decoder.expect_echoes(std::move(echoes));
  call->waiting_first = options_.first_token_timeout_s > 0;
  ++*running_;
  std::thread(send_call, call, options_, scheme_host_port_, path_prefix_ + path, body.dump(), running_).detach();
  wait_status(*call, scheme_host_port_);
  if (call->waiting_first) {
    wait_first_event(*call, sent + std::chrono::microseconds(static_cast<int64_t>(options_.first_token_timeout_s * 1e6)),
                     cancelled);
  }
  return std::make_unique<RemoteCall>(call);
}

// Until the first event reached the sink: a timeout, a stream that ended without one, or a
// caller that went away abandons the call (the sink hears nothing) and throws.
void RemoteBackend::wait_first_event(Call& call, std::chrono::steady_clock::time_point deadline,
                                     const std::function<bool()>& cancelled) const {
  std::unique_lock<std::mutex> lock(call.mutex);
  for (;;) {
    // Polled: `cancelled` is the caller's (it may check a socket), so it runs unlocked below.
    call.changed.wait_until(lock, std::min(deadline, Clock::now() + std::chrono::milliseconds(50)),
                            [&] { return call.delivered || call.broken || call.ended; });
    if (call.delivered) {
      call.waiting_first = false;
      return;
    }
    std::optional<ApiError> error;
    if (call.broken || call.ended) {
      error.emplace(502, "upstream " + scheme_host_port_ + " ended the stream before its first token: " +
                             (call.broken_error.empty() ? "no event" : call.broken_error),
                    "upstream_error", "", "upstream_stream_broken");
    } else if (Clock::now() >= deadline) {
      error.emplace(504, "upstream " + scheme_host_port_ + " sent no token within " +
                             std::to_string(options_.first_token_timeout_s) + " s",
                    "upstream_error", "", "upstream_timeout");
    } else if (cancelled) {
      lock.unlock();
      const bool gone = cancelled();
      lock.lock();
      if (gone && !call.delivered) {
        error.emplace(499, "the caller went away; the call was cancelled", "invalid_request_error", "", "cancelled");
      }
    }
    if (!error) continue;
    call.cancelled = true;
    if (call.client) call.client->stop();
    throw *error;
  }
}

std::unique_ptr<CallHandle> RemoteBackend::chat(const ChatRequest& request, ChatEventSink sink) {
  nlohmann::ordered_json body = chat_request_json(request);
  if (!options_.model.empty()) body["model"] = options_.model;
  return start("/chat/completions", std::move(body), request.n, std::move(sink), request.cancelled);
}

std::unique_ptr<CallHandle> RemoteBackend::complete(const CompletionRequest& request, ChatEventSink sink) {
  nlohmann::ordered_json body = completion_request_json(request);
  if (!options_.model.empty()) body["model"] = options_.model;
  std::vector<StreamDecoder::EchoedPrompt> echoes;
  if (request.echo) {
    for (const CompletionPrompt& prompt : request.prompts) {
      StreamDecoder::EchoedPrompt echo;
      if (prompt.is_tokens) {
        echo.tokens = static_cast<int64_t>(prompt.tokens.size());
      } else {
        echo.bytes = prompt.text.size();
      }
      echoes.insert(echoes.end(), static_cast<size_t>(request.n), echo);  // choice index = prompt * n + sample
    }
  }
  return start("/completions", std::move(body), static_cast<int>(request.prompts.size()) * request.n, std::move(sink),
               request.cancelled, std::move(echoes));
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
  const std::string answer = post_json("/embeddings", body);
  EmbeddingResult result;
  try {
    const auto j = parse_json_text<nlohmann::json>(answer, "upstream embeddings body");
    for (const auto& item : j.at("data")) result.embeddings.push_back(item.at("embedding").get<std::vector<float>>());
    result.prompt_tokens = usage_prompt_tokens(j);
  } catch (const std::exception& e) {
    throw ApiError(502, std::string("upstream sent an unreadable embeddings body: ") + e.what(), "upstream_error", "", "");
  }
  return result;
}

std::string RemoteBackend::post_json(const std::string& path, const nlohmann::ordered_json& body) const {
  httplib::Client client(scheme_host_port_);
  set_timeout(client, options_.connect_timeout_s, true);
  set_timeout(client, options_.first_byte_timeout_s, false);
  httplib::Headers headers;
  if (!options_.api_key.empty()) headers.emplace("Authorization", "Bearer " + options_.api_key);
  auto res = client.Post(path_prefix_ + path, headers, body.dump(), "application/json");
  if (!res) {
    throw ApiError(502, "upstream " + scheme_host_port_ + " unreachable: " + httplib::to_string(res.error()),
                   "upstream_error", "", "upstream_unreachable");
  }
  if (res->status != 200) throw upstream_error(res->status, res->body, res->get_header_value("Retry-After"));
  return res->body;
}

// Every document is asked for (no top_n), so the caller gets a score for each whatever the
// upstream's default; the results come back best first and are put back in document order.
RerankResult RemoteBackend::rerank(const RerankRequest& request) {
  validate_rerank_request(request);
  const nlohmann::ordered_json body = {{"model", options_.model.empty() ? request.model : options_.model},
                                       {"query", request.query},
                                       {"documents", request.documents},
                                       {"top_n", request.documents.size()}};
  const std::string answer = post_json("/rerank", body);
  RerankResult result;
  try {
    const auto j = parse_json_text<nlohmann::json>(answer, "upstream rerank body");
    std::vector<std::optional<double>> scores(request.documents.size());
    for (const auto& item : j.at("results")) {
      const int64_t last = static_cast<int64_t>(scores.size()) - 1;
      const auto index = static_cast<size_t>(json_integer(item.at("index"), "a result's index", 0, last));
      scores[index] = item.at("relevance_score").get<double>();
    }
    for (size_t i = 0; i < scores.size(); ++i) {
      if (!scores[i]) throw std::runtime_error("no score for document " + std::to_string(i));
      result.scores.push_back(*scores[i]);
    }
    result.prompt_tokens = usage_prompt_tokens(j);
  } catch (const std::exception& e) {
    throw ApiError(502, std::string("upstream sent an unreadable rerank body: ") + e.what(), "upstream_error", "", "");
  }
  return result;
}

}  // namespace rpu
