// Hands a request's generation events from the backend's thread to the HTTP thread serving
// it. The backend never blocks on a slow client: push() only appends.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "pipeline/backend.h"

namespace rpu {

class EventChannel {
 public:
  // wake: whether the reader should run now. A non-streamed response only needs the final
  // events; not waking its thread for every token keeps the cores for the forward pass.
  void push(const ChatEvent& event, bool wake = true) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      events_.push_back(event);
    }
    if (wake) ready_.notify_one();
  }
  // Waits up to `timeout` for events; moves all that arrived into `out`. False on timeout.
  bool pop_all(std::deque<ChatEvent>& out, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    ready_.wait_for(lock, timeout, [&] { return !events_.empty(); });
    if (events_.empty()) return false;
    while (!events_.empty()) {
      out.push_back(std::move(events_.front()));
      events_.pop_front();
    }
    return true;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<ChatEvent> events_;
};

}  // namespace rpu
