// One upstream made dependable: retries with exponential backoff and jitter, Retry-After
// honoured, and a circuit breaker, around any Backend (typically a RemoteBackend).
//
// A call (chat, completion, embedding or reranking) goes through these steps:
//   1. The breaker is asked first. Open: ApiError 503 "upstream_unavailable" at once, with
//      Retry-After = the time until it lets a trial through; the upstream is not contacted.
//   2. An attempt that fails retryably (ApiError 429, 500, 502, 503, 504 — RemoteBackend's
//      transport failures are 502 / 504 — or a stream that ended before its first event
//      reached the caller) counts against the breaker and is made again after
//        Retry-After, when the upstream sent one (more than max_retry_after_s: no retry), else
//        d = min(max_delay_s, base_delay_s * 2^(k-1)) after the k-th failure, of which the
//        fraction `jitter` is drawn at random: d * (1 - jitter) + U[0, d * jitter),
//      up to max_attempts attempts in all; the breaker is asked again before each retry.
//   3. The first event that reaches the caller commits the call (the breaker counts a
//      success): a failure after it is never retried and reaches the caller as the choices'
//      "error" finish, since the caller may already have streamed the text on.
// Other errors (4xx but 429, a cancelled call) pass through at once and leave the breaker as
// it was. Retries before the first event run on the caller's thread inside chat() (so its
// ApiError is the caller's); a stream that breaks later is retried on a thread of this
// backend (RetryingCall). Backoff sleeps end early for CallHandle::cancel() and the request's
// `cancelled` (ApiError 499).
//
// The circuit breaker counts attempts: closed -> open after failure_threshold consecutive
// failed attempts -> half-open once open_seconds have passed, letting one trial call through
// -> closed when the trial commits, open again (for open_seconds) when it fails.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "pipeline/backend.h"

namespace rpu {

class RetryThreads;

struct RetryPolicy {
  int max_attempts = 3;             // attempts per call, the first included
  double base_delay_s = 0.25;       // backoff after the first failure
  double max_delay_s = 8;           // backoff cap
  double jitter = 0.5;              // fraction of the backoff drawn at random (1: full jitter)
  double max_retry_after_s = 30;    // an upstream asking to wait longer is not retried

  // Seconds to wait after the `failures`-th failed attempt; `retry_after_s` > 0 is the
  // upstream's Retry-After; `unit_random` in [0, 1). Negative: do not retry.
  double delay(int failures, double retry_after_s, double unit_random) const;
};

struct CircuitBreakerOptions {
  int failure_threshold = 5;  // consecutive failed attempts that open it (<= 0: never opens)
  double open_seconds = 30;   // how long it stays open before a trial
};

// Thread-safe. Time is a parameter so that tests need not sleep.
class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;
  enum class State { closed, open, half_open };
  // Whether a call may go upstream; `trial`: it is the half-open state's one trial, whose
  // result decides the state (pass it back to on_success / on_failure / on_release).
  struct Permit {
    bool allowed = false;
    bool trial = false;
  };

  explicit CircuitBreaker(CircuitBreakerOptions options = {}) : options_(options) {}
  Permit admit(Clock::time_point now = Clock::now());
  void on_success(bool trial);
  void on_failure(bool trial, Clock::time_point now = Clock::now());
  // The call ended telling nothing of the upstream's health (a 4xx, cancelled).
  void on_release(bool trial);
  State state(Clock::time_point now = Clock::now()) const;
  // Until an open breaker lets a trial through (0 when closed or half-open).
  double seconds_until_trial(Clock::time_point now = Clock::now()) const;
  int consecutive_failures() const;

 private:
  State state_locked(Clock::time_point now) const;

  mutable std::mutex mutex_;
  CircuitBreakerOptions options_;
  bool open_ = false, trial_in_flight_ = false;
  int failures_ = 0;
  Clock::time_point opened_at_;
};

// Owns the backend it wraps. `name` labels its /metrics series (rpu_upstream_*{upstream=NAME}).
class ResilientBackend : public Backend {
 public:
  ResilientBackend(std::string name, std::unique_ptr<Backend> inner, RetryPolicy retry = {},
                   CircuitBreakerOptions breaker = {});
  // Waits for retries in progress (a sleeping one gives up at once); calls still streaming
  // must not outlive it.
  ~ResilientBackend() override;

  std::string model_id() const override { return inner_->model_id(); }
  std::vector<std::string> model_ids() const override { return inner_->model_ids(); }
  bool accepts_model(const std::string& model) const override { return inner_->accepts_model(model); }
  int choice_count(const ChatRequest& request) const override { return inner_->choice_count(request); }
  BackendLoad load() const override { return inner_->load(); }
  std::optional<std::string> render_chat(const ChatRequest& request) override { return inner_->render_chat(request); }
  const Tokenizer* local_tokenizer(const std::string& model) const override { return inner_->local_tokenizer(model); }
  std::unique_ptr<CallHandle> chat(const ChatRequest& request, ChatEventSink sink) override;
  std::unique_ptr<CallHandle> complete(const CompletionRequest& request, ChatEventSink sink) override;
  EmbeddingResult embed(const EmbeddingRequest& request) override;
  RerankResult rerank(const RerankRequest& request) override;
  // rpu_upstream_requests_total{upstream,outcome="ok|error|cancelled|rejected_open"} (one per
  // call), rpu_upstream_attempts_total, rpu_upstream_retries_total, rpu_upstream_failures_total
  // (attempts counted against the breaker), rpu_upstream_circuit_open (0|1) and
  // rpu_upstream_circuit_state (0 closed, 1 open, 2 half-open); then the inner backend's lines.
  std::string metrics_text() const override;

  const std::string& name() const { return name_; }
  Backend& inner() { return *inner_; }
  const CircuitBreaker& breaker() const;

  struct Upstream;  // breaker and counters, shared with calls still streaming
  struct Attempts;  // one call's attempts

 private:
  std::unique_ptr<CallHandle> start(int choices, ChatEventSink sink, std::function<bool()> caller_gone,
                                    std::function<std::unique_ptr<CallHandle>(ChatEventSink)> attempt);
  void admit_first(Attempts& attempts) const;
  // A call without a stream (embeddings, reranking): `attempt` is made again by the same rules.
  void blocking_call(const std::function<void()>& attempt);

  std::string name_;
  std::unique_ptr<Backend> inner_;
  std::shared_ptr<Upstream> upstream_;
  std::shared_ptr<RetryThreads> threads_;
};

}  // namespace rpu
