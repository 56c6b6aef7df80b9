#include "gateway/gateway_backend.h"

#include <random>
#include <thread>

#include "gateway/call_logger.h"
#include "gateway/call_trace.h"
#include "gateway/cascade.h"
#include "pipeline/metrics_text.h"

namespace rpu::gateway {
namespace {

class FinishedCall : public CallHandle {
 public:
  void cancel() override {}
};

// Errors after which another backend may answer: the target is down or overloaded. A
// client's mistake (4xx) would fail the same way anywhere.
bool target_failed(const ApiError& e) { return e.status >= 500 || e.status == 429; }

std::string chat_request_log_json(const ChatRequest& r) {
  nlohmann::ordered_json j = {{"messages", r.messages}};
  if (r.tools.is_array() && !r.tools.empty()) j["tools"] = r.tools;
  return j.dump();
}

std::string completion_request_log_json(const CompletionRequest& r) {
  nlohmann::ordered_json prompts = nlohmann::ordered_json::array();
  for (const CompletionPrompt& p : r.prompts) {
    if (p.is_tokens) {
      prompts.push_back(p.tokens);
    } else {
      prompts.push_back(p.text);
    }
  }
  return nlohmann::ordered_json{{"prompt", prompts}}.dump();
}

double uniform01() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return std::uniform_real_distribution<double>(0, 1)(rng);
}

}  // namespace

struct GatewayBackend::Route {
  const RouteConfig& config;
  Backend* target = nullptr;
  Backend* fallback = nullptr;
  Backend* upstream = nullptr;  // cascade
  Backend* shadow = nullptr;
  std::unique_ptr<CascadeJudge> judge;
};

GatewayBackend::GatewayBackend(const GatewayConfig& config, std::map<std::string, Backend*> locals, CallLogger* logger)
    : config_(config),
      router_(config_.routes, config_.default_route),
      targets_(std::move(locals)),
      logger_(logger),
      shadows_running_(std::make_shared<std::atomic<int>>(0)) {
  for (const auto& [name, backend] : targets_) locals_.push_back(backend);
  for (const RemoteConfig& remote : config_.remotes) {
    owned_.push_back(make_remote_backend(remote, config_.file));
    targets_[remote.name] = owned_.back().get();
  }
  auto find = [&](const std::string& name) -> Backend* {
    if (name.empty()) return nullptr;
    auto it = targets_.find(name);
    if (it == targets_.end()) throw ConfigError(config_.file + ": no model or upstream named '" + name + "' was built");
    return it->second;
  };
  for (const RouteConfig& rc : config_.routes) {
    auto route = std::make_unique<Route>(Route{rc});
    route->target = find(rc.target);
    route->fallback = find(rc.fallback);
    if (rc.cascade) {
      route->upstream = find(rc.cascade->upstream);
      route->judge = std::make_unique<CascadeJudge>(*rc.cascade);
    }
    if (rc.shadow) route->shadow = find(rc.shadow->target);
    routes_.push_back(std::move(route));
  }
}

GatewayBackend::~GatewayBackend() { wait_for_shadows(); }

void GatewayBackend::wait_for_shadows() const {
  while (shadows_running_->load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

std::string GatewayBackend::model_id() const { return config_.routes.front().name; }

bool GatewayBackend::accepts_model(const std::string& model) const {
  if (router_.has_default()) return true;
  const std::vector<std::string> names = router_.model_names();
  return std::find(names.begin(), names.end(), model) != names.end();
}

Backend& GatewayBackend::target(const std::string& name) const { return *targets_.at(name); }

// The request as the target sees it: the route's reasoning strategy when the caller asked for
// none, and the target's own model name when it only answers to that (a local model).
ChatRequest GatewayBackend::for_target(const ChatRequest& request, const Route& route, Backend& target) const {
  ChatRequest r = request;
  if (!r.reasoning.is_object() && route.config.reasoning.is_object()) r.reasoning = route.config.reasoning;
  if (!target.accepts_model(r.model)) r.model = target.model_id();
  return r;
}

int GatewayBackend::choice_count(const ChatRequest& request) const {
  const Route& route = *routes_[router_.pick(request).route];
  return route.target->choice_count(for_target(request, route, *route.target));
}

std::shared_ptr<CallTrace> GatewayBackend::make_trace(int choices, const std::string& key_id, std::string request_json) {
  return std::make_shared<CallTrace>(choices, key_id.empty() ? "-" : key_id, std::move(request_json),
                                     [this](UsageRecord r) { record(std::move(r)); });
}

void GatewayBackend::record(UsageRecord r) {
  metrics_.on_call(r.route, r.client_key_id, r.model, r.error.empty(), r.prompt_tokens, r.completion_tokens,
                   r.latency_ms / 1000.0);
  if (logger_ != nullptr) logger_->submit(std::move(r));
}

std::unique_ptr<CallHandle> GatewayBackend::chat(const ChatRequest& request, ChatEventSink sink) {
  const Route& route = *routes_[router_.pick(request).route];
  const ChatRequest r = for_target(request, route, *route.target);
  auto trace = make_trace(route.target->choice_count(r), request.client_key_id, chat_request_log_json(request));
  trace->info().route = route.config.name;
  trace->info().answered_by = route.config.target;
  maybe_shadow(route, request);
  try {
    return route.judge ? cascade(route, request, std::move(sink), trace) : forward(route, request, std::move(sink), trace);
  } catch (const ApiError& e) {
    trace->fail(e.what());
    throw;
  } catch (const std::exception& e) {
    trace->fail(e.what());
    throw;
  }
}

std::unique_ptr<CallHandle> GatewayBackend::forward(const Route& route, const ChatRequest& request, ChatEventSink sink,
                                                    const std::shared_ptr<CallTrace>& trace) {
  try {
    return route.target->chat(for_target(request, route, *route.target), trace->tap(sink));
  } catch (const ApiError& e) {
    if (route.fallback == nullptr || !target_failed(e)) throw;
    metrics_.on_fallback(route.config.name);
    trace->info().answered_by = route.config.fallback;
    trace->info().escalation_reason = std::string("fallback: ") + e.what();
    return route.fallback->chat(for_target(request, route, *route.fallback), trace->tap(sink));
  }
}

std::unique_ptr<CallHandle> GatewayBackend::cascade(const Route& route, const ChatRequest& request, ChatEventSink sink,
                                                    const std::shared_ptr<CallTrace>& trace) {
  ChatRequest local = for_target(request, route, *route.target);
  const bool strategy = local.reasoning.is_object();
  if (!strategy) local.logprobs = true;  // the confidence is read from the tokens' probabilities
  local.stream = false;
  std::vector<ChatEvent> events;
  std::mutex events_mutex;
  CallResult answer;
  CascadeDecision decision;
  try {
    answer = run_chat(*route.target, local, [&](const ChatEvent& e) {
      std::lock_guard<std::mutex> lock(events_mutex);
      events.push_back(e);
    });
    decision = route.judge->judge(answer);
  } catch (const ApiError& e) {
    if (!target_failed(e)) throw;  // the client's mistake: the upstream would refuse it too
    decision = {true, "error", -1};
    events.clear();
  }
  TraceInfo& info = trace->info();
  info.confidence = decision.confidence;
  // The small model's answer, replayed to the client as it was streamed to us.
  auto replay = [&, sink] {
    ChatEventSink tap = trace->tap(sink);
    for (ChatEvent& e : events) {
      if (!request.logprobs) e.logprobs.clear();
      tap(e);
    }
    return std::make_unique<FinishedCall>();
  };
  if (!decision.escalate) return replay();
  metrics_.on_escalation(route.config.name, decision.reason);
  info.escalated = true;
  info.answered_by = route.config.cascade->upstream;
  info.escalation_reason = decision.reason;
  ChatRequest up = request;
  up.reasoning = nullptr;  // rpu's extension is the small model's business, not the upstream's
  if (!route.upstream->accepts_model(up.model)) up.model = route.upstream->model_id();
  try {
    return route.upstream->chat(up, trace->tap(sink));
  } catch (const ApiError& e) {
    // Whatever the upstream's reason (down, or refusing what the small model could answer,
    // e.g. a template without a system role), the small model's answer beats an error.
    if (events.empty()) throw;
    info.escalated = false;
    info.answered_by = route.config.target;
    info.escalation_reason = decision.reason + "; upstream failed: " + e.what();
    metrics_.on_fallback(route.config.name);
    return replay();
  }
}

// A share of the route's calls also goes to the shadow target, on a thread of its own, so
// the client never waits for it. At most kMaxShadows run at once; beyond that a call is not
// shadowed (counted as "skipped"), so a slow shadow target cannot pile up threads.
void GatewayBackend::maybe_shadow(const Route& route, const ChatRequest& request) {
  constexpr int kMaxShadows = 16;
  if (route.shadow == nullptr || uniform01() >= route.config.shadow->share) return;
  if (shadows_running_->fetch_add(1) >= kMaxShadows) {
    --*shadows_running_;
    metrics_.on_shadow(route.config.name, "skipped");
    return;
  }
  metrics_.on_shadow(route.config.name, "sent");
  ChatRequest copy = for_target(request, route, *route.shadow);
  copy.reasoning = nullptr;
  copy.cancelled = nullptr;  // the client going away does not end the comparison
  copy.stream = false;
  std::thread([this, &route, copy = std::move(copy), running = shadows_running_] {
    auto trace = make_trace(route.shadow->choice_count(copy), copy.client_key_id, chat_request_log_json(copy));
    trace->info().route = route.config.name;
    trace->info().kind = "shadow";
    trace->info().answered_by = route.config.shadow->target;
    try {
      run_chat(*route.shadow, copy, trace->tap([](const ChatEvent&) {}));
    } catch (const std::exception& e) {
      trace->fail(e.what());
      metrics_.on_shadow(route.config.name, "error");
    }
    --*running;
  }).detach();
}

std::unique_ptr<CallHandle> GatewayBackend::complete(const CompletionRequest& request, ChatEventSink sink) {
  const Route& route = *routes_[router_.pick_by_model(request.model).route];
  const int choices = static_cast<int>(request.prompts.size()) * request.n;
  auto trace = make_trace(choices, request.client_key_id, completion_request_log_json(request));
  trace->info().route = route.config.name;
  trace->info().answered_by = route.config.target;
  auto renamed = [&](Backend& b) {
    CompletionRequest r = request;
    if (!b.accepts_model(r.model)) r.model = b.model_id();
    return r;
  };
  try {
    try {
      return route.target->complete(renamed(*route.target), trace->tap(sink));
    } catch (const ApiError& e) {
      if (route.fallback == nullptr || !target_failed(e)) throw;
      metrics_.on_fallback(route.config.name);
      trace->info().answered_by = route.config.fallback;
      return route.fallback->complete(renamed(*route.fallback), trace->tap(sink));
    }
  } catch (const std::exception& e) {
    trace->fail(e.what());
    throw;
  }
}

EmbeddingResult GatewayBackend::embed(const EmbeddingRequest& request) {
  const Route& route = *routes_[router_.pick_by_model(request.model).route];
  const auto start = std::chrono::steady_clock::now();
  EmbeddingRequest r = request;
  if (!route.target->accepts_model(r.model)) r.model = route.target->model_id();
  const std::string key = request.client_key_id.empty() ? "-" : request.client_key_id;
  try {
    EmbeddingResult result = route.target->embed(r);
    metrics_.on_call(route.config.name, key, route.config.target, true, result.prompt_tokens, 0,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return result;
  } catch (const std::exception&) {
    metrics_.on_call(route.config.name, key, route.config.target, false, 0, 0,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    throw;
  }
}

BackendLoad GatewayBackend::load() const {
  BackendLoad total;
  for (const Backend* b : locals_) {
    const BackendLoad l = b->load();
    total.queued += l.queued;
    total.active_sequences += l.active_sequences;
  }
  return total;
}

std::string GatewayBackend::metrics_text() const {
  std::string out = metrics_.render();
  if (logger_ != nullptr) {
    const CallLogger::Stats calls = logger_->stats();
    const UsageLogStats log = logger_->log().stats();
    out += "# HELP rpu_usage_log_rows_total Usage-log rows by fate: written, or dropped because a queue was full.\n";
    out += "# TYPE rpu_usage_log_rows_total counter\n";
    out += "rpu_usage_log_rows_total{outcome=\"written\"} " + std::to_string(log.written) + "\n";
    out += "rpu_usage_log_rows_total{outcome=\"dropped\"} " + std::to_string(log.dropped + calls.dropped) + "\n";
    out += "rpu_usage_log_rows_total{outcome=\"write_error\"} " + std::to_string(log.write_errors) + "\n";
    out += "# HELP rpu_usage_log_queued Rows waiting to be scrubbed or written.\n# TYPE rpu_usage_log_queued gauge\n";
    out += "rpu_usage_log_queued " + std::to_string(log.queued) + "\n";
  }
  // Upstreams report the same families (rpu_upstream_*): one HELP/TYPE block per family.
  std::vector<std::string> remotes;
  for (const auto& b : owned_) remotes.push_back(b->metrics_text());
  return out + merge_metrics_text(remotes);
}

}  // namespace rpu::gateway
