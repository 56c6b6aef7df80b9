// A streamed call that may be started again until its first event has reached the caller:
// the machinery ResilientBackend (retries with backoff) and ReplicaPool (fail over to the next
// replica) share. Its owner says, through Hooks, how to start attempt k and what a failed
// attempt means (wait this long and try again, or give up).
//
//   1. begin() starts attempt 1 on the calling thread. An attempt that throws ApiError before
//      streaming is "failed": the owner's failed() gives a delay, the call sleeps it (woken by
//      cancel(), the request's `cancelled`, or the owner shutting down) and starts the next
//      attempt, still on the calling thread; giving up throws that error from begin().
//   2. Once an attempt streams, its events pass through a gate. The first event that reaches
//      the caller commits the call: from then on nothing is retried, and a later failure
//      reaches the caller as its choices' "error" finish, as the inner backend sent it.
//   3. An "error" finish arriving before anything was delivered (a stream that broke before its
//      first token) is a failed attempt too, but begin() has returned by then: the retry runs on
//      a thread of the owner's RetryThreads, and the events of the failed attempt are dropped.
//      Giving up there delivers an "error" finish for every choice.
// Hooks run on the caller's thread, a retry thread or the inner backend's event thread; they
// must be thread-safe and must not call back into the RetryingCall.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "pipeline/backend.h"

namespace rpu {

// The retry threads of one backend: its destructor calls close_and_wait() so that no retry
// outlives the backend it calls (a sleeping retry then gives up at once).
class RetryThreads {
 public:
  void spawn(std::function<void()> task);
  bool closing() const;
  void close_and_wait();

 private:
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  int running_ = 0;
  bool closing_ = false;
};

class RetryingCall : public std::enable_shared_from_this<RetryingCall> {
 public:
  enum class Outcome { ok, error, cancelled };
  struct Hooks {
    // Starts attempt `number` (1, 2, ...) with `sink`; throws ApiError when it cannot run.
    std::function<std::unique_ptr<CallHandle>(int number, ChatEventSink sink)> start;
    // Attempt `number` failed before the caller saw anything: seconds to wait before the next
    // attempt, or < 0 to give up with `error`.
    std::function<double(int number, const ApiError& error)> failed;
    // Attempt `number` delivered the call's first event: it is the one the caller gets.
    std::function<void(int number)> committed;
    // Once per call: every choice finished (error: one of them with "error", or the call was
    // given up), or the caller cancelled. `open_attempt`: an attempt that had started and
    // neither failed nor committed when the call was cancelled (0: none).
    std::function<void(Outcome outcome, int open_attempt)> ended;
  };

  // Starts the call (see above); `choices` is how many finishes end it. `caller_gone` is the
  // request's `cancelled` (may be empty).
  static std::unique_ptr<CallHandle> begin(int choices, ChatEventSink sink, Hooks hooks,
                                           std::function<bool()> caller_gone, std::shared_ptr<RetryThreads> threads);

  RetryingCall(int choices, ChatEventSink sink, Hooks hooks, std::function<bool()> caller_gone,
               std::shared_ptr<RetryThreads> threads);
  void cancel();

 private:
  void run_attempts(int number, double delay);
  void install(int number, std::unique_ptr<CallHandle> handle);
  void on_event(int number, const ChatEvent& event);
  void retry_later(int number, double delay);
  void give_up(const ApiError& error);
  bool sleep(double seconds);
  void end(Outcome outcome);

  std::mutex mutex_;
  std::condition_variable wake_;
  ChatEventSink sink_;
  Hooks hooks_;
  std::function<bool()> caller_gone_;
  std::shared_ptr<RetryThreads> threads_;
  std::unique_ptr<CallHandle> handle_;  // the newest attempt's
  const int choices_;
  int remaining_;                       // choices not finished
  int dropped_through_ = 0;             // events of attempts up to this one are dropped
  int open_attempt_ = 0;                // started, neither failed nor committed
  bool delivered_ = false, any_error_ = false, cancelled_ = false, ended_ = false;
};

}  // namespace rpu
