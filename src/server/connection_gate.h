// The connection handling of `rpu serve`, in front of cpp-httplib's request parsing.
//
// Why not httplib's own: its accept loop hands every connection to a thread of a fixed pool,
// and that thread then waits (5 s keep-alive wait, then a 60 s timeout per recv) for the
// request. 72 silent or slowloris connections therefore took every thread and /health
// waited behind them. The compile-time knobs (CPPHTTPLIB_THREAD_POOL_COUNT, ...) do not reach
// Debian's prebuilt libcpp-httplib.so, and 0.11.4 has no header-timeout option.
//
// How: httplib 0.11.4 calls the virtual `Server::process_and_close_socket(sock)` for every
// accepted socket, from a task of the queue `new_task_queue` makes. It is private in the base,
// but a derived class may still override it (access does not restrict overriding); the
// override cannot call the base version, so it does not: our task queue runs the task inline
// on the accept thread, the override only passes the socket to the gate, and a worker later
// calls the protected `Server::process_request` with our own Stream over the socket.
//
// - One gate thread polls every connection that has not yet sent a complete header block
//   (new ones, and kept-alive ones between requests), reading what arrives into the
//   connection's buffer. No worker thread waits for a slow client's headers.
// - A header block must complete within `header_timeout` of the first byte (a total deadline,
//   not per recv): otherwise 408 and close. A kept-alive connection may stay silent for
//   `keep_alive_timeout`.
// - Framing errors that httplib would answer only after waiting for the body (bad, negative,
//   oversized or duplicate Content-Length) are answered by the gate at once.
// - Limits: at most `max_per_client` pending (incomplete or idle) connections per client
//   address, and `max_connections` open in all; over a limit the oldest pending connection is
//   closed, so a flood only displaces itself and a new request (e.g. /health) still gets in.
//   When nothing can be displaced, or too many complete requests wait for a worker, the new
//   connection gets a 503 at once.
// - Complete requests go to a fixed pool of `workers` threads. Bodiless GET/HEAD requests
//   (/health, /metrics, /v1/models) may also take one of a few threads of their own, so they
//   are answered even while every worker is busy with generations or slow request bodies.
// - A request's body must arrive within `read_timeout` in all (not per recv).
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "server/connection_stream.h"

namespace rpu {

struct ConnectionLimits {
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds keep_alive_timeout{5000};
  std::chrono::milliseconds read_timeout{60000};   // for a whole request body
  std::chrono::milliseconds write_timeout{60000};  // per send
  int max_per_client = 64;
  int max_connections = 1000;
  int workers = 72;
  size_t max_body_bytes = 16u << 20;
  size_t max_requests_per_connection = 1000;
};

// A request the gate answered itself (never reached a handler).
struct GateAnswer {
  std::string client, method, path;
  int status = 0;
  double ms = 0;  // since the connection was accepted
};

// A check of the client of the request the calling worker thread serves: true once that
// client has closed its connection (peer hang-up seen by poll, nothing read). Handlers pass it
// as a pipeline request's `cancelled`, so CPU-heavy preparation (template, schema, grammar)
// stops for a client that left. It is meant for the duration of the request; outside one it
// always says false.
std::function<bool()> current_client_gone_check();

class GatedHttpServer : public httplib::Server {
 public:
  explicit GatedHttpServer(const ConnectionLimits& limits);
  ~GatedHttpServer() override;

  // Called on the worker thread before httplib reads each request.
  std::function<void()> on_request_begin;
  // Called when a drain's deadline passes with requests still in progress, before their
  // connections are cut: a chance to end their responses cleanly (they get 2 s).
  std::function<void()> on_drain_deadline;
  // Called (on the gate thread) for every request the gate answered itself.
  std::function<void(const GateAnswer&)> on_gate_answer;

  // Starts the gate and worker threads (before listen_after_bind()).
  void start();
  // Closes the listening socket: new connections are refused. Unlike httplib's stop(), also
  // works before listen_after_bind() got going (a signal right after startup), which then
  // returns at once.
  void stop_listening();
  // After bind: httplib 0.11.4 listens with a backlog of 5, so a burst of connections had
  // their SYNs dropped and retried after 1, 3, 7 s; the gate accepts quickly, so let the
  // kernel queue a burst instead (somaxconn caps it).
  void widen_listen_backlog();
  // After listen_after_bind() returned (stop() was called): closes idle and incomplete
  // connections, lets requests in progress finish until `deadline`, then shuts their sockets
  // down, which cancels their generations like a client disconnect. False if a request still
  // had not returned a few seconds after that (its thread is left behind).
  bool drain(std::chrono::milliseconds deadline);

  int open_connections() const { return open_.load(); }

 private:
  using ConnectionPtr = std::unique_ptr<Connection>;

  bool process_and_close_socket(socket_t sock) override;
  void gate_loop();
  void admit(ConnectionPtr c, bool fresh);
  bool read_more(Connection& c);
  void after_input(ConnectionPtr& c);
  void answer_and_close(Connection& c, int status, const std::string& message, const std::string& code);
  bool evict_oldest(const std::string* ip);
  void close_connection(Connection& c);
  void worker_loop(bool light_only);
  bool serve_one(Connection& c);
  void wake_gate();

  ConnectionLimits limits_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> open_{0};
  int wake_fd_ = -1;

  std::mutex mutex_;
  std::condition_variable work_cv_, light_cv_, idle_cv_;  // light_cv_: the light-only workers
  std::deque<ConnectionPtr> inbox_;  // to the gate: accepted, or back from a worker
  // To the workers, with a complete header block: [0] any request, [1] bodiless GET/HEAD.
  std::deque<ConnectionPtr> ready_[2];
  std::set<int> serving_;            // sockets of requests in progress
  int busy_ = 0;
  bool gate_stop_ = false, workers_stop_ = false;

  std::vector<ConnectionPtr> pending_;  // gate thread only
  uint64_t next_order_ = 0;             // gate thread only
  std::thread gate_;
  std::vector<std::thread> workers_;
};

}  // namespace rpu
