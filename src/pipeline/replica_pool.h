// One model served by several replicas (typically RemoteBackends pointing at `rpu serve`
// processes), as one Backend.
//
//   Placement: a call goes to the healthy replica with the fewest calls outstanding (ties go
//   round-robin, so idle replicas take turns). A call is outstanding on its replica from the
//   moment it is sent until every choice has finished, it fails, or it is cancelled.
//   Fail-over: a replica that fails a call before any event reached the caller (refused
//   connection, 5xx, a stream that broke before its first event) is marked unhealthy and the
//   call goes to the next one (a 429 moves on without the mark); each replica is tried at most
//   once per call. After the first event nothing is moved (RetryingCall).
//   Health: every replica's health URL is GET once in the constructor and then every
//   health_interval_s by one background thread; 200 marks it healthy, anything else (or no
//   answer within health_timeout_s) unhealthy. A replica marked down by a failed call is
//   therefore back after its next good check; one without a health URL after the next round.
// No healthy replica: ApiError 503 "no healthy replica". Embeddings follow the same rules.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/backend.h"

namespace rpu {

class RetryThreads;

struct Replica {
  std::string name;                  // its label in /metrics (e.g. its URL)
  std::unique_ptr<Backend> backend;
  std::string health_url;            // e.g. "http://10.0.0.5:8080/health"; empty: not polled
};

struct ReplicaPoolOptions {
  std::string model_id;              // the model name the pool serves (and its metrics label)
  double health_interval_s = 2;
  double health_timeout_s = 1;       // connect and read, per check
};

class ReplicaPool : public Backend {
 public:
  // Throws rpu::Error when there is no replica or a health URL is not http(s).
  ReplicaPool(ReplicaPoolOptions options, std::vector<Replica> replicas);
  // Stops the health thread and waits for fail-overs in progress; calls still streaming must
  // not outlive the pool.
  ~ReplicaPool() override;

  std::string model_id() const override { return options_.model_id; }
  int choice_count(const ChatRequest& request) const override { return backends_.front()->choice_count(request); }
  std::unique_ptr<CallHandle> chat(const ChatRequest& request, ChatEventSink sink) override;
  std::unique_ptr<CallHandle> complete(const CompletionRequest& request, ChatEventSink sink) override;
  EmbeddingResult embed(const EmbeddingRequest& request) override;
  RerankResult rerank(const RerankRequest& request) override;
  // rpu_replica_outstanding, rpu_replica_healthy (gauges) and rpu_replica_failures_total
  // {pool, replica}; then the replicas' own lines.
  std::string metrics_text() const override;

  size_t size() const { return backends_.size(); }
  bool healthy(size_t replica) const;
  int outstanding(size_t replica) const;
  // One round of health checks now, on this thread (the background thread's work).
  void check_health();

  struct State;  // health and load per replica, shared with calls still streaming

 private:
  std::unique_ptr<CallHandle> start(int choices, ChatEventSink sink, std::function<bool()> caller_gone,
                                    std::function<std::unique_ptr<CallHandle>(Backend&, ChatEventSink)> attempt);
  void health_loop();
  // A call without a stream on the least loaded healthy replica, failing over as start() does.
  void blocking_call(const std::function<void(Backend&)>& attempt);

  ReplicaPoolOptions options_;
  std::vector<std::unique_ptr<Backend>> backends_;
  std::shared_ptr<State> state_;
  std::shared_ptr<RetryThreads> threads_;
  std::mutex stop_mutex_;
  std::condition_variable stop_;
  bool stopping_ = false;
  std::thread health_thread_;
};

}  // namespace rpu
