#include "server/connection_stream.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace rpu {
namespace {

void address_of(const sockaddr_storage& addr, socklen_t len, std::string& ip, int& port) {
  char host[NI_MAXHOST] = {0};
  char service[NI_MAXSERV] = {0};
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host, sizeof host, service, sizeof service,
                  NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
    ip = host;
    port = std::atoi(service);
  }
}

}  // namespace

int poll_one(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int n = poll(&p, 1, static_cast<int>(timeout.count()));
    if (n < 0 && errno == EINTR) continue;
    return n;
  }
}

void peer_address(int fd, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) address_of(addr, len, ip, port);
}

std::chrono::milliseconds ConnectionStream::read_time_left() const {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(read_deadline_ - std::chrono::steady_clock::now());
  return std::max(left, std::chrono::milliseconds(0));
}

bool ConnectionStream::is_readable() const {
  return consumed_ < c_.buffer.size() || poll_one(c_.fd, POLLIN, read_time_left()) > 0;
}

// Writable, and the peer has not hung up: streams check this before every chunk, which is how
// a client that went away cancels its generation (as httplib's own SocketStream does).
bool ConnectionStream::is_writable() const {
  if (poll_one(c_.fd, POLLOUT, write_timeout_) <= 0) return false;
  if (poll_one(c_.fd, POLLIN, std::chrono::milliseconds(0)) <= 0) return true;
  char byte;
  return recv(c_.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

ssize_t ConnectionStream::read(char* ptr, size_t size) {
  if (consumed_ < c_.buffer.size()) {
    const size_t n = std::min(size, c_.buffer.size() - consumed_);
    std::memcpy(ptr, c_.buffer.data() + consumed_, n);
    consumed_ += n;
    total_read_ += n;
    return static_cast<ssize_t>(n);
  }
  if (poll_one(c_.fd, POLLIN, read_time_left()) <= 0) return -1;
  for (;;) {
    const ssize_t n = recv(c_.fd, ptr, size, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) total_read_ += static_cast<size_t>(n);
    return n;
  }
}

ssize_t ConnectionStream::write(const char* ptr, size_t size) {
  if (!is_writable()) return -1;
  for (;;) {
    const ssize_t n = send(c_.fd, ptr, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    return n;
  }
}

void ConnectionStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  ip = c_.ip;
  port = c_.port;
}

void ConnectionStream::get_local_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (getsockname(c_.fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) address_of(addr, len, ip, port);
}

}  // namespace rpu
