// A fault-injecting HTTP proxy for end-to-end tests, in the test process: it sits between the
// gateway and an upstream (an `rpu serve`), forwards each request and relays the response's
// bytes as they arrive (so streams stay streams), and can be scripted per request with a
// queue of faults. Each connection carries one request (the proxy asks the upstream for
// "Connection: close" and closes the client's connection after the answer).
//
// Faults apply to POST requests only, in order: each POST takes the next fault from the queue
// (none left: it is forwarded untouched); GETs (health probes) always pass through. The proxy
// counts every request it saw and keeps the POSTs' paths and bodies.
#pragma once

#include <atomic>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace rpu::test {

struct Fault {
  enum class Kind {
    kNone,          // forward untouched
    kDelay,         // wait `value` ms, then forward
    kDrop,          // read the request, close the connection without answering
    kResetAfter,    // forward, but reset the connection (RST) after `value` bytes of the response body
    kError,         // answer HTTP `value` (5xx) with an OpenAI error body; the upstream is not asked
    kRateLimited,   // answer 429 with "Retry-After: `value`" and an OpenAI error body
    kGarbage,       // answer 200 with a body that is neither JSON nor SSE
  };
  Kind kind = Kind::kNone;
  int value = 0;

  static Fault none() { return {Kind::kNone, 0}; }
  static Fault delay(int ms) { return {Kind::kDelay, ms}; }
  static Fault drop() { return {Kind::kDrop, 0}; }
  static Fault reset_after(int body_bytes) { return {Kind::kResetAfter, body_bytes}; }
  static Fault error(int status) { return {Kind::kError, status}; }
  static Fault rate_limited(int retry_after_s) { return {Kind::kRateLimited, retry_after_s}; }
  static Fault garbage() { return {Kind::kGarbage, 0}; }
};

struct ProxiedRequest {
  std::string method, path, body;
};

class FaultProxy {
 public:
  // Forwards to 127.0.0.1:upstream_port; listens on a free loopback port.
  explicit FaultProxy(int upstream_port);
  ~FaultProxy();  // stops accepting, ends the connections in progress, joins their threads
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }  // + "/v1" for a base URL

  void push(Fault fault);           // the next POST gets this fault
  void push(Fault fault, int times);
  void clear_faults();
  size_t pending_faults() const;

  int requests() const { return requests_.load(); }  // every request seen, faulted or not
  int posts() const { return posts_.load(); }        // POST requests seen
  std::vector<ProxiedRequest> seen() const;          // the POSTs, in order
  void reset_counts();                               // counts and seen() start again from zero

 private:
  void accept_loop();
  void serve(int client_fd);
  void forward(int client_fd, const std::string& head, const std::string& body, int reset_after);

  int upstream_port_ = 0;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0}, posts_{0};
  mutable std::mutex mutex_;
  std::deque<Fault> faults_;
  std::vector<ProxiedRequest> seen_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace rpu::test
