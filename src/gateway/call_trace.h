// What the gateway records of one call while it passes through: a sink wrapper ("tap") that
// forwards every event to the client's sink unchanged (apart from the gateway's extension on
// each choice's last event) and keeps what the usage log needs: the answer per choice, token
// counts, the time to the first token, the confidence a wrapper reported. When the last
// choice finishes it hands a raw UsageRecord to `done` (which scrubs and logs it off the
// request path, call_logger.h).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/usage_log.h"
#include "pipeline/backend.h"

namespace rpu::gateway {

struct TraceInfo {
  std::string route, answered_by;  // route name; the target that answered
  bool escalated = false;
  double confidence = -1;  // set by a cascade (else read from the events' extension)
  std::string reason;  // why it was escalated, or answered by a fallback (the response's rpu.gateway.reason)
  std::string kind = "primary";  // "shadow": answered for comparison only
};

class CallTrace : public std::enable_shared_from_this<CallTrace> {
 public:
  using Done = std::function<void(UsageRecord)>;
  // request_json: {"messages": [...], "tools": [...]} (or {"prompt": ...}) as the client sent it.
  CallTrace(int choices, std::string client_key_id, std::string request_json, Done done);

  TraceInfo& info() { return info_; }
  // A sink that records and forwards to `client`.
  ChatEventSink tap(ChatEventSink client);
  // The call failed before any event (the error the client gets): logged with it.
  void fail(const std::string& error);

 private:
  void record(const ChatEvent& e);
  void finish_locked();

  struct Choice {
    std::string text, reasoning, finish_reason, error;
    nlohmann::ordered_json tool_calls;
    bool finished = false;
  };
  std::mutex mutex_;
  std::vector<Choice> choices_;
  int remaining_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  int64_t start_unix_ms_;
  double first_token_ms_ = -1;
  int64_t prompt_tokens_ = 0;
  std::vector<int64_t> completion_tokens_;
  std::string client_key_id_, request_json_;
  TraceInfo info_;
  Done done_;
  bool logged_ = false;
};

}  // namespace rpu::gateway
