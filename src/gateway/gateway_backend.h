// `rpu gateway`'s Backend: routes each call (router.h) to the route's target (a local model,
// rpu serve replicas, or a large-model upstream), and records it (call_trace.h) into the
// usage log through the scrubber (call_logger.h). Per route:
//   - plain:    the target answers, streamed through as it comes; when the target fails
//               before answering (upstream down, circuit open, 5xx after retries, a 200 whose
//               body is no event stream or breaks before its first token) and the route has
//               a fallback, the fallback answers instead;
//   - cascade:  the target (the small model, with the route's reasoning strategy if any)
//               answers first, in full; cascade.h decides whether that answer stands. If not,
//               the upstream answers the original request, streamed to the client. If the
//               upstream then fails, the small model's answer is returned after all (marked
//               not escalated, with the upstream's failure as the escalation reason);
//   - shadow:   a share of the calls also goes to the shadow target in the background; its
//               answer is logged (kind "shadow"), never returned.
// Every answer's last event carries {"gateway": {route, answered_by, escalated, confidence}}
// in its extension (the server returns it as the response's "rpu" field).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gateway/config.h"
#include "gateway/gateway_metrics.h"
#include "gateway/router.h"
#include "pipeline/backend.h"

namespace rpu::gateway {

class CallLogger;
class CascadeJudge;
struct UsageRecord;

class GatewayBackend : public Backend {
 public:
  // `locals`: the config's local models, built by the caller (which can load model files),
  // by name. Upstreams and replica sets are built here (their API keys read from the
  // environment: a missing variable is a ConfigError). `logger` may be null (no usage log).
  GatewayBackend(const GatewayConfig& config, std::map<std::string, Backend*> locals, CallLogger* logger);
  ~GatewayBackend() override;

  std::string model_id() const override;
  std::vector<std::string> model_ids() const override { return router_.model_names(); }
  bool accepts_model(const std::string& model) const override;
  int choice_count(const ChatRequest& request) const override;
  std::unique_ptr<CallHandle> chat(const ChatRequest& request, ChatEventSink sink) override;
  std::unique_ptr<CallHandle> complete(const CompletionRequest& request, ChatEventSink sink) override;
  EmbeddingResult embed(const EmbeddingRequest& request) override;
  BackendLoad load() const override;
  std::string metrics_text() const override;

  // The conversion loop's task classifier (router.h); set before serving.
  void set_classifier(TaskClassifier classifier) { router_.set_classifier(std::move(classifier)); }
  GatewayMetrics& metrics() { return metrics_; }
  // Waits for shadow calls still running (tests, shutdown).
  void wait_for_shadows() const;

 private:
  struct Route;
  Backend& target(const std::string& name) const;
  ChatRequest for_target(const ChatRequest& request, const Route& route, Backend& target) const;
  std::unique_ptr<CallHandle> forward(const Route& route, const ChatRequest& request, ChatEventSink sink,
                                      const std::shared_ptr<class CallTrace>& trace);
  std::unique_ptr<CallHandle> cascade(const Route& route, const ChatRequest& request, ChatEventSink sink,
                                      const std::shared_ptr<class CallTrace>& trace);
  void maybe_shadow(const Route& route, const ChatRequest& request);
  std::shared_ptr<class CallTrace> make_trace(int choices, const std::string& key_id, std::string request_json);
  void record(UsageRecord record);

  GatewayConfig config_;
  Router router_;
  std::vector<std::unique_ptr<Route>> routes_;
  std::map<std::string, Backend*> targets_;            // every target by name
  std::vector<std::unique_ptr<Backend>> owned_;        // the remotes built here
  std::vector<Backend*> locals_;
  CallLogger* logger_;
  GatewayMetrics metrics_;
  std::shared_ptr<std::atomic<int>> shadows_running_;
};

// A Backend for an upstream or a replica set of the config (remotes.cpp). Throws
// ConfigError when its api_key_env names a variable that is not set.
std::unique_ptr<Backend> make_remote_backend(const RemoteConfig& remote, const std::string& config_file);
// The same check of every remote's api_key_env alone, before anything slow starts.
void check_remote_environment(const GatewayConfig& config);

}  // namespace rpu::gateway
