#include "pipeline/retrying_call.h"

#include <algorithm>
#include <chrono>
#include <thread>

namespace rpu {
namespace {

using Clock = std::chrono::steady_clock;

class RetryingHandle : public CallHandle {
 public:
  explicit RetryingHandle(std::shared_ptr<RetryingCall> call) : call_(std::move(call)) {}
  void cancel() override { call_->cancel(); }

 private:
  std::shared_ptr<RetryingCall> call_;
};

ApiError cancelled_error() {
  return ApiError(499, "the caller went away; the call was cancelled", "invalid_request_error", "", "cancelled");
}

RetryingCall::Outcome outcome_of(const ApiError& error) {
  return error.status == 499 ? RetryingCall::Outcome::cancelled : RetryingCall::Outcome::error;
}

}  // namespace

void RetryThreads::spawn(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++running_;
  }
  std::thread([this, task = std::move(task)]() mutable {
    task();
    task = nullptr;  // what the task held goes before the owner may be destroyed
    std::lock_guard<std::mutex> lock(mutex_);
    if (--running_ == 0) idle_.notify_all();
  }).detach();
}

bool RetryThreads::closing() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return closing_;
}

void RetryThreads::close_and_wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  closing_ = true;
  idle_.wait(lock, [&] { return running_ == 0; });
}

RetryingCall::RetryingCall(int choices, ChatEventSink sink, Hooks hooks, std::function<bool()> caller_gone,
                           std::shared_ptr<RetryThreads> threads)
    : sink_(std::move(sink)),
      hooks_(std::move(hooks)),
      caller_gone_(std::move(caller_gone)),
      threads_(std::move(threads)),
      choices_(choices),
      remaining_(choices) {}

std::unique_ptr<CallHandle> RetryingCall::begin(int choices, ChatEventSink sink, Hooks hooks,
                                                std::function<bool()> caller_gone,
                                                std::shared_ptr<RetryThreads> threads) {
  auto call = std::make_shared<RetryingCall>(choices, std::move(sink), std::move(hooks), std::move(caller_gone),
                                             std::move(threads));
  try {
    call->run_attempts(1, 0);
  } catch (const ApiError& e) {
    call->end(outcome_of(e));
    throw;
  } catch (...) {
    call->end(Outcome::error);
    throw;
  }
  return std::make_unique<RetryingHandle>(call);
}

// Attempts `number`, `number` + 1, ... (after sleeping `delay`) until one streams; throws the
// error to give up with.
void RetryingCall::run_attempts(int number, double delay) {
  for (;; ++number) {
    if (delay > 0 && !sleep(delay)) {
      if (threads_->closing()) throw ApiError(503, "the backend is shutting down", "server_error", "", "shutting_down");
      throw cancelled_error();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cancelled_) throw cancelled_error();
      open_attempt_ = number;
    }
    try {
      auto self = shared_from_this();
      install(number, hooks_.start(number, [self, number](const ChatEvent& e) { self->on_event(number, e); }));
      return;
    } catch (const ApiError& e) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (open_attempt_ == number) open_attempt_ = 0;
        if (cancelled_) throw cancelled_error();
      }
      delay = hooks_.failed(number, e);
      if (delay < 0) throw;
    }
  }
}

// Keeps the handle of the attempt that streams; one that already failed (a retry took over),
// or a call that already ended or was cancelled, has no use for it.
void RetryingCall::install(int number, std::unique_ptr<CallHandle> handle) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!cancelled_ && !ended_ && number > dropped_through_) {
    handle_ = std::move(handle);
    return;
  }
  const bool cancel = cancelled_;
  lock.unlock();
  if (cancel && handle) handle->cancel();
}

void RetryingCall::on_event(int number, const ChatEvent& e) {
  bool commit = false, last = false, failed_choices = false;
  std::unique_ptr<CallHandle> failed_handle;  // released outside the lock
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cancelled_ || ended_ || number <= dropped_through_) return;
    if (!delivered_ && e.finish_reason == "error") {
      open_attempt_ = 0;
      const ApiError error(502, "the upstream stream ended before its first event: " + e.error, "upstream_error", "",
                           "upstream_stream_broken");
      const double delay = hooks_.failed(number, error);
      if (delay >= 0 && !threads_->closing()) {
        dropped_through_ = number;  // this attempt's other finishes are dropped too
        failed_handle = std::move(handle_);
        auto self = shared_from_this();
        threads_->spawn([self, number, delay] { self->retry_later(number + 1, delay); });
        return;
      }
      delivered_ = true;  // given up: the attempt's finishes go to the caller as they are
    }
    if (!delivered_) {
      delivered_ = true;
      commit = true;
      open_attempt_ = 0;
    }
    if (!e.finish_reason.empty()) {
      any_error_ = any_error_ || e.finish_reason == "error";
      last = --remaining_ == 0;
      failed_choices = any_error_;
    }
  }
  if (commit) hooks_.committed(number);
  // The owner's books (load, counters) are settled before the caller learns the call is over.
  if (last) end(failed_choices ? Outcome::error : Outcome::ok);
  sink_(e);
}

// On a retry thread: the stream of attempt `number` - 1 broke before its first event.
void RetryingCall::retry_later(int number, double delay) {
  try {
    run_attempts(number, delay);
  } catch (const ApiError& e) {
    give_up(e);
  } catch (const std::exception& e) {
    give_up(ApiError(502, e.what(), "upstream_error", "", ""));
  }
}

// begin() has returned, so the caller hears of the failure as every choice's "error" finish.
void RetryingCall::give_up(const ApiError& error) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cancelled_ || ended_ || delivered_) return;
    delivered_ = true;
  }
  end(outcome_of(error));
  for (int i = 0; i < choices_; ++i) {
    ChatEvent e;
    e.index = i;
    e.finish_reason = "error";
    e.error = error.what();
    sink_(e);
  }
}

// False when the call should stop waiting: cancelled, the caller gone, or the owner closing.
bool RetryingCall::sleep(double seconds) {
  const auto deadline = Clock::now() + std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6));
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      // Woken at once by cancel(); the other two are polled (caller_gone may check a socket).
      const auto until = std::min(deadline, Clock::now() + std::chrono::milliseconds(50));
      if (wake_.wait_until(lock, until, [&] { return cancelled_; })) return false;
    }
    if (threads_->closing() || (caller_gone_ && caller_gone_())) return false;
    if (Clock::now() >= deadline) return true;
  }
}

void RetryingCall::cancel() {
  std::unique_ptr<CallHandle> handle;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cancelled_ || ended_) return;
    cancelled_ = true;
    handle = std::move(handle_);
    wake_.notify_all();
  }
  if (handle) handle->cancel();
  end(Outcome::cancelled);
}

// Once: tells the owner, and drops the inner handle (whose sink holds this call: a cycle).
void RetryingCall::end(Outcome outcome) {
  std::unique_ptr<CallHandle> handle;
  int open = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (ended_) return;
    ended_ = true;
    open = open_attempt_;
    open_attempt_ = 0;
    handle = std::move(handle_);
  }
  hooks_.ended(outcome, open);
}

}  // namespace rpu
