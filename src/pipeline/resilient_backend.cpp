#include "pipeline/resilient_backend.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <thread>

#include "pipeline/metrics_text.h"
#include "pipeline/retrying_call.h"

namespace rpu {
namespace {

using Clock = std::chrono::steady_clock;

bool retryable(int status) { return status == 429 || status == 500 || status == 502 || status == 503 || status == 504; }

double unit_random() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0, 1)(rng);
}

}  // namespace

double RetryPolicy::delay(int failures, double retry_after_s, double u) const {
  if (retry_after_s > 0) return retry_after_s > max_retry_after_s ? -1 : retry_after_s;
  const double d = std::min(max_delay_s, base_delay_s * std::pow(2.0, std::max(failures, 1) - 1));
  const double j = std::clamp(jitter, 0.0, 1.0);
  return d * (1 - j) + d * j * std::clamp(u, 0.0, 1.0);
}

// ---- CircuitBreaker

CircuitBreaker::State CircuitBreaker::state_locked(Clock::time_point now) const {
  if (!open_) return State::closed;
  return now - opened_at_ < std::chrono::duration<double>(options_.open_seconds) ? State::open : State::half_open;
}

CircuitBreaker::Permit CircuitBreaker::admit(Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  switch (state_locked(now)) {
    case State::closed:
      return {true, false};
    case State::open:
      return {};
    case State::half_open:
      if (trial_in_flight_) return {};
      trial_in_flight_ = true;
      return {true, true};
  }
  return {};
}

void CircuitBreaker::on_success(bool trial) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (trial) {
    open_ = trial_in_flight_ = false;
    failures_ = 0;
  } else if (!open_) {
    failures_ = 0;
  }
}

void CircuitBreaker::on_failure(bool trial, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (trial) {  // the upstream is still down: another open period
    trial_in_flight_ = false;
    opened_at_ = now;
  } else if (!open_ && options_.failure_threshold > 0 && ++failures_ >= options_.failure_threshold) {
    open_ = true;
    opened_at_ = now;
  }
}

void CircuitBreaker::on_release(bool trial) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (trial) trial_in_flight_ = false;
}

CircuitBreaker::State CircuitBreaker::state(Clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_locked(now);
}

double CircuitBreaker::seconds_until_trial(Clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_locked(now) != State::open) return 0;
  return options_.open_seconds - std::chrono::duration<double>(now - opened_at_).count();
}

int CircuitBreaker::consecutive_failures() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return failures_;
}

// ---- ResilientBackend

struct ResilientBackend::Attempts {
  std::atomic<bool> trial{false};  // the current attempt is the breaker's half-open trial
  std::atomic<int> refused{0};     // the attempt the breaker turned away
};

struct ResilientBackend::Upstream {
  std::string name;
  RetryPolicy policy;
  CircuitBreaker breaker;
  std::atomic<long long> ok{0}, error{0}, cancelled{0}, rejected{0}, attempts{0}, retries{0}, failures{0};

  Upstream(std::string name, RetryPolicy policy, CircuitBreakerOptions breaker)
      : name(std::move(name)), policy(policy), breaker(breaker) {}

  ApiError rejection() const {
    ApiError e(503, "upstream " + name + " is unavailable: its circuit breaker is open after repeated failures",
               "upstream_error", "", "upstream_unavailable");
    const double wait = breaker.seconds_until_trial();
    e.retry_after_seconds = wait > 0 ? wait : 1;  // half-open with a trial in flight: soon
    return e;
  }

  void admit(Attempts& a, int number) {
    const CircuitBreaker::Permit permit = breaker.admit();
    if (!permit.allowed) {
      a.refused = number;
      throw rejection();
    }
    a.trial = permit.trial;
  }

  // Attempt `number` failed before the caller saw anything: the backoff, or < 0 to give up.
  double after_failure(Attempts& a, int number, const ApiError& e) {
    if (number == a.refused) return -1;  // the breaker's own refusal
    if (!retryable(e.status)) {          // the upstream answered; the fault is the request's
      breaker.on_release(a.trial);
      return -1;
    }
    breaker.on_failure(a.trial);
    ++failures;
    if (number >= policy.max_attempts) return -1;
    const double d = policy.delay(number, e.retry_after_seconds, unit_random());
    if (d >= 0) ++retries;
    return d;
  }

  void count(RetryingCall::Outcome outcome) {
    switch (outcome) {
      case RetryingCall::Outcome::ok: ++ok; break;
      case RetryingCall::Outcome::error: ++error; break;
      case RetryingCall::Outcome::cancelled: ++cancelled; break;
    }
  }
};

ResilientBackend::ResilientBackend(std::string name, std::unique_ptr<Backend> inner, RetryPolicy retry,
                                   CircuitBreakerOptions breaker)
    : name_(std::move(name)),
      inner_(std::move(inner)),
      upstream_(std::make_shared<Upstream>(name_, retry, breaker)),
      threads_(std::make_shared<RetryThreads>()) {}

ResilientBackend::~ResilientBackend() { threads_->close_and_wait(); }

const CircuitBreaker& ResilientBackend::breaker() const { return upstream_->breaker; }

void ResilientBackend::admit_first(Attempts& attempts) const {
  try {
    upstream_->admit(attempts, 1);
  } catch (const ApiError&) {
    ++upstream_->rejected;
    throw;
  }
}

std::unique_ptr<CallHandle> ResilientBackend::start(int choices, ChatEventSink sink, std::function<bool()> caller_gone,
                                                    std::function<std::unique_ptr<CallHandle>(ChatEventSink)> attempt) {
  auto a = std::make_shared<Attempts>();
  admit_first(*a);
  auto up = upstream_;
  RetryingCall::Hooks hooks;
  // Runs only on the caller's thread or a retry thread, which the destructor waits for.
  hooks.start = [up, a, attempt = std::move(attempt)](int number, ChatEventSink attempt_sink) {
    if (number > 1) up->admit(*a, number);
    ++up->attempts;
    return attempt(std::move(attempt_sink));
  };
  hooks.failed = [up, a](int number, const ApiError& e) { return up->after_failure(*a, number, e); };
  hooks.committed = [up, a](int) { up->breaker.on_success(a->trial); };
  hooks.ended = [up, a](RetryingCall::Outcome outcome, int open_attempt) {
    if (open_attempt > 0) up->breaker.on_release(a->trial);
    up->count(outcome);
  };
  return RetryingCall::begin(choices, std::move(sink), std::move(hooks), std::move(caller_gone), threads_);
}

std::unique_ptr<CallHandle> ResilientBackend::chat(const ChatRequest& request, ChatEventSink sink) {
  return start(inner_->choice_count(request), std::move(sink), request.cancelled,
               [inner = inner_.get(), request](ChatEventSink s) { return inner->chat(request, std::move(s)); });
}

std::unique_ptr<CallHandle> ResilientBackend::complete(const CompletionRequest& request, ChatEventSink sink) {
  return start(static_cast<int>(request.prompts.size()) * request.n, std::move(sink), request.cancelled,
               [inner = inner_.get(), request](ChatEventSink s) { return inner->complete(request, std::move(s)); });
}

EmbeddingResult ResilientBackend::embed(const EmbeddingRequest& request) {
  EmbeddingResult result;
  blocking_call([&] { result = inner_->embed(request); });
  return result;
}

RerankResult ResilientBackend::rerank(const RerankRequest& request) {
  RerankResult result;
  blocking_call([&] { result = inner_->rerank(request); });
  return result;
}

// The same rules without a stream: one blocking call per attempt.
void ResilientBackend::blocking_call(const std::function<void()>& attempt) {
  Attempts a;
  admit_first(a);
  for (int number = 1;; ++number) {
    try {
      if (number > 1) upstream_->admit(a, number);
      ++upstream_->attempts;
      attempt();
      upstream_->breaker.on_success(a.trial);
      ++upstream_->ok;
      return;
    } catch (const ApiError& e) {
      const double delay = upstream_->after_failure(a, number, e);
      const auto until = Clock::now() + std::chrono::microseconds(static_cast<int64_t>(std::max(delay, 0.0) * 1e6));
      while (delay >= 0 && Clock::now() < until && !threads_->closing()) {
        std::this_thread::sleep_for(std::min<Clock::duration>(until - Clock::now(), std::chrono::milliseconds(50)));
      }
      if (delay < 0 || threads_->closing()) {
        ++upstream_->error;
        throw;
      }
    }
  }
}

std::string ResilientBackend::metrics_text() const {
  const Upstream& u = *upstream_;
  const std::string label = "upstream=\"" + metric_label_value(name_) + "\"";
  auto outcome = [&](const char* name) { return label + ",outcome=\"" + name + "\""; };
  std::string out;
  append_metric_family(out, "rpu_upstream_requests_total", "Calls through a resilient upstream, by how they ended.",
                       "counter",
                       {{outcome("ok"), u.ok.load()},
                        {outcome("error"), u.error.load()},
                        {outcome("cancelled"), u.cancelled.load()},
                        {outcome("rejected_open"), u.rejected.load()}});
  append_metric_family(out, "rpu_upstream_attempts_total", "Calls made to an upstream, first tries and retries.",
                       "counter", {{label, u.attempts.load()}});
  append_metric_family(out, "rpu_upstream_retries_total", "Attempts made again after a retryable failure.", "counter",
                       {{label, u.retries.load()}});
  append_metric_family(out, "rpu_upstream_failures_total", "Attempts that failed and counted against the breaker.",
                       "counter", {{label, u.failures.load()}});
  const CircuitBreaker::State state = u.breaker.state();
  append_metric_family(out, "rpu_upstream_circuit_open", "1 while the upstream's circuit breaker turns calls away.",
                       "gauge", {{label, state == CircuitBreaker::State::open ? 1 : 0}});
  append_metric_family(out, "rpu_upstream_circuit_state", "The upstream's circuit breaker: 0 closed, 1 open, 2 half-open.",
                       "gauge", {{label, static_cast<long long>(state)}});
  return merge_metrics_text({out, inner_->metrics_text()});
}

}  // namespace rpu
