#include "pipeline/replica_pool.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <optional>

#include "core/error.h"
#include "pipeline/metrics_text.h"
#include "pipeline/retrying_call.h"

namespace rpu {

struct ReplicaPool::State {
  struct Node {
    std::string name, health_host, health_path;
    std::atomic<bool> healthy{true};
    std::atomic<long long> failures{0};
    int outstanding = 0;  // under State::mutex
  };
  std::string pool;
  std::vector<std::unique_ptr<Node>> nodes;
  mutable std::mutex mutex;
  size_t next = 0;  // where the round-robin tie-break starts

  // The healthy replica not in `tried` with the fewest calls outstanding, its slot taken;
  // nullopt when there is none.
  std::optional<size_t> pick(const std::vector<size_t>& tried) {
    std::lock_guard<std::mutex> lock(mutex);
    std::optional<size_t> best;
    for (size_t k = 0; k < nodes.size(); ++k) {
      const size_t i = (next + k) % nodes.size();
      if (!nodes[i]->healthy || std::find(tried.begin(), tried.end(), i) != tried.end()) continue;
      if (!best || nodes[i]->outstanding < nodes[*best]->outstanding) best = i;
    }
    if (best) {
      ++nodes[*best]->outstanding;
      next = *best + 1;
    }
    return best;
  }

  void release(size_t i) {
    std::lock_guard<std::mutex> lock(mutex);
    --nodes[i]->outstanding;
  }

  // Replica i failed a call before the caller saw anything: whether to try the next one.
  bool failed(size_t i, const ApiError& e) {
    if (e.status >= 500) {
      nodes[i]->healthy = false;
      ++nodes[i]->failures;
      return true;
    }
    return e.status == 429;  // busy, not broken
  }

  ApiError none_healthy() const {
    return ApiError(503, "no healthy replica for " + pool, "upstream_error", "", "no_healthy_replica");
  }
};

namespace {

// One call's placements: the replica of each attempt, and whether it still holds its slot.
struct Placements {
  std::mutex mutex;
  std::vector<size_t> replicas;  // by attempt number - 1
  std::vector<bool> held;
  bool closed = false;  // the call ended: a slot taken now is given back at once

  std::vector<size_t> tried() {
    std::lock_guard<std::mutex> lock(mutex);
    return replicas;
  }
  void place(int number, size_t replica, ReplicaPool::State& state) {
    std::lock_guard<std::mutex> lock(mutex);
    replicas.resize(static_cast<size_t>(number), replica);
    held.resize(static_cast<size_t>(number), false);
    held.back() = !closed;
    if (closed) state.release(replica);
  }
  // The replica attempt `number` held (its slot now free); nullopt when it held none.
  std::optional<size_t> release(int number, ReplicaPool::State& state) {
    std::lock_guard<std::mutex> lock(mutex);
    return release_locked(static_cast<size_t>(number - 1), state);
  }
  void release_all(ReplicaPool::State& state) {
    std::lock_guard<std::mutex> lock(mutex);
    closed = true;
    for (size_t k = 0; k < held.size(); ++k) release_locked(k, state);
  }

 private:
  std::optional<size_t> release_locked(size_t k, ReplicaPool::State& state) {
    if (k >= held.size() || !held[k]) return std::nullopt;
    held[k] = false;
    state.release(replicas[k]);
    return replicas[k];
  }
};

// "http://host:port/path" -> {"http://host:port", "/path"}.
std::pair<std::string, std::string> split_url(const std::string& url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos || (url.compare(0, scheme_end, "http") != 0 && url.compare(0, scheme_end, "https") != 0)) {
    fail("health URL '{}' must start with http:// or https://", url);
  }
  const size_t path_start = url.find('/', scheme_end + 3);
  if (path_start == std::string::npos) return {url, "/"};
  return {url.substr(0, path_start), url.substr(path_start)};
}

void set_timeouts(httplib::Client& client, double seconds) {
  const auto us = static_cast<int64_t>(seconds * 1e6);
  client.set_connection_timeout(static_cast<time_t>(us / 1000000), static_cast<time_t>(us % 1000000));
  client.set_read_timeout(static_cast<time_t>(us / 1000000), static_cast<time_t>(us % 1000000));
}

}  // namespace

ReplicaPool::ReplicaPool(ReplicaPoolOptions options, std::vector<Replica> replicas)
    : options_(std::move(options)), state_(std::make_shared<State>()), threads_(std::make_shared<RetryThreads>()) {
  if (replicas.empty()) fail("replica pool '{}' has no replica", options_.model_id);
  state_->pool = options_.model_id;
  for (size_t i = 0; i < replicas.size(); ++i) {
    auto node = std::make_unique<State::Node>();
    node->name = replicas[i].name.empty() ? "replica" + std::to_string(i) : replicas[i].name;
    if (!replicas[i].health_url.empty()) std::tie(node->health_host, node->health_path) = split_url(replicas[i].health_url);
    state_->nodes.push_back(std::move(node));
    backends_.push_back(std::move(replicas[i].backend));
  }
  check_health();  // the first round now, so that no call goes to a replica already down
  health_thread_ = std::thread([this] { health_loop(); });
}

ReplicaPool::~ReplicaPool() {
  {
    std::lock_guard<std::mutex> lock(stop_mutex_);
    stopping_ = true;
  }
  stop_.notify_all();
  health_thread_.join();
  threads_->close_and_wait();
}

bool ReplicaPool::healthy(size_t replica) const { return state_->nodes.at(replica)->healthy; }

int ReplicaPool::outstanding(size_t replica) const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->nodes.at(replica)->outstanding;
}

void ReplicaPool::check_health() {
  for (auto& node : state_->nodes) {
    if (node->health_host.empty()) {
      node->healthy = true;  // nothing to ask: a failed call's mark lasts one interval
      continue;
    }
    httplib::Client client(node->health_host);
    set_timeouts(client, options_.health_timeout_s);
    const auto res = client.Get(node->health_path);
    node->healthy = res && res->status == 200;
  }
}

void ReplicaPool::health_loop() {
  std::unique_lock<std::mutex> lock(stop_mutex_);
  for (;;) {
    stop_.wait_for(lock, std::chrono::duration<double>(options_.health_interval_s), [&] { return stopping_; });
    if (stopping_) return;
    lock.unlock();
    check_health();
    lock.lock();
  }
}

std::unique_ptr<CallHandle> ReplicaPool::start(
    int choices, ChatEventSink sink, std::function<bool()> caller_gone,
    std::function<std::unique_ptr<CallHandle>(Backend&, ChatEventSink)> attempt) {
  auto placements = std::make_shared<Placements>();
  auto state = state_;
  const int replicas = static_cast<int>(backends_.size());
  RetryingCall::Hooks hooks;
  // Runs only on the caller's thread or a retry thread, which the destructor waits for.
  hooks.start = [this, state, placements, attempt = std::move(attempt)](int number, ChatEventSink attempt_sink) {
    const std::optional<size_t> replica = state->pick(placements->tried());
    if (!replica) throw state->none_healthy();
    placements->place(number, *replica, *state);
    return attempt(*backends_[*replica], std::move(attempt_sink));
  };
  hooks.failed = [state, placements, replicas](int number, const ApiError& e) -> double {
    const std::optional<size_t> replica = placements->release(number, *state);
    if (!replica || !state->failed(*replica, e)) return -1;
    return number < replicas ? 0 : -1;
  };
  hooks.committed = [](int) {};
  hooks.ended = [state, placements](RetryingCall::Outcome, int) { placements->release_all(*state); };
  return RetryingCall::begin(choices, std::move(sink), std::move(hooks), std::move(caller_gone), threads_);
}

std::unique_ptr<CallHandle> ReplicaPool::chat(const ChatRequest& request, ChatEventSink sink) {
  return start(choice_count(request), std::move(sink), request.cancelled,
               [request](Backend& b, ChatEventSink s) { return b.chat(request, std::move(s)); });
}

std::unique_ptr<CallHandle> ReplicaPool::complete(const CompletionRequest& request, ChatEventSink sink) {
  return start(static_cast<int>(request.prompts.size()) * request.n, std::move(sink), request.cancelled,
               [request](Backend& b, ChatEventSink s) { return b.complete(request, std::move(s)); });
}

EmbeddingResult ReplicaPool::embed(const EmbeddingRequest& request) {
  EmbeddingResult result;
  blocking_call([&](Backend& b) { result = b.embed(request); });
  return result;
}

RerankResult ReplicaPool::rerank(const RerankRequest& request) {
  RerankResult result;
  blocking_call([&](Backend& b) { result = b.rerank(request); });
  return result;
}

void ReplicaPool::blocking_call(const std::function<void(Backend&)>& attempt) {
  std::vector<size_t> tried;
  for (;;) {
    const std::optional<size_t> replica = state_->pick(tried);
    if (!replica) throw state_->none_healthy();
    tried.push_back(*replica);
    try {
      attempt(*backends_[*replica]);
      state_->release(*replica);
      return;
    } catch (const ApiError& e) {
      state_->release(*replica);
      if (!state_->failed(*replica, e) || tried.size() >= backends_.size()) throw;
    }
  }
}

std::string ReplicaPool::metrics_text() const {
  std::vector<std::pair<std::string, long long>> outstanding, healthy, failures;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    for (const auto& node : state_->nodes) {
      const std::string labels =
          "pool=\"" + metric_label_value(state_->pool) + "\",replica=\"" + metric_label_value(node->name) + "\"";
      outstanding.emplace_back(labels, node->outstanding);
      healthy.emplace_back(labels, node->healthy ? 1 : 0);
      failures.emplace_back(labels, node->failures.load());
    }
  }
  std::string own;
  append_metric_family(own, "rpu_replica_outstanding", "Calls a replica is serving now.", "gauge", outstanding);
  append_metric_family(own, "rpu_replica_healthy", "1 while a replica takes calls (health check and call failures).",
                       "gauge", healthy);
  append_metric_family(own, "rpu_replica_failures_total", "Calls a replica failed before their first event.", "counter",
                       failures);
  std::vector<std::string> texts = {own};
  for (const auto& backend : backends_) texts.push_back(backend->metrics_text());
  return merge_metrics_text(texts);
}

}  // namespace rpu
