#include "gateway/gateway_backend.h"

#include <sys/stat.h>

#include <cstdio>
#include <optional>
#include <random>
#include <thread>

#include "gateway/call_logger.h"
#include "gateway/call_trace.h"
#include "gateway/cascade.h"
#include "gateway/unscrub.h"
#include "gateway/task_classifier.h"
#include "pipeline/metrics_text.h"
#include "retrieval/knowledge_backend.h"

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
  // The client's budget, counted in the upstream's tokens: the conversion loop evaluates a
  // specialist under it (a small vocabulary spends more tokens on the same answer).
  if (r.max_tokens > 0) j["max_tokens"] = r.max_tokens;
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

// A call's handle that keeps the table the call started with alive until the call is over.
class TableHandle : public CallHandle {
 public:
  TableHandle(std::unique_ptr<CallHandle> inner, std::shared_ptr<const void> table)
      : table_(std::move(table)), inner_(std::move(inner)) {}
  void cancel() override {
    if (inner_) inner_->cancel();
  }

 private:
  std::shared_ptr<const void> table_;  // declared first: outlives inner_
  std::unique_ptr<CallHandle> inner_;
};

// Identity of a target's config: equal keys mean the built target can be reused as it is.
std::string local_key(const LocalModelConfig& m) {
  return nlohmann::json{m.name, m.path, m.chat_template, m.parallel, m.ctx, m.threads, m.queue}.dump();
}

std::string remote_key(const RemoteConfig& r) {
  return nlohmann::json{r.name, r.urls, r.api_key_env, r.model, r.timeouts.connect_s, r.timeouts.first_token_s,
                        r.timeouts.total_s, r.retry.attempts, r.retry.base_delay_s, r.retry.max_delay_s,
                        r.retry.max_retry_after_s, r.breaker.failures, r.breaker.open_s, r.health_interval_s,
                        r.is_replica_set}
      .dump();
}

// What changes when the routes file is replaced or rewritten ("" when it is absent): the
// inode (an atomic rename), the size and the modification time in nanoseconds.
std::string file_signature(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  return std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

double uniform01() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return std::uniform_real_distribution<double>(0, 1)(rng);
}

}  // namespace

struct GatewayBackend::Route {
  explicit Route(const RouteConfig& c) : config(c) {}
  const RouteConfig& config;
  Backend* target = nullptr;
  Backend* fallback = nullptr;
  Backend* upstream = nullptr;  // cascade
  Backend* shadow = nullptr;
  std::unique_ptr<CascadeJudge> judge;
};

// Everything a call routes with. Built whole, never changed after: the Router and the Routes
// refer into `config`, the Routes' Backend pointers into `targets`.
struct GatewayBackend::Table {
  explicit Table(GatewayConfig merged) : config(std::move(merged)), router(config.routes, config.default_route) {}
  const GatewayConfig config;  // the main config with the routes file merged in
  Router router;
  std::vector<std::unique_ptr<Route>> routes;
  std::map<std::string, std::shared_ptr<Backend>> targets;  // every target by name
  std::vector<Backend*> locals, remotes;
};

GatewayBackend::GatewayBackend(const GatewayConfig& config, LocalModelFactory factory, CallLogger* logger)
    : config_(config),
      factory_(std::move(factory)),
      logger_(logger),
      shadows_running_(std::make_shared<std::atomic<int>>(0)) {
  // The signature is taken before the read, so a change during the read is seen by the poller.
  std::string seen = config_.routes_file.empty() ? "" : file_signature(config_.routes_file);
  {
    std::lock_guard<std::mutex> lock(reload_mutex_);
    table_ = build_table(merge_routes_file(config_));
  }
  if (!config_.routes_file.empty()) seen = watched_signature(seen);
  if (!config_.routes_file.empty()) poller_ = std::thread([this, seen] { poll_routes_file(seen); });
}

GatewayBackend::GatewayBackend(const GatewayConfig& config, std::map<std::string, Backend*> locals, CallLogger* logger)
    : GatewayBackend(
          config,
          [locals = std::move(locals)](const LocalModelConfig& m) -> std::shared_ptr<Backend> {
            auto it = locals.find(m.name);
            if (it == locals.end()) throw ConfigError(m.file + ": no model named '" + m.name + "' was built");
            return std::shared_ptr<Backend>(it->second, [](Backend*) {});  // borrowed
          },
          logger) {}

GatewayBackend::~GatewayBackend() {
  {
    std::lock_guard<std::mutex> lock(poll_mutex_);
    stopping_ = true;
  }
  poll_cv_.notify_all();
  if (poller_.joinable()) poller_.join();
  wait_for_shadows();
}

std::shared_ptr<const GatewayBackend::Table> GatewayBackend::current() const {
  std::lock_guard<std::mutex> lock(table_mutex_);
  return table_;
}

// Called with reload_mutex_ held.
std::shared_ptr<Backend> GatewayBackend::cached_local(const LocalModelConfig& m) {
  std::shared_ptr<Backend>& slot = local_cache_[local_key(m)];
  if (slot) return slot;
  try {
    slot = factory_(m);
  } catch (const std::exception& e) {
    local_cache_.erase(local_key(m));
    const std::string where = m.file.empty() ? config_.file : m.file + (m.line > 0 ? ":" + std::to_string(m.line) : "");
    throw ConfigError(where + ": models." + m.name + ".local: the model did not load: " + e.what());
  }
  if (!slot) throw ConfigError(m.file + ": models." + m.name + ": no model was built");
  return slot;
}

std::shared_ptr<Backend> GatewayBackend::cached_remote(const RemoteConfig& r) {
  std::shared_ptr<Backend>& slot = remote_cache_[remote_key(r)];
  if (!slot) {
    try {
      slot = make_remote_backend(r, config_.file);
    } catch (...) {
      remote_cache_.erase(remote_key(r));
      throw;
    }
  }
  return slot;
}

// Called with reload_mutex_ held. Throws ConfigError; nothing of a failed build is kept but
// the targets it loaded, which the next release_unused_targets() frees.
std::shared_ptr<GatewayBackend::Table> GatewayBackend::build_table(const GatewayConfig& merged) {
  auto t = std::make_shared<Table>(merged);
  for (const LocalModelConfig& m : t->config.local_models) {
    t->targets[m.name] = cached_local(m);
    t->locals.push_back(t->targets[m.name].get());
  }
  for (const RemoteConfig& r : t->config.remotes) {
    t->targets[r.name] = cached_remote(r);
    t->remotes.push_back(t->targets[r.name].get());
  }
  auto find = [&](const std::string& name) -> Backend* {
    if (name.empty()) return nullptr;
    auto it = t->targets.find(name);
    if (it == t->targets.end()) throw ConfigError(config_.file + ": no model or upstream named '" + name + "' was built");
    return it->second.get();
  };
  for (const RouteConfig& rc : t->config.routes) {
    auto route = std::make_unique<Route>(rc);
    route->target = find(rc.target);
    route->fallback = find(rc.fallback);
    if (rc.cascade) {
      route->upstream = find(rc.cascade->upstream);
      route->judge = std::make_unique<CascadeJudge>(*rc.cascade);
    }
    if (rc.shadow) route->shadow = find(rc.shadow->target);
    t->routes.push_back(std::move(route));
  }
  install_classifier(*t);
  return t;
}

// The config's classifier (part of the table, so it swaps with a reload) comes first, then the
// hook set by set_classifier(); a call neither claims goes to the default route.
void GatewayBackend::install_classifier(Table& t) const {
  std::shared_ptr<const CentroidClassifier> model;
  std::map<int, std::string> routes;
  if (t.config.classifier) {
    model = t.config.classifier->classifier;
    routes = t.config.classifier->routes;
  }
  if (!model && !classifier_) return;
  t.router.set_classifier([model, routes = std::move(routes), hook = classifier_](const ChatRequest& request) {
    if (model) {
      if (const auto cluster = model->classify(request)) {
        if (const auto it = routes.find(*cluster); it != routes.end()) return std::optional<std::string>(it->second);
      }
    }
    return hook ? hook(request) : std::nullopt;
  });
}

bool GatewayBackend::reload_routes(std::string* error) {
  std::lock_guard<std::mutex> lock(reload_mutex_);
  try {
    std::shared_ptr<const Table> table = build_table(merge_routes_file(config_));
    const size_t routes = table->routes.size();
    {
      std::lock_guard<std::mutex> swap(table_mutex_);
      table_.swap(table);
    }
    // `table` is the old one now: calls in flight still hold it; dropped here otherwise.
    metrics_.on_reload(true);
    std::fprintf(stderr, "rpu gateway: %s reloaded: %zu routes\n", config_.routes_file.c_str(), routes);
    return true;
  } catch (const std::exception& e) {
    metrics_.on_reload(false);
    std::fprintf(stderr, "rpu gateway: %s not reloaded (the previous routes stay): %s\n", config_.routes_file.c_str(),
                 e.what());
    if (error != nullptr) *error = e.what();
    return false;
  }
}

void GatewayBackend::request_reload() {
  {
    std::lock_guard<std::mutex> lock(poll_mutex_);
    reload_requested_ = true;
  }
  poll_cv_.notify_all();
}

void GatewayBackend::set_classifier(TaskClassifier classifier) {
  std::lock_guard<std::mutex> lock(reload_mutex_);
  classifier_ = std::move(classifier);
  std::shared_ptr<const Table> table = build_table(current()->config);  // targets come from the caches
  std::lock_guard<std::mutex> swap(table_mutex_);
  table_.swap(table);
}

// Once a second: reload when the file changed (or SIGHUP asked), then free the targets that
// no table holds any more. Their last calls have ended, so freeing them here, on a thread
// that is none of theirs, is safe.
void GatewayBackend::poll_routes_file(std::string seen) {
  std::unique_lock<std::mutex> lock(poll_mutex_);
  while (!stopping_) {
    poll_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_ || reload_requested_; });
    if (stopping_) break;
    const bool asked = std::exchange(reload_requested_, false);
    lock.unlock();
    const std::string routes_now = file_signature(config_.routes_file);
    if (asked || watched_signature(routes_now) != seen) {
      reload_routes();
      seen = watched_signature(routes_now);  // the new table's classifier file, if it names another
    }
    release_unused_targets();
    lock.lock();
  }
}

// The routes file's signature (`routes`) and that of the current table's classifier
// file: `rpu convert cluster` rewrites the classifier in place, and the new one should serve.
std::string GatewayBackend::watched_signature(const std::string& routes) const {
  const auto table = current();
  if (!table->config.classifier) return routes;
  return routes + "|" + file_signature(table->config.classifier->file);
}

void GatewayBackend::release_unused_targets() {
  std::lock_guard<std::mutex> lock(reload_mutex_);
  for (auto* cache : {&local_cache_, &remote_cache_}) {
    for (auto it = cache->begin(); it != cache->end();) {
      // Only the cache holds it: no table, hence no call, uses it (tables are built under this lock).
      if (it->second.use_count() != 1) {
        ++it;
        continue;
      }
      const std::string name = nlohmann::json::parse(it->first)[0].get<std::string>();  // keys start with it
      it = cache->erase(it);
      std::fprintf(stderr, "rpu gateway: \"%s\" released: no route uses it any more\n", name.c_str());
    }
  }
}

void GatewayBackend::wait_for_shadows() const {
  while (shadows_running_->load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

std::vector<std::string> GatewayBackend::model_ids() const { return current()->router.model_names(); }

std::vector<std::string> GatewayBackend::route_names() const {
  std::vector<std::string> names;
  for (const RouteConfig& r : current()->config.routes) names.push_back(r.name);
  return names;
}

std::string GatewayBackend::model_id() const { return config_.routes.front().name; }

bool GatewayBackend::accepts_model(const std::string& model) const {
  const auto table = current();
  if (table->router.has_default()) return true;
  const std::vector<std::string> names = table->router.model_names();
  return std::find(names.begin(), names.end(), model) != names.end();
}

void require_answer_schema(ChatRequest& r, const nlohmann::ordered_json& schema) {
  if (!schema.is_object() || !r.grammar.empty() || (r.tools.is_array() && !r.tools.empty())) return;
  if (r.response_format.is_object() && r.response_format.value("type", "text") != "text") return;
  r.response_format = {{"type", "json_schema"}, {"json_schema", {{"name", "answer"}, {"schema", schema}}}};
}

void require_tool_call_on_user_turn(ChatRequest& r) {
  const bool offers_tools = r.tools.is_array() && !r.tools.empty();
  const bool user_turn = r.messages.is_array() && !r.messages.empty() && r.messages.back().is_object() &&
                         r.messages.back().value("role", "") == "user";
  const bool unchosen = r.tool_choice.is_null() || r.tool_choice == "auto";
  if (offers_tools && user_turn && unchosen) r.tool_call_required = true;
}

// The request as the target sees it: the route's reasoning strategy when the caller asked for
// none, and the target's own model name when it only answers to that (a local model).
ChatRequest GatewayBackend::for_target(const ChatRequest& request, const Route& route, Backend& target) const {
  ChatRequest r = request;
  if (!r.reasoning.is_object() && route.config.reasoning.is_object()) r.reasoning = route.config.reasoning;
  if (r.knowledge.is_null() && route.config.knowledge.is_object()) r.knowledge = route.config.knowledge;
  if (&target == route.target) {  // what the conversion loop learned is for its specialist, not an upstream
    if (r.copy_fields.empty()) r.copy_fields = route.config.copy_fields;
    if (route.config.force_tool_call) require_tool_call_on_user_turn(r);
    if (route.config.thinking_tokens > 0 && r.max_tokens >= 0) r.max_tokens += route.config.thinking_tokens;
    if (route.config.calculator && !r.calculator) {
      r.calculator = true;
      r.calculator_decimals = route.config.calculator_decimals;
    }
    require_answer_schema(r, route.config.answer_schema);
  }
  if (!target.accepts_model(r.model)) r.model = target.model_id();
  return r;
}

int GatewayBackend::choice_count(const ChatRequest& request) const {
  const auto table = current();
  const Route& route = *table->routes[table->router.pick(request).route];
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

std::unique_ptr<CallHandle> GatewayBackend::chat(const ChatRequest& request, ChatEventSink client_sink) {
  // The call keeps its table (targets included) for as long as a target may call its sink.
  std::shared_ptr<const Table> table = current();
  ChatEventSink sink = [table, client_sink = std::move(client_sink)](const ChatEvent& e) { client_sink(e); };
  const RouteChoice choice = table->router.pick(request);
  const Route& route = *table->routes[choice.route];
  if (std::string_view(choice.by) == "classifier") metrics_.on_classified(route.config.name);
  // The request as the target sees it, built once (a copy of the whole conversation).
  ChatRequest to_target = for_target(request, route, *route.target);
  // Retrieval first: the target and any upstream (cascade, fallback, shadow) read the same
  // sources, and the client gets the citations whoever answers.
  const ChatRequest* sent = &request;
  ChatRequest with_sources;
  if (to_target.knowledge.is_object()) {
    if (knowledge_ == nullptr) {
      throw ApiError(400, "this gateway serves no knowledge bases (knowledge_bases: in its config)",
                     "invalid_request_error", "knowledge.kb");
    }
    retrieval::AugmentedRequest augmented = retrieval::augment_request(*knowledge_, to_target, nullptr);
    with_sources = request;
    with_sources.messages = augmented.request.messages;
    with_sources.knowledge = nullptr;
    sent = &with_sources;
    to_target = augmented.request;
    sink = retrieval::citing_sink(augmented, std::move(sink));
  }
  auto trace = make_trace(route.target->choice_count(to_target), request.client_key_id, chat_request_log_json(request));
  trace->info().route = route.config.name;
  trace->info().answered_by = route.config.target;
  maybe_shadow(table, route, *sent);
  try {
    auto handle = route.judge ? cascade(route, *sent, std::move(to_target), std::move(sink), trace)
                              : forward(route, *sent, to_target, std::move(sink), trace);
    return std::make_unique<TableHandle>(std::move(handle), table);
  } catch (const ApiError& e) {
    trace->fail(e.what());
    throw;
  } catch (const std::exception& e) {
    trace->fail(e.what());
    throw;
  }
}

std::unique_ptr<CallHandle> GatewayBackend::forward(const Route& route, const ChatRequest& request,
                                                    const ChatRequest& to_target, ChatEventSink sink,
                                                    const std::shared_ptr<CallTrace>& trace) {
  try {
    if (route.config.scrub_input) {
      auto call = std::make_shared<ScrubbedCall>(scrub_call(scrubber_, to_target));
      ChatEventSink tap = trace->tap(sink);
      auto restore = [call, tap](const ChatEvent& e) {
        ChatEvent restored = e;
        call->restorer.restore_event(restored);
        tap(restored);
      };
      return route.target->chat(call->request, restore);
    }
    return route.target->chat(to_target, trace->tap(sink));
  } catch (const ApiError& e) {
    if (route.fallback == nullptr || !target_failed(e)) throw;
    metrics_.on_fallback(route.config.name);
    trace->info().answered_by = route.config.fallback;
    trace->info().reason = std::string("fallback: ") + e.what();
    return route.fallback->chat(for_target(request, route, *route.fallback), trace->tap(sink));
  }
}

std::unique_ptr<CallHandle> GatewayBackend::cascade(const Route& route, const ChatRequest& request,
                                                    ChatRequest local, ChatEventSink sink,
                                                    const std::shared_ptr<CallTrace>& trace) {
  const bool strategy = local.reasoning.is_object();
  if (!strategy) local.logprobs = true;  // the confidence is read from the tokens' probabilities
  local.stream = false;
  std::optional<ScrubbedCall> scrubbed;
  if (route.config.scrub_input) {
    scrubbed.emplace(scrub_call(scrubber_, local));
    local = scrubbed->request;
  }
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
    if (!decision.escalate && scrubbed && scrubbed->restorer.has_unknown_placeholder(answer)) {
      decision = {true, "placeholder", decision.confidence};  // "<PHONE_3>" would reach the client as it is
    }
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
      if (scrubbed) scrubbed->restorer.restore_event(e);
      tap(e);
    }
    return std::make_unique<FinishedCall>();
  };
  if (!decision.escalate) return replay();
  metrics_.on_escalation(route.config.name, decision.reason);
  info.escalated = true;
  info.answered_by = route.config.cascade->upstream;
  info.reason = decision.reason;
  ChatRequest up = request;
  up.reasoning = nullptr;  // rpu's extensions are the small model's business, not the upstream's
  up.copy_fields.clear();
  up.calculator = false;
  if (!route.upstream->accepts_model(up.model)) up.model = route.upstream->model_id();
  try {
    return route.upstream->chat(up, trace->tap(sink));
  } catch (const ApiError& e) {
    // Whatever the upstream's reason (down, or refusing what the small model could answer,
    // e.g. a template without a system role), the small model's answer beats an error.
    if (events.empty()) throw;
    info.escalated = false;
    info.answered_by = route.config.target;
    info.reason = decision.reason + "; upstream failed: " + e.what();
    metrics_.on_fallback(route.config.name);
    return replay();
  }
}

// A share of the route's calls also goes to the shadow target, on a thread of its own, so
// the client never waits for it. At most kMaxShadows run at once; beyond that a call is not
// shadowed (counted as "skipped"), so a slow shadow target cannot pile up threads.
void GatewayBackend::maybe_shadow(const std::shared_ptr<const Table>& table, const Route& route,
                                  const ChatRequest& request) {
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
  copy.copy_fields.clear();
  copy.calculator = false;
  copy.cancelled = nullptr;  // the client going away does not end the comparison
  copy.stream = false;
  std::thread([this, held = table, &route, copy = std::move(copy), running = shadows_running_]() mutable {
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
    held.reset();  // before the count drops: the destructor waits for it, then frees the targets
    --*running;
  }).detach();
}

std::unique_ptr<CallHandle> GatewayBackend::complete(const CompletionRequest& request, ChatEventSink client_sink) {
  std::shared_ptr<const Table> table = current();
  ChatEventSink sink = [table, client_sink = std::move(client_sink)](const ChatEvent& e) { client_sink(e); };
  const Route& route = *table->routes[table->router.pick_by_model(request.model).route];
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
      return std::make_unique<TableHandle>(route.target->complete(renamed(*route.target), trace->tap(sink)), table);
    } catch (const ApiError& e) {
      if (route.fallback == nullptr || !target_failed(e)) throw;
      metrics_.on_fallback(route.config.name);
      trace->info().answered_by = route.config.fallback;
      return std::make_unique<TableHandle>(route.fallback->complete(renamed(*route.fallback), trace->tap(sink)), table);
    }
  } catch (const std::exception& e) {
    trace->fail(e.what());
    throw;
  }
}

// Embeddings and reranking: one blocking call to the target of the route the model name picks
// (no cascade, fallback or shadow: those judge generated answers), counted in the route's metrics.
template <typename Request, typename Call>
auto GatewayBackend::by_model(const Request& request, Call call) -> decltype(call(std::declval<Backend&>(), request)) {
  const auto table = current();
  const Route& route = *table->routes[table->router.pick_by_model(request.model).route];
  const auto start = std::chrono::steady_clock::now();
  Request r = request;
  if (!route.target->accepts_model(r.model)) r.model = route.target->model_id();
  const std::string key = request.client_key_id.empty() ? "-" : request.client_key_id;
  try {
    auto result = call(*route.target, r);
    metrics_.on_call(route.config.name, key, route.config.target, true, result.prompt_tokens, 0,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return result;
  } catch (const std::exception&) {
    metrics_.on_call(route.config.name, key, route.config.target, false, 0, 0,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    throw;
  }
}

EmbeddingResult GatewayBackend::embed(const EmbeddingRequest& request) {
  return by_model(request, [](Backend& target, const EmbeddingRequest& r) { return target.embed(r); });
}

RerankResult GatewayBackend::rerank(const RerankRequest& request) {
  return by_model(request, [](Backend& target, const RerankRequest& r) { return target.rerank(r); });
}

RerankResult GatewayBackend::rerank_on(const std::string& target, const RerankRequest& request) const {
  const auto table = current();  // keeps the target alive for the call
  const auto it = table->targets.find(target);
  if (it == table->targets.end()) {
    throw ApiError(503, "the reranking model '" + target + "' is no longer configured", "server_error", "", "");
  }
  RerankRequest r = request;
  r.model = it->second->model_id();
  return it->second->rerank(r);
}

BackendLoad GatewayBackend::load() const {
  BackendLoad total;
  for (const Backend* b : current()->locals) {
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
    auto n = [](uint64_t v) { return static_cast<long long>(v); };
    append_metric_family(out, "rpu_usage_log_rows_total",
                         "Usage-log rows by fate: written, or dropped because a queue was full.", "counter",
                         {{"outcome=\"written\"", n(log.written)},
                          {"outcome=\"dropped\"", n(log.dropped + calls.dropped)},
                          {"outcome=\"write_error\"", n(log.write_errors)}});
    append_metric_family(out, "rpu_usage_log_queued", "Rows waiting to be scrubbed or written.", "gauge",
                         {{"", n(calls.queued + log.queued)}});
  }
  // Upstreams report the same families (rpu_upstream_*): one HELP/TYPE block per family.
  std::vector<std::string> remotes;
  for (const Backend* b : current()->remotes) remotes.push_back(b->metrics_text());
  return out + merge_metrics_text(remotes);
}

}  // namespace rpu::gateway
