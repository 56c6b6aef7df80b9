#include "server/connection_gate.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "server/openai_protocol.h"
#include "server/request_head.h"

namespace rpu {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kMaxHeaderBlock = 64 << 10;          // httplib itself allows 8 KiB per line
constexpr milliseconds kLingerAfterAnswer{2000};      // discard input before closing, see below
constexpr milliseconds kEndGrace{2000};               // after the drain deadline, to end responses
constexpr milliseconds kCutGrace{5000};               // after connections were cut
constexpr int kLightWorkers = 4;                      // for bodiless GET/HEAD requests only

// Runs each accepted connection's task at once on the accept thread: the task only hands the
// socket to the gate (GatedHttpServer::process_and_close_socket), so it never blocks.
class InlineTaskQueue : public httplib::TaskQueue {
 public:
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override {}
};

const char* reason_phrase(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

// The socket of the request this worker thread is serving (-1: none).
thread_local int current_fd = -1;

}  // namespace

std::function<bool()> current_client_gone_check() {
  const int fd = current_fd;
  return [fd] {
    if (fd < 0) return false;
    pollfd p{fd, POLLRDHUP, 0};
    // POLLRDHUP: the peer shut down or closed its side; a pipelined next request is only POLLIN.
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
  };
}

GatedHttpServer::GatedHttpServer(const ConnectionLimits& limits) : limits_(limits) {
  new_task_queue = [] { return new InlineTaskQueue; };
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  keep_alive_timeout_sec_ = std::max<time_t>(1, limits.keep_alive_timeout.count() / 1000);
  keep_alive_max_count_ = limits.max_requests_per_connection;
}

GatedHttpServer::~GatedHttpServer() {
  stop_listening();
  if (gate_.joinable() || !workers_.empty()) drain(milliseconds(0));
  if (wake_fd_ >= 0) close(wake_fd_);
}

void GatedHttpServer::start() {
  gate_ = std::thread([this] { gate_loop(); });
  for (int i = 0; i < std::max(1, limits_.workers); ++i) workers_.emplace_back([this] { worker_loop(false); });
  for (int i = 0; i < kLightWorkers; ++i) workers_.emplace_back([this] { worker_loop(true); });
}

void GatedHttpServer::stop_listening() {
  const socket_t sock = svr_sock_.exchange(INVALID_SOCKET);
  if (sock == INVALID_SOCKET) return;
  shutdown(sock, SHUT_RDWR);  // wakes a thread blocked in accept()
  close(sock);
}

void GatedHttpServer::widen_listen_backlog() {
  const socket_t sock = svr_sock_.load();
  if (sock != INVALID_SOCKET) ::listen(sock, SOMAXCONN);  // listen() again only resizes the queue
}

void GatedHttpServer::wake_gate() {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = write(wake_fd_, &one, sizeof one);
}

bool GatedHttpServer::process_and_close_socket(socket_t sock) {
  auto c = std::make_unique<Connection>();
  c->fd = sock;
  peer_address(sock, c->ip, c->port);
  c->accepted = Clock::now();
  c->deadline = c->accepted + limits_.header_timeout;
  ++open_;
  if (stopping_) {
    close_connection(*c);
    return true;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    inbox_.push_back(std::move(c));
  }
  wake_gate();
  return true;
}

void GatedHttpServer::close_connection(Connection& c) {
  if (c.fd < 0) return;
  shutdown(c.fd, SHUT_RDWR);
  close(c.fd);
  c.fd = -1;
  --open_;
}

// Answers without involving httplib, then half-closes and keeps discarding what the client
// still sends for a moment: closing a socket with unread input sends a reset, which can make
// the client lose the answer before reading it.
void GatedHttpServer::answer_and_close(Connection& c, int status, const std::string& message,
                                       const std::string& code) {
  GateAnswer answer{c.ip, "-", "-", status,
                    std::chrono::duration<double, std::milli>(Clock::now() - c.accepted).count()};
  if (!c.buffer.empty()) request_line_parts(c.buffer, answer.method, answer.path);
  const std::string body =
      to_json_text(error_body(ApiError(status, message, status >= 500 ? "server_error" : "invalid_request_error", "", code)));
  const std::string response = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) +
                               "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                               "\r\nConnection: close\r\n\r\n" + body;
  [[maybe_unused]] const ssize_t n = send(c.fd, response.data(), response.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  shutdown(c.fd, SHUT_WR);
  c.closing = true;
  c.buffer.clear();
  c.deadline = Clock::now() + kLingerAfterAnswer;
  if (on_gate_answer) on_gate_answer(answer);
}

// Closes the oldest pending connection (of client `ip`, or of anyone): the one that has held
// its place longest without completing a request.
bool GatedHttpServer::evict_oldest(const std::string* ip) {
  auto oldest = pending_.end();
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (*it && (ip == nullptr || (*it)->ip == *ip) && (oldest == pending_.end() || (*it)->order < (*oldest)->order)) oldest = it;
  }
  if (oldest == pending_.end()) return false;
  close_connection(**oldest);
  pending_.erase(oldest);
  return true;
}

void GatedHttpServer::admit(ConnectionPtr c, bool fresh) {
  // Order of admission to the pending set: a kept-alive connection coming back from a worker
  // counts as new, so eviction takes connections that have waited longest without a request.
  c->order = next_order_++;
  // httplib 0.11.4 is built with select(): it answers 500 to a socket >= FD_SETSIZE.
  if (fresh && (c->fd >= FD_SETSIZE || (open_.load() > limits_.max_connections && !evict_oldest(nullptr)))) {
    answer_and_close(*c, 503, "the server has too many open connections; retry later", "server_busy");
  }
  Connection* admitted = c.get();
  pending_.push_back(std::move(c));
  const std::string& ip = admitted->ip;
  long same_client = std::count_if(pending_.begin(), pending_.end(), [&](const ConnectionPtr& p) { return p && p->ip == ip; });
  // The admitted connection is the youngest, so it is never the one evicted.
  for (; same_client > std::max(1, limits_.max_per_client); --same_client) evict_oldest(&ip);
  // A kept-alive connection may already hold its next (pipelined) request.
  if (!fresh && !admitted->buffer.empty()) after_input(pending_.back());
}

// Reads what has arrived (one recv). False when the connection is finished (EOF or error).
bool GatedHttpServer::read_more(Connection& c) {
  char chunk[16384];
  const ssize_t n = recv(c.fd, chunk, sizeof chunk, MSG_DONTWAIT);
  if (n == 0) return false;
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  if (c.closing) return true;  // discarded
  if (c.idle) {
    // The next request has begun: its header block now has a deadline of its own.
    c.idle = false;
    c.deadline = Clock::now() + limits_.header_timeout;
  }
  c.buffer.append(chunk, static_cast<size_t>(n));
  return true;
}

// Checks a pending connection's buffer; moves it to the workers (leaving `c` empty) once its
// header block is complete and acceptable.
void GatedHttpServer::after_input(ConnectionPtr& c) {
  if (c->closing) return;
  const size_t head = header_block_length(c->buffer);
  if (head == 0) {
    if (c->buffer.size() > kMaxHeaderBlock) {
      answer_and_close(*c, 431, "the request's header block is larger than 64 KiB", "request_header_too_large");
    }
    return;
  }
  const HeadCheck check = check_request_head(std::string_view(c->buffer).substr(0, head), limits_.max_body_bytes);
  if (check.status != 0) {
    answer_and_close(*c, check.status, check.message, check.code);
    return;
  }
  size_t head_length = head;
  if (check.add_empty_length) {
    const std::string line = "Content-Length: 0\r\n";
    // The block ends with its blank line: "\r\n" or a bare "\n".
    const size_t blank_line = c->buffer[head - 2] == '\r' ? head - 2 : head - 1;
    c->buffer.insert(blank_line, line);
    head_length += line.size();
  }
  c->request_bytes = head_length + check.content_length;
  std::string method, path;
  request_line_parts(c->buffer, method, path);
  const bool light = (method == "GET" || method == "HEAD") && check.content_length == 0 && !check.chunked;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Back-pressure: beyond this many complete requests waiting for a worker, refuse at once
    // instead of queueing more behind them.
    if (ready_[0].size() + ready_[1].size() < static_cast<size_t>(4 * limits_.workers + 64)) {
      ready_[light ? 1 : 0].push_back(std::move(c));
    }
  }
  if (c) {
    answer_and_close(*c, 503, "the server is overloaded; retry later", "server_busy");
    return;
  }
  // One worker per request. Waking every worker (70-80 threads in rpu serve and rpu gateway)
  // for each request cost 0.3-0.5 ms of context switches per request on a 2-core machine
  // (bench/RESULTS.md, "Gateway"). Light workers wait on a variable of their own, so a light
  // request wakes one of them and one general worker, whichever is free takes it.
  if (light) light_cv_.notify_one();
  work_cv_.notify_one();
}

void GatedHttpServer::gate_loop() {
  std::vector<pollfd> fds;
  for (;;) {
    std::deque<ConnectionPtr> arrived;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (gate_stop_) break;
      arrived.swap(inbox_);
    }
    for (auto& c : arrived) {
      const bool fresh = c->requests == 0;
      admit(std::move(c), fresh);
    }
    pending_.erase(std::remove(pending_.begin(), pending_.end(), nullptr), pending_.end());

    auto now = Clock::now();
    auto wait = milliseconds(1000);
    fds.assign(1, pollfd{wake_fd_, POLLIN, 0});
    for (const auto& c : pending_) {
      fds.push_back(pollfd{c->fd, POLLIN, 0});
      wait = std::min(wait, std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(c->deadline - now)));
    }
    poll(fds.data(), fds.size(), static_cast<int>(wait.count()) + 1);
    if (fds[0].revents != 0) {
      uint64_t count;
      [[maybe_unused]] const ssize_t n = read(wake_fd_, &count, sizeof count);
    }
    now = Clock::now();
    for (size_t i = 0; i < pending_.size(); ++i) {
      ConnectionPtr& c = pending_[i];
      if (fds[i + 1].revents != 0) {
        if (!read_more(*c)) {
          close_connection(*c);
          c.reset();
          continue;
        }
        after_input(c);
        if (!c) continue;
      }
      if (now < c->deadline) continue;
      if (c->closing || c->buffer.empty()) {
        close_connection(*c);  // silent or kept-alive and unused: nothing to answer
        c.reset();
      } else {
        answer_and_close(*c, 408, "the request headers did not arrive in time (header timeout)", "request_timeout");
      }
    }
    pending_.erase(std::remove(pending_.begin(), pending_.end(), nullptr), pending_.end());
  }
  for (auto& c : pending_) close_connection(*c);
  pending_.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& c : inbox_) close_connection(*c);
  inbox_.clear();
}

void GatedHttpServer::worker_loop(bool light_only) {
  for (;;) {
    ConnectionPtr c;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      auto has_work = [&] { return !ready_[1].empty() || (!light_only && !ready_[0].empty()); };
      (light_only ? light_cv_ : work_cv_).wait(lock, [&] { return workers_stop_ || has_work(); });
      if (!has_work()) return;
      auto& queue = !ready_[1].empty() ? ready_[1] : ready_[0];
      c = std::move(queue.front());
      queue.pop_front();
      ++busy_;
      serving_.insert(c->fd);
    }
    const bool keep = serve_one(*c);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      serving_.erase(c->fd);
      --busy_;
      if (keep && !stopping_) {
        c->idle = c->buffer.empty();
        c->deadline = Clock::now() + (c->idle ? limits_.keep_alive_timeout : limits_.header_timeout);
        inbox_.push_back(std::move(c));
      }
    }
    idle_cv_.notify_all();
    if (c) {
      close_connection(*c);
    } else {
      wake_gate();
    }
  }
}

// One request through httplib; true when the connection may carry another.
bool GatedHttpServer::serve_one(Connection& c) {
  if (on_request_begin) on_request_begin();
  ++c.requests;
  const bool last = c.requests >= limits_.max_requests_per_connection || stopping_;
  bool closed_by_client = false;
  size_t consumed = 0;
  bool ok = false;
  {
    ConnectionStream stream(c, limits_.read_timeout, limits_.write_timeout);
    current_fd = c.fd;
    ok = process_request(stream, last, closed_by_client, nullptr);
    current_fd = -1;
    consumed = stream.bytes_read();
  }
  // A body the handler never read (e.g. refused before reading it) would be taken for the
  // next request: such a connection is closed instead.
  return ok && !closed_by_client && !last && consumed >= c.request_bytes;
}

bool GatedHttpServer::drain(milliseconds deadline) {
  stopping_ = true;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    gate_stop_ = true;
  }
  wake_gate();
  if (gate_.joinable()) gate_.join();
  std::unique_lock<std::mutex> lock(mutex_);
  auto finished = [&] { return ready_[0].empty() && ready_[1].empty() && busy_ == 0; };
  if (!idle_cv_.wait_for(lock, deadline, finished)) {
    for (auto& queue : ready_) {
      for (auto& c : queue) close_connection(*c);
      queue.clear();
    }
    if (on_drain_deadline) {
      lock.unlock();
      on_drain_deadline();
      lock.lock();
      idle_cv_.wait_for(lock, kEndGrace, finished);
    }
    // Like a client hanging up: the next write fails and the call is cancelled.
    for (int fd : serving_) shutdown(fd, SHUT_RDWR);
  }
  const bool clean = idle_cv_.wait_for(lock, kCutGrace, finished);
  workers_stop_ = true;
  for (auto& c : inbox_) close_connection(*c);  // returned by a worker after the gate stopped
  inbox_.clear();
  lock.unlock();
  work_cv_.notify_all();
  light_cv_.notify_all();
  for (auto& t : workers_) {
    if (clean) {
      t.join();
    } else {
      t.detach();
    }
  }
  workers_.clear();
  return clean;
}

}  // namespace rpu
