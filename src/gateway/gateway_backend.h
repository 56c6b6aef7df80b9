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
//   - scrub_input: the target gets the call scrubbed of personal data and its answer's
//               placeholders are restored before the client and the log see it (unscrub.h);
//   - shadow:   a share of the calls also goes to the shadow target in the background; its
//               answer is logged (kind "shadow"), never returned.
// Every answer's last event carries {"gateway": {route, answered_by, escalated, confidence}}
// in its extension (the server returns it as the response's "rpu" field).
//
// Hot reload: everything a call routes with (the merged config, the Router, the routes with
// their judges, the targets) is one immutable Table behind a shared_ptr. A call takes the
// current table when it starts and keeps it (in its sink and its handle) until it ends, so a
// swap never changes a call in flight. With `routes_file:` set, one thread polls the file's
// modification time, size and inode every second and rebuilds the table when they change;
// a reload that fails in any way keeps the old table whole (logged on stderr, counted in
// rpu_gateway_reloads_total{outcome="error"}). Targets are cached by their config, so an
// unchanged model or upstream is reused, never reloaded; a target no table refers to any
// more is released by the polling thread once the last call using it has ended (so a model
// is never destroyed on one of its own threads).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gateway/config.h"
#include "gateway/gateway_metrics.h"
#include "gateway/router.h"
#include "gateway/scrub.h"
#include "pipeline/backend.h"

namespace rpu::retrieval {
class KnowledgeLibrary;
}

namespace rpu::gateway {

class CallLogger;
class CascadeJudge;
struct UsageRecord;

// Loads a local model of the config (the gateway library cannot read model files itself).
// Throws on failure; called from the constructor and the reload thread, never concurrently.
using LocalModelFactory = std::function<std::shared_ptr<Backend>(const LocalModelConfig&)>;

// A call that offers tools and ends with the user's turn, with no tool_choice (or "auto"), must
// be answered with a tool call (ChatRequest::tool_call_required; a route's force_tool_call,
// and convert's S4 evaluates so).
void require_tool_call_on_user_turn(ChatRequest& request);
// A call that asks for no output format (response_format absent or "text"), no grammar and
// offers no tools must be answered with a JSON value of `schema` (response_format json_schema;
// a route's answer_schema, and convert's S4 evaluates so). A null schema changes nothing.
void require_answer_schema(ChatRequest& request, const nlohmann::ordered_json& schema);

class GatewayBackend : public Backend {
 public:
  // `factory` builds the local models of the config and of its routes file. Upstreams and
  // replica sets are built here (their API keys read from the environment: a missing
  // variable is a ConfigError). `logger` may be null (no usage log). The routes file is read
  // here too: a mistake in it at start is a ConfigError, like one in the main config.
  GatewayBackend(const GatewayConfig& config, LocalModelFactory factory, CallLogger* logger);
  // Local models built by the caller, by name (borrowed; a routes file may only use these).
  GatewayBackend(const GatewayConfig& config, std::map<std::string, Backend*> locals, CallLogger* logger);
  ~GatewayBackend() override;

  std::string model_id() const override;
  std::vector<std::string> model_ids() const override;
  bool accepts_model(const std::string& model) const override;
  int choice_count(const ChatRequest& request) const override;
  std::unique_ptr<CallHandle> chat(const ChatRequest& request, ChatEventSink sink) override;
  std::unique_ptr<CallHandle> complete(const CompletionRequest& request, ChatEventSink sink) override;
  EmbeddingResult embed(const EmbeddingRequest& request) override;
  // By model name like embed(): the route's target scores (a cross-encoder, local or upstream).
  RerankResult rerank(const RerankRequest& request) override;
  // The model or upstream `target` (a name under models: or upstreams:) reranks, looked up in
  // the current table per call: the knowledge bases' reranker (knowledge_reranker:). ApiError
  // 503 when a reload dropped it.
  RerankResult rerank_on(const std::string& target, const RerankRequest& request) const;
  BackendLoad load() const override;
  std::string metrics_text() const override;

  // A task classifier hook (router.h), asked after the config's `classifier:` (task_classifier.h)
  // found no route; set before serving.
  void set_classifier(TaskClassifier classifier);
  // The knowledge bases calls may name ("knowledge" extension, or a route's default), built by
  // the caller from the config's knowledge_bases: (borrowed; set before serving).
  void set_knowledge(retrieval::KnowledgeLibrary* library) { knowledge_ = library; }
  GatewayMetrics& metrics() { return metrics_; }
  // Waits for shadow calls still running (tests, shutdown).
  void wait_for_shadows() const;
  // Re-reads the routes file now (the poll thread does this when the file changes; SIGHUP
  // asks for it through request_reload). False, with the reason, when the old table stays.
  bool reload_routes(std::string* error = nullptr);
  void request_reload();
  // Route names of the current table, in order (tests, the startup banner).
  std::vector<std::string> route_names() const;

 private:
  struct Route;
  struct Table;
  std::shared_ptr<const Table> current() const;
  std::shared_ptr<Table> build_table(const GatewayConfig& merged);
  std::shared_ptr<Backend> cached_local(const LocalModelConfig& m);
  std::shared_ptr<Backend> cached_remote(const RemoteConfig& r);
  void poll_routes_file(std::string seen);
  void install_classifier(Table& table) const;
  std::string watched_signature(const std::string& routes) const;
  void release_unused_targets();
  ChatRequest for_target(const ChatRequest& request, const Route& route, Backend& target) const;
  // `to_target`: `request` as the route's target sees it (for_target); the original goes to a
  // fallback or an upstream.
  std::unique_ptr<CallHandle> forward(const Route& route, const ChatRequest& request, const ChatRequest& to_target,
                                      ChatEventSink sink, const std::shared_ptr<class CallTrace>& trace);
  std::unique_ptr<CallHandle> cascade(const Route& route, const ChatRequest& request, ChatRequest to_target,
                                      ChatEventSink sink, const std::shared_ptr<class CallTrace>& trace);
  void maybe_shadow(const std::shared_ptr<const Table>& table, const Route& route, const ChatRequest& request);
  std::shared_ptr<class CallTrace> make_trace(int choices, const std::string& key_id, std::string request_json);
  void record(UsageRecord record);
  template <typename Request, typename Call>
  auto by_model(const Request& request, Call call) -> decltype(call(std::declval<Backend&>(), request));

  const GatewayConfig config_;  // the main config, as given (the routes file is merged per table)
  LocalModelFactory factory_;
  CallLogger* logger_;
  GatewayMetrics metrics_;
  Scrubber scrubber_;  // for scrub_input routes (the usage log's scrubber is the logger's)
  std::shared_ptr<std::atomic<int>> shadows_running_;
  TaskClassifier classifier_;
  retrieval::KnowledgeLibrary* knowledge_ = nullptr;

  mutable std::mutex table_mutex_;  // guards table_ (the swap and each call's copy)
  std::shared_ptr<const Table> table_;
  std::mutex reload_mutex_;  // one reload at a time; guards the target caches
  std::map<std::string, std::shared_ptr<Backend>> local_cache_, remote_cache_;  // by config key

  std::mutex poll_mutex_;
  std::condition_variable poll_cv_;
  bool stopping_ = false, reload_requested_ = false;
  std::thread poller_;
};

// A Backend for an upstream or a replica set of the config (remotes.cpp). Throws
// ConfigError when its api_key_env names a variable that is not set.
std::unique_ptr<Backend> make_remote_backend(const RemoteConfig& remote, const std::string& config_file);
// The same check of every remote's api_key_env alone, before anything slow starts.
void check_remote_environment(const GatewayConfig& config);

}  // namespace rpu::gateway
