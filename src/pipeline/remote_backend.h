// A Backend over any OpenAI-compatible server (rpu serve, llama-server, vLLM, a hosted API):
// chat and completion calls are streamed upstream (SSE) and their chunks become ChatEvents;
// embeddings are one POST, and so is reranking (POST {base_url}/rerank, as rpu serve and
// llama-server answer it: every document asked for, the scores put back in document order). Used by the gateway for large-model upstreams and rpu replicas.
//
// Faults: a connect timeout, a first-byte timeout (headers of the answer), an optional
// first-token timeout and a total timeout per call. An upstream error status before streaming
// is rethrown as ApiError with the upstream's status, message and Retry-After; an unreachable
// upstream is a 502, a timeout a 504. A failure after streaming began ends the unfinished
// choices with finish_reason "error".
//
// With first_token_timeout_s > 0, chat() / complete() return only once the first event (content
// or a finish) has reached the sink, so that every failure before it is an ApiError a wrapper
// can retry (ResilientBackend): no event within the timeout is a 504 "upstream_timeout", a
// stream that ends before its first event a 502 "upstream_stream_broken"; in both cases the
// sink never hears of the call. The wait polls the request's `cancelled` (ApiError 499).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/backend.h"
#include "pipeline/remote_stream.h"

namespace rpu {

struct RemoteBackendOptions {
  std::string base_url;          // e.g. "http://127.0.0.1:8080/v1" (scheme, host, port, path prefix)
  std::string api_key;           // sent as "Authorization: Bearer ..." when not empty; never logged
  std::string model;             // the upstream's model name; empty: the caller's
  std::string model_id;          // the name this backend answers to (default: model)
  double connect_timeout_s = 5;
  double first_byte_timeout_s = 60;
  double total_timeout_s = 600;
  double first_token_timeout_s = 0;  // > 0: see above; 0: chat() returns at the upstream's status
};

class RemoteBackend : public Backend {
 public:
  // Throws rpu::Error when base_url is not an http(s) URL.
  explicit RemoteBackend(RemoteBackendOptions options);
  ~RemoteBackend() override;

  std::string model_id() const override { return options_.model_id; }
  bool accepts_model(const std::string& model) const override;
  std::unique_ptr<CallHandle> chat(const ChatRequest& request, ChatEventSink sink) override;
  std::unique_ptr<CallHandle> complete(const CompletionRequest& request, ChatEventSink sink) override;
  EmbeddingResult embed(const EmbeddingRequest& request) override;
  RerankResult rerank(const RerankRequest& request) override;

  struct Call;

 private:
  // echoes: per choice, the prompt an echo request's choice starts with (StreamDecoder).
  std::unique_ptr<CallHandle> start(const std::string& path, nlohmann::ordered_json body, int choices,
                                    ChatEventSink sink, const std::function<bool()>& cancelled,
                                    std::vector<StreamDecoder::EchoedPrompt> echoes = {});
  // One POST of a JSON body to {base_url}{path}: the 200 answer's body, else ApiError as above.
  std::string post_json(const std::string& path, const nlohmann::ordered_json& body) const;
  void wait_first_event(Call& call, std::chrono::steady_clock::time_point deadline,
                        const std::function<bool()>& cancelled) const;

  RemoteBackendOptions options_;
  std::string scheme_host_port_, path_prefix_;
  std::shared_ptr<std::atomic<int>> running_;  // calls whose thread has not ended
};

// A Retry-After header value (delta-seconds or an HTTP-date, RFC 9110 10.2.3) as seconds from
// `now` (0 for a date already past); nullopt when it is neither.
std::optional<double> parse_retry_after(std::string_view value,
                                        std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// JSON bodies of the OpenAI API for a pipeline request (what RemoteBackend sends).
nlohmann::ordered_json chat_request_json(const ChatRequest& request);
nlohmann::ordered_json completion_request_json(const CompletionRequest& request);

}  // namespace rpu
