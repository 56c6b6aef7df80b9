#include "server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <regex>
#include <stdexcept>

extern char** environ;

namespace rpu::test {
namespace {
std::mutex log_mutex;
}

ServerProcess::ServerProcess(const std::vector<std::string>& args, int port, const std::string& command)
    : log_(new std::string) {
  std::vector<std::string> argv_strings = {RPU_BINARY, command};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  argv_strings.push_back("--port");
  argv_strings.push_back(std::to_string(port));
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  if (rc != 0) throw std::runtime_error("cannot start " + argv_strings[0]);
  stderr_fd_ = pipe_fds[0];

  // Read stderr until the "serving ... on http://HOST:PORT" line, then keep draining it.
  std::string seen;
  const std::regex address(R"(on (http://[0-9.]+:([0-9]+)))");
  std::smatch match;
  char buffer[4096];
  while (!std::regex_search(seen, match, address)) {
    const ssize_t n = read(stderr_fd_, buffer, sizeof buffer);
    if (n <= 0) {
      int status = 0;
      waitpid(pid_, &status, 0);
      pid_ = -1;
      close(stderr_fd_);
      stderr_fd_ = -1;
      delete log_;
      log_ = nullptr;
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      throw std::runtime_error("rpu " + command + " exited before listening (exit code " + std::to_string(code) + "): " + seen);
    }
    seen.append(buffer, static_cast<size_t>(n));
  }
  url_ = match[1].str();
  port_ = std::stoi(match[2].str());
  *log_ = seen;
  std::string* log = log_;
  const int fd = stderr_fd_;
  drain_ = std::thread([log, fd] {
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) {
      std::lock_guard<std::mutex> lock(log_mutex);
      log->append(buf, static_cast<size_t>(n));
    }
  });
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100 && waitpid(pid_, &status, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (waitpid(pid_, &status, WNOHANG) == 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
  }
  if (drain_.joinable()) drain_.join();
  if (stderr_fd_ >= 0) close(stderr_fd_);
  delete log_;
}

std::string ServerProcess::log() const {
  std::lock_guard<std::mutex> lock(log_mutex);
  return *log_;
}

bool ServerProcess::running() const { return pid_ > 0 && kill(pid_, 0) == 0; }

void ServerProcess::signal(int signal_number) const {
  if (pid_ > 0) kill(pid_, signal_number);
}

int ServerProcess::wait_exit(int timeout_ms) {
  if (pid_ <= 0) return -1;
  int status = 0;
  for (int waited = 0;; waited += 20) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) break;
    if (waited >= timeout_ms) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool node_peers_installed() {
  return std::filesystem::exists(std::string(RPU_PEERS_DIR) + "/node_modules/openai");
}

NodeResult run_node(const std::string& script, const std::vector<std::string>& args) {
  const std::string dir = script.find('/') == std::string::npos ? "/server/" : "/";
  std::string command_line = "node '" + std::string(RPU_PEERS_DIR) + dir + script + "'";
  for (const auto& a : args) command_line += " '" + a + "'";
  command_line += " 2>&1";
  NodeResult result;
  FILE* pipe = popen(command_line.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) result.output.append(buffer, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace rpu::test
