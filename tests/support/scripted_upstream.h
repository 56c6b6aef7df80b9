// An OpenAI-compatible upstream inside the test process (httplib on a free port) whose
// answers a test scripts, for tests of RemoteBackend and the wrappers around it: each
// POST /v1/chat/completions (and POST /v1/rerank, answered with made-up scores or the step's
// error) takes the next step of the script (the last step repeats), and
// GET /health answers 200 or 503. A step streams a chat answer, answers an error status
// (with Retry-After), or breaks the connection before or after its first chunk.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace rpu::test {

struct UpstreamStep {
  enum class Kind { stream, status, drop_before_first, drop_after_first };
  Kind kind = Kind::stream;
  int status = 500;            // Kind::status: with an OpenAI error body
  std::string retry_after;     // Kind::status: the Retry-After header, when not empty
  int delay_ms = 0;            // streams: after the headers, before the first chunk
  std::vector<std::string> pieces = {"Hel", "lo"};  // streams: every choice's content deltas

  static UpstreamStep ok(int delay_ms = 0) { return with(Kind::stream, 0, "", delay_ms); }
  static UpstreamStep error(int status, std::string retry_after = "") {
    return with(Kind::status, status, std::move(retry_after), 0);
  }
  static UpstreamStep drop_before_first() { return with(Kind::drop_before_first, 0, "", 0); }
  static UpstreamStep drop_after_first() { return with(Kind::drop_after_first, 0, "", 0); }
  static UpstreamStep with(Kind kind, int status, std::string retry_after, int delay_ms) {
    UpstreamStep s;
    s.kind = kind;
    s.status = status;
    s.retry_after = std::move(retry_after);
    s.delay_ms = delay_ms;
    return s;
  }
};

class ScriptedUpstream {
 public:
  // A stream step's delay may also come from the request: a last message "delay:MS".
  explicit ScriptedUpstream(std::vector<UpstreamStep> script = {UpstreamStep::ok()});
  ~ScriptedUpstream();
  ScriptedUpstream(const ScriptedUpstream&) = delete;
  ScriptedUpstream& operator=(const ScriptedUpstream&) = delete;

  std::string base_url() const;    // http://127.0.0.1:PORT/v1
  std::string health_url() const;  // http://127.0.0.1:PORT/health
  void set_script(std::vector<UpstreamStep> script);  // starts again at its first step
  void set_healthy(bool healthy);
  int requests() const;  // chat requests received so far
  std::vector<std::chrono::steady_clock::time_point> request_times() const;
  // Waits up to `timeout_ms` until `n` chat requests arrived; whether they did.
  bool wait_for_requests(int n, int timeout_ms = 5000) const;

  struct State;

 private:
  std::shared_ptr<State> state_;
  int port_ = 0;
};

// A local port nobody listens on (bound, then closed).
int closed_port();

}  // namespace rpu::test
