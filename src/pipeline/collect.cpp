#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>

#include "pipeline/backend.h"

namespace rpu {

struct CallCollector::State {
  std::mutex mutex;
  std::condition_variable finished;
  CallResult result;
  std::vector<int> prompt_tokens, cached_tokens;
  int remaining = 0;
  int per_prompt = 1;
};

CallCollector::CallCollector(int choices, int choices_per_prompt) : state_(std::make_shared<State>()) {
  state_->per_prompt = choices_per_prompt > 0 ? choices_per_prompt : 1;
  state_->result.choices.resize(static_cast<size_t>(choices));
  state_->prompt_tokens.assign(static_cast<size_t>(choices), 0);
  state_->cached_tokens.assign(static_cast<size_t>(choices), 0);
  state_->remaining = choices;
}

void CallCollector::add(const ChatEvent& e) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  if (e.index < 0 || static_cast<size_t>(e.index) >= state_->result.choices.size()) return;
  ChoiceResult& c = state_->result.choices[static_cast<size_t>(e.index)];
  if (!c.finish_reason.empty()) return;  // a finished choice takes no more events
  c.text += e.text;
  c.reasoning += e.reasoning;
  c.logprobs.insert(c.logprobs.end(), e.logprobs.begin(), e.logprobs.end());
  c.completion_tokens = e.completion_tokens;
  c.reasoning_tokens = e.reasoning_tokens;
  c.drafted_tokens = e.drafted_tokens;
  c.accepted_tokens = e.accepted_tokens;
  state_->prompt_tokens[static_cast<size_t>(e.index)] = e.prompt_tokens;
  state_->cached_tokens[static_cast<size_t>(e.index)] = e.cached_tokens;
  if (e.finish_reason.empty()) return;
  c.finish_reason = e.finish_reason;
  c.tool_calls = e.tool_calls;
  c.extension = e.extension;
  c.error = e.error;
  c.stopped_by_string = e.stopped_by_string;
  if (--state_->remaining == 0) state_->finished.notify_all();
}

bool CallCollector::wait_until_done(const std::function<bool()>& cancelled) {
  std::unique_lock<std::mutex> lock(state_->mutex);
  while (!state_->finished.wait_for(lock, std::chrono::milliseconds(50), [&] { return state_->remaining == 0; })) {
    if (cancelled) {
      lock.unlock();
      const bool gone = cancelled();
      lock.lock();
      if (gone && state_->remaining > 0) return false;
    }
  }
  return true;
}

CallResult CallCollector::wait() {
  std::unique_lock<std::mutex> lock(state_->mutex);
  state_->finished.wait(lock, [&] { return state_->remaining == 0; });
  CallResult result = state_->result;
  // The samples of one prompt share it, so usage counts each prompt once.
  Usage& u = result.usage;
  for (size_t i = 0; i < result.choices.size(); ++i) {
    u.completion_tokens += result.choices[i].completion_tokens;
    u.reasoning_tokens += result.choices[i].reasoning_tokens;
    if (i % static_cast<size_t>(state_->per_prompt) == 0) {
      u.prompt_tokens += state_->prompt_tokens[i];
      u.cached_tokens += state_->cached_tokens[i];
    }
  }
  u.total_tokens = u.prompt_tokens + u.completion_tokens;
  return result;
}

namespace {

template <typename Start>
CallResult run_call(int choices, int per_prompt, const ChatEventSink& watch, const std::function<bool()>& cancelled,
                    Start start) {
  CallCollector collector(choices, per_prompt);
  // The handle lives until the call is over: the events still arrive after start() returns.
  auto handle = start([collector, watch](const ChatEvent& e) mutable {
    if (watch) watch(e);
    collector.add(e);
  });
  if (cancelled && !collector.wait_until_done(cancelled)) {
    if (handle) handle->cancel();
    throw ApiError(499, "the caller went away; the call was cancelled", "invalid_request_error", "", "cancelled");
  }
  return collector.wait();
}

}  // namespace

CallResult run_chat(Backend& backend, const ChatRequest& request, const ChatEventSink& watch) {
  return run_call(request.n, request.n, watch, request.cancelled,
                  [&](ChatEventSink sink) { return backend.chat(request, std::move(sink)); });
}

CallResult run_completion(Backend& backend, const CompletionRequest& request, const ChatEventSink& watch) {
  const int choices = static_cast<int>(request.prompts.size()) * request.n;
  return run_call(choices, request.n, watch, request.cancelled,
                  [&](ChatEventSink sink) { return backend.complete(request, std::move(sink)); });
}

}  // namespace rpu
