// One client connection of `rpu serve` and the httplib::Stream that reads and writes it.
// Internal to src/server. The connection gate (connection_gate.h) reads a request's header
// block into `buffer` before any worker thread sees the connection; the stream hands those
// bytes to httplib first, then reads the socket. Bytes left over after a request (a pipelined
// next request) stay in `buffer` for the next one.
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace rpu {

struct Connection {
  using Clock = std::chrono::steady_clock;

  int fd = -1;
  std::string ip;
  int port = 0;
  std::string buffer;          // received, not yet consumed by httplib
  uint64_t order = 0;          // admission order: the oldest pending connection is evicted first
  Clock::time_point accepted;  // for the request log of answers the gate gives
  Clock::time_point deadline;  // when the gate gives up waiting (header block, keep-alive, close)
  bool idle = false;           // keep-alive: no byte of the next request yet
  bool closing = false;        // answered and half-closed: the gate discards input until EOF
  size_t requests = 0;         // served on this connection
  size_t request_bytes = 0;    // header block + declared body of the request being served
};

class ConnectionStream : public httplib::Stream {
 public:
  // `read_timeout` bounds the whole request body, not each recv: a client trickling a byte
  // now and then must not hold a worker indefinitely.
  ConnectionStream(Connection& connection, std::chrono::milliseconds read_timeout,
                   std::chrono::milliseconds write_timeout)
      : c_(connection),
        read_deadline_(std::chrono::steady_clock::now() + read_timeout),
        write_timeout_(write_timeout) {}
  // Drops the bytes httplib consumed, keeping a pipelined next request.
  ~ConnectionStream() override { c_.buffer.erase(0, consumed_); }

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  // httplib 0.11.4 uses this only to answer 500 when it is >= FD_SETSIZE (its select()
  // calls); the gate refuses such connections first, and this stream itself uses poll().
  socket_t socket() const override { return c_.fd; }

  size_t bytes_read() const { return total_read_; }  // request bytes httplib consumed

 private:
  Connection& c_;
  size_t consumed_ = 0;    // of c_.buffer
  size_t total_read_ = 0;  // from the buffer and the socket
  std::chrono::milliseconds read_time_left() const;

  std::chrono::steady_clock::time_point read_deadline_;
  std::chrono::milliseconds write_timeout_;
};

// poll() for one event on one descriptor: >0 ready, 0 timed out, <0 error.
int poll_one(int fd, short events, std::chrono::milliseconds timeout);
// The peer's numeric address and port ("" when unknown).
void peer_address(int fd, std::string& ip, int& port);

}  // namespace rpu
