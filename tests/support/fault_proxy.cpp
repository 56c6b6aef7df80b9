#include "fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <stdexcept>

namespace rpu::test {
namespace {

constexpr int kPollMs = 50;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool send_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}
bool send_all(int fd, const std::string& s) { return send_all(fd, s.data(), s.size()); }

// Waits until fd is readable: 1 readable (or closed), 0 not yet, -1 error.
int readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  const int r = ::poll(&p, 1, kPollMs);
  if (r < 0) return -1;
  return r > 0 ? 1 : 0;
}

// Closes with a TCP reset rather than an orderly FIN.
void reset(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

std::string status_text(int status) {
  switch (status) {
    case 200: return "OK";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
  }
}

std::string response(int status, const std::string& content_type, const std::string& body,
                     const std::string& extra_headers = "") {
  return "HTTP/1.1 " + std::to_string(status) + " " + status_text(status) + "\r\nContent-Type: " + content_type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra_headers + "Connection: close\r\n\r\n" + body;
}

std::string openai_error(const std::string& message, const std::string& type, const std::string& code) {
  return R"({"error":{"message":")" + message + R"(","type":")" + type + R"(","param":null,"code":")" + code + "\"}}";
}

}  // namespace

FaultProxy::FaultProxy(int upstream_port) : upstream_port_(upstream_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd_ < 0) throw std::runtime_error("fault proxy: socket failed");
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 64) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("fault proxy: cannot listen");
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

FaultProxy::~FaultProxy() {
  stopping_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  ::close(listen_fd_);
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
}

void FaultProxy::push(Fault fault) {
  std::lock_guard<std::mutex> lock(mutex_);
  faults_.push_back(fault);
}

void FaultProxy::push(Fault fault, int times) {
  for (int i = 0; i < times; ++i) push(fault);
}

void FaultProxy::clear_faults() {
  std::lock_guard<std::mutex> lock(mutex_);
  faults_.clear();
}

size_t FaultProxy::pending_faults() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return faults_.size();
}

std::vector<ProxiedRequest> FaultProxy::seen() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return seen_;
}

void FaultProxy::reset_counts() {
  std::lock_guard<std::mutex> lock(mutex_);
  requests_ = 0;
  posts_ = 0;
  seen_.clear();
}

void FaultProxy::accept_loop() {
  while (!stopping_) {
    if (readable(listen_fd_) <= 0) continue;
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard<std::mutex> lock(mutex_);
    threads_.emplace_back([this, fd] { serve(fd); });
  }
}

void FaultProxy::serve(int client_fd) {
  // The request: head up to the blank line, then Content-Length bytes of body.
  std::string data;
  size_t head_end = std::string::npos;
  size_t content_length = 0;
  char buffer[16384];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    if (stopping_ || std::chrono::steady_clock::now() > deadline) return (void)::close(client_fd);
    if (head_end == std::string::npos) {
      head_end = data.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        const std::string head = lower(data.substr(0, head_end));
        const size_t at = head.find("\r\ncontent-length:");
        if (at != std::string::npos) content_length = std::stoul(head.substr(at + 17));
      }
    }
    if (head_end != std::string::npos && data.size() >= head_end + 4 + content_length) break;
    const int r = readable(client_fd);
    if (r < 0) return (void)::close(client_fd);
    if (r == 0) continue;
    const ssize_t n = ::recv(client_fd, buffer, sizeof buffer, 0);
    if (n <= 0) return (void)::close(client_fd);
    data.append(buffer, static_cast<size_t>(n));
  }
  const std::string head = data.substr(0, head_end + 2);  // request line and headers, each ending in \r\n
  const std::string body = data.substr(head_end + 4, content_length);
  const size_t sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
  const std::string method = head.substr(0, sp1), path = head.substr(sp1 + 1, sp2 - sp1 - 1);

  Fault fault;
  ++requests_;
  if (method == "POST") {
    std::lock_guard<std::mutex> lock(mutex_);
    ++posts_;
    seen_.push_back({method, path, body});
    if (!faults_.empty()) {
      fault = faults_.front();
      faults_.pop_front();
    }
  }
  switch (fault.kind) {
    case Fault::Kind::kNone:
      forward(client_fd, head, body, -1);
      return;
    case Fault::Kind::kDelay:
      for (int waited = 0; waited < fault.value && !stopping_; waited += 10) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      forward(client_fd, head, body, -1);
      return;
    case Fault::Kind::kDrop:
      ::close(client_fd);
      return;
    case Fault::Kind::kResetAfter:
      forward(client_fd, head, body, fault.value);
      return;
    case Fault::Kind::kError:
      send_all(client_fd, response(fault.value, "application/json",
                                   openai_error("the fault proxy answered HTTP " + std::to_string(fault.value),
                                                "server_error", "injected_fault")));
      break;
    case Fault::Kind::kRateLimited:
      send_all(client_fd, response(429, "application/json",
                                   openai_error("rate limit reached (injected by the fault proxy)", "rate_limit_error",
                                                "rate_limit_exceeded"),
                                   "Retry-After: " + std::to_string(fault.value) + "\r\n"));
      break;
    case Fault::Kind::kGarbage:
      send_all(client_fd, response(200, "text/html", "<html><body>Welcome to the captive portal! {not json\n"
                                                     "<p>data: neither</p></body></html>\n"));
      break;
  }
  ::shutdown(client_fd, SHUT_WR);
  ::close(client_fd);
}

// Sends the request upstream with "Connection: close" and relays the answer's bytes as they
// come. reset_after >= 0: after that many bytes of the answer's body, the client's connection
// is reset.
void FaultProxy::forward(int client_fd, const std::string& head, const std::string& body, int reset_after) {
  const int up = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(upstream_port_));
  if (up < 0 || ::connect(up, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (up >= 0) ::close(up);
    ::close(client_fd);  // the upstream is down: so is the proxy
    return;
  }
  const int one = 1;
  ::setsockopt(up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::string request;
  size_t at = 0;
  while (at < head.size()) {
    const size_t end = head.find("\r\n", at);
    const std::string line = head.substr(at, end - at);
    at = end + 2;
    if (lower(line).rfind("connection:", 0) == 0) continue;
    request += line + "\r\n";
  }
  request += "Connection: close\r\n\r\n" + body;
  if (!send_all(up, request)) {
    ::close(up);
    ::close(client_fd);
    return;
  }
  std::string response_head;  // until the blank line is seen
  bool in_body = false;
  long long body_sent = 0;
  char buffer[16384];
  for (;;) {
    if (stopping_) break;
    const int r = readable(up);
    if (r < 0) break;
    if (r == 0) continue;
    const ssize_t n = ::recv(up, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    std::string chunk(buffer, static_cast<size_t>(n));
    if (!in_body) {
      response_head += chunk;
      const size_t end = response_head.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (!send_all(client_fd, chunk)) break;
        continue;
      }
      in_body = true;
      const size_t body_in_chunk = response_head.size() - (end + 4);
      const std::string head_part = chunk.substr(0, chunk.size() - body_in_chunk);
      if (!send_all(client_fd, head_part)) break;
      chunk = chunk.substr(chunk.size() - body_in_chunk);
    }
    if (reset_after >= 0 && body_sent + static_cast<long long>(chunk.size()) >= reset_after) {
      send_all(client_fd, chunk.data(), static_cast<size_t>(reset_after - body_sent));
      ::close(up);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the bytes leave before the reset
      reset(client_fd);
      return;
    }
    if (!send_all(client_fd, chunk)) break;
    body_sent += static_cast<long long>(chunk.size());
  }
  ::close(up);
  ::shutdown(client_fd, SHUT_WR);
  ::close(client_fd);
}

}  // namespace rpu::test
