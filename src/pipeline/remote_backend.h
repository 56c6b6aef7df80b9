// A Backend over any OpenAI-compatible server (rpu serve, llama-server, vLLM, a hosted API):
// chat and completion calls are streamed upstream (SSE) and their chunks become ChatEvents;
// embeddings are one POST. Used by the gateway for large-model upstreams and rpu replicas.
//
// Faults: a connect timeout, a first-byte timeout (headers of the answer) and a total
// timeout per call. An upstream error status before streaming is rethrown as ApiError with
// the upstream's status and message; an unreachable upstream is a 502, a timeout a 504. A
// failure after streaming began ends the unfinished choices with finish_reason "error".
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "pipeline/backend.h"

namespace rpu {

struct RemoteBackendOptions {
  std::string base_url;          // e.g. "http://127.0.0.1:8080/v1" (scheme, host, port, path prefix)
  std::string api_key;           // sent as "Authorization: Bearer ..." when not empty; never logged
  std::string model;             // the upstream's model name; empty: the caller's
  std::string model_id;          // the name this backend answers to (default: model)
  double connect_timeout_s = 5;
  double first_byte_timeout_s = 60;
  double total_timeout_s = 600;
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

  struct Call;

 private:
  std::unique_ptr<CallHandle> start(const std::string& path, nlohmann::ordered_json body, int choices,
                                    ChatEventSink sink);

  RemoteBackendOptions options_;
  std::string scheme_host_port_, path_prefix_;
  std::shared_ptr<std::atomic<int>> running_;  // calls whose thread has not ended
};

// JSON bodies of the OpenAI API for a pipeline request (what RemoteBackend sends).
nlohmann::ordered_json chat_request_json(const ChatRequest& request);
nlohmann::ordered_json completion_request_json(const CompletionRequest& request);

}  // namespace rpu
