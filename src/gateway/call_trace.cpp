#include "gateway/call_trace.h"

namespace rpu::gateway {

CallTrace::CallTrace(int choices, std::string client_key_id, std::string request_json, Done done)
    : choices_(static_cast<size_t>(std::max(choices, 0))),
      remaining_(choices),
      start_unix_ms_(std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count()),
      completion_tokens_(static_cast<size_t>(std::max(choices, 0)), 0),
      client_key_id_(std::move(client_key_id)),
      request_json_(std::move(request_json)),
      done_(std::move(done)) {}

ChatEventSink CallTrace::tap(ChatEventSink client) {
  auto self = shared_from_this();
  return [self, client = std::move(client)](const ChatEvent& event) {
    if (event.finish_reason.empty()) {
      self->record(event);
      client(event);
      return;
    }
    // The gateway's own annotation joins whatever a wrapper (reasoning) already said.
    ChatEvent last = event;
    if (!last.extension.is_object()) last.extension = nlohmann::ordered_json::object();
    nlohmann::ordered_json gateway = {{"route", self->info_.route}, {"answered_by", self->info_.answered_by},
                                      {"escalated", self->info_.escalated}};
    if (!self->info_.reason.empty()) gateway["reason"] = self->info_.reason;
    if (self->info_.confidence >= 0) gateway["confidence"] = self->info_.confidence;
    last.extension["gateway"] = std::move(gateway);
    self->record(last);
    client(last);
  };
}

void CallTrace::record(const ChatEvent& e) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (e.index < 0 || static_cast<size_t>(e.index) >= choices_.size()) return;
  Choice& c = choices_[static_cast<size_t>(e.index)];
  if (c.finished) return;
  if (first_token_ms_ < 0 && (!e.text.empty() || !e.reasoning.empty() || e.completion_tokens > 0)) {
    first_token_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
  }
  c.text += e.text;
  c.reasoning += e.reasoning;
  prompt_tokens_ = std::max<int64_t>(prompt_tokens_, e.prompt_tokens);
  completion_tokens_[static_cast<size_t>(e.index)] = e.completion_tokens;
  if (e.finish_reason.empty()) return;
  c.finished = true;
  c.finish_reason = e.finish_reason;
  c.tool_calls = e.tool_calls;
  c.error = e.error;
  if (info_.confidence < 0 && e.extension.is_object() && e.extension.contains("confidence") &&
      e.extension["confidence"].is_number()) {
    info_.confidence = e.extension["confidence"].get<double>();
  }
  if (--remaining_ == 0) finish_locked();
}

void CallTrace::fail(const std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (Choice& c : choices_) {
    if (!c.finished) c.error = error;
  }
  remaining_ = 0;
  finish_locked();
}

void CallTrace::finish_locked() {
  if (logged_ || !done_) return;
  logged_ = true;
  UsageRecord r;
  r.time_ms = start_unix_ms_;
  r.client_key_id = client_key_id_;
  r.route = info_.route;
  r.model = info_.answered_by;
  r.request_json = std::move(request_json_);
  nlohmann::ordered_json answers = nlohmann::ordered_json::array();
  std::string errors;
  for (const Choice& c : choices_) {
    nlohmann::ordered_json message = {{"role", "assistant"}, {"content", c.text}};
    if (!c.reasoning.empty()) message["reasoning_content"] = c.reasoning;
    if (c.tool_calls.is_array() && !c.tool_calls.empty()) message["tool_calls"] = c.tool_calls;
    if (c.finished) answers.push_back(std::move(message));
    if (!c.error.empty() && errors.find(c.error) == std::string::npos) errors += (errors.empty() ? "" : "; ") + c.error;
  }
  if (!answers.empty()) r.response_json = answers.dump();
  r.prompt_tokens = prompt_tokens_;
  for (int64_t t : completion_tokens_) r.completion_tokens += t;
  r.latency_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
  r.first_token_ms = first_token_ms_;
  r.confidence = info_.confidence;
  r.escalated = info_.escalated;
  r.error = errors;
  r.kind = info_.kind;
  done_(std::move(r));
}

}  // namespace rpu::gateway
