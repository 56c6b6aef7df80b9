// Raw HTTP over TCP for tests that must control every byte (malformed framing, slow or silent
// clients): connect, send, and read with a deadline.
#pragma once

#include <string>

namespace rpu::test {

// A connected TCP socket to 127.0.0.1:port (-1 when refused). Closed by the destructor.
class RawConnection {
 public:
  explicit RawConnection(int port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  bool send(const std::string& bytes);
  // Reads until the peer closes or `timeout_ms` passes; what arrived.
  std::string read_until_close(int timeout_ms);
  // Reads until `needle` arrived, the peer closes, or `timeout_ms` passes.
  std::string read_until(const std::string& needle, int timeout_ms);
  // True once the peer has closed (waits up to `timeout_ms`).
  bool closed_by_peer(int timeout_ms);
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  std::string received_;
};

// One request with "Connection: close": the whole response, or what arrived by the deadline.
std::string raw_request(int port, const std::string& request, int timeout_ms = 10000);
// The status code of a raw response (0 when there is none).
int status_of(const std::string& response);
// The body of a raw response (after the blank line).
std::string body_of(const std::string& response);

}  // namespace rpu::test
