// Starts `rpu serve` as a child process on a free port for end-to-end tests and stops it
// (SIGTERM, then SIGKILL) when destroyed.
#pragma once

#include <sys/types.h>

#include <string>
#include <thread>
#include <vector>

namespace rpu::test {

class ServerProcess {
 public:
  // Runs `rpu serve <args> --port PORT` (default 0: a free port) and waits until it reports its
  // address (throws on failure, with the server's exit status and stderr in the message).
  // `command` runs another serving subcommand instead (`rpu gateway`).
  explicit ServerProcess(const std::vector<std::string>& args, int port = 0, const std::string& command = "serve");
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  const std::string& url() const { return url_; }  // e.g. http://127.0.0.1:41234
  int port() const { return port_; }
  pid_t pid() const { return pid_; }  // e.g. to read the server's memory from /proc
  std::string log() const;  // stderr so far
  bool running() const;
  void signal(int signal_number) const;
  // Waits up to `timeout_ms` for the process to exit: its exit code (128 + N if killed by
  // signal N), or -1 if it is still running.
  int wait_exit(int timeout_ms);

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string url_;
  int stderr_fd_ = -1;
  std::thread drain_;
  std::string* log_;
};

// Runs a JavaScript test scenario with node: exit code and output. `script` is a path under
// tests/peers/ when it contains a '/' (e.g. "gateway/scenarios.mjs"), else under tests/peers/server/.
struct NodeResult {
  int exit_code = -1;
  std::string output;
};
NodeResult run_node(const std::string& script, const std::vector<std::string>& args);
bool node_peers_installed();  // tests/peers/node_modules present

}  // namespace rpu::test
