// CommandVerifier: an external program judges the candidate (stdin in, exit status out).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "core/error.h"
#include "reasoning/verifiers.h"

extern char** environ;

namespace rpu::reasoning {
namespace {

constexpr size_t kKeptOutput = 4096;
constexpr int kReadsPerRound = 64;  // 256 KiB of output between clock checks
using Clock = std::chrono::steady_clock;

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

// execvp's lookup, done once up front so a missing program is a configuration error.
std::string resolve_program(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (!is_executable_file(name)) fail("reasoning.verifier.command: '{}' is not an executable file", name);
    return name;
  }
  const char* env = std::getenv("PATH");
  const std::string path = env != nullptr ? env : "/usr/local/bin:/usr/bin:/bin";
  for (size_t begin = 0;;) {
    const size_t end = path.find(':', begin);
    // (A view, and the candidate appended in place: gcc 12 -O3 reports false -Wrestrict and
    // -Wstringop-overflow warnings on dir = "." and dir + "/" + name.)
    std::string_view dir = std::string_view(path).substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    if (dir.empty()) dir = ".";
    std::string candidate(dir);
    candidate += '/';
    candidate += name;
    if (is_executable_file(candidate)) return candidate;
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  fail("reasoning.verifier.command: program '{}' not found in PATH", name);
}

struct Fd {
  int fd = -1;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) close(fd);
    fd = -1;
  }
};

// Blocks SIGPIPE in this thread while we write to the child, so a program that exits
// without reading its stdin gives us EPIPE instead of killing the process. A SIGPIPE our
// writes raised is consumed before the old mask comes back (one that was already pending
// is left alone).
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, &old_);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  }
  ~SigpipeBlock() {
    if (!was_pending_) {
      sigset_t pipe_only;
      sigemptyset(&pipe_only);
      sigaddset(&pipe_only, SIGPIPE);
      const timespec zero{0, 0};
      while (sigtimedwait(&pipe_only, nullptr, &zero) == SIGPIPE) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t old_{};
  bool was_pending_ = false;
};

// Owns a spawned child: whatever happens, its process group is killed and it is reaped.
struct Child {
  pid_t pid = -1;
  ~Child() {
    if (pid > 0) finish();
  }
  // Kills what is left of the group (the unreaped leader keeps its id reserved, so this
  // cannot hit an unrelated process) and reaps the leader. Returns its wait status.
  int finish() {
    kill(-pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    pid = -1;
    return status;
  }
  bool exited() const {
    siginfo_t info{};
    return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
  }
};

void spawn(Child& child, const std::string& path, const std::vector<std::string>& argv, int in_fd, int out_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_fd, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Own process group (to kill it whole), no blocked signals (we block SIGPIPE while
  // spawning), default handlers for signals a server might ignore.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (const int sig : {SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, path.c_str(), &actions, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) fail("could not start '{}': {}", path, std::strerror(rc));
  child.pid = pid;
}

std::string describe(int status, const std::string& output) {
  std::string reason = WIFEXITED(status)   ? "exit status " + std::to_string(WEXITSTATUS(status))
                       : WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                             : "ended with wait status " + std::to_string(status);
  size_t end = output.size();
  while (end > 0 && (output[end - 1] == '\n' || output[end - 1] == ' ' || output[end - 1] == '\r')) --end;
  if (end > 0) reason += ": " + output.substr(0, end);
  return reason;
}

}  // namespace

CommandVerifier::CommandVerifier(std::vector<std::string> argv, int timeout_ms)
    : argv_(std::move(argv)), timeout_ms_(timeout_ms) {
  if (argv_.empty() || argv_[0].empty()) fail("reasoning.verifier.command: needs at least a program name");
  for (const std::string& a : argv_)
    if (a.find('\0') != std::string::npos) fail("reasoning.verifier.command: arguments may not contain NUL bytes");
  if (timeout_ms <= 0 || timeout_ms > 600000) fail("reasoning.verifier.timeout_ms: {} is outside 1..600000", timeout_ms);
  path_ = resolve_program(argv_[0]);
}

Verdict CommandVerifier::check(std::string_view candidate) const {
  SigpipeBlock no_sigpipe;
  Fd in_read, in_write, out_read, out_write;
  int p[2];
  // O_CLOEXEC: a child spawned concurrently by another thread must not inherit our pipe
  // ends (a stray write end would keep our reader from ever seeing end-of-file).
  if (pipe2(p, O_CLOEXEC) != 0) return {false, 0.0, std::string("could not create a pipe: ") + std::strerror(errno)};
  in_read.fd = p[0], in_write.fd = p[1];
  if (pipe2(p, O_CLOEXEC) != 0) return {false, 0.0, std::string("could not create a pipe: ") + std::strerror(errno)};
  out_read.fd = p[0], out_write.fd = p[1];
  Child child;
  try {
    spawn(child, path_, argv_, in_read.fd, out_write.fd);
  } catch (const Error& e) {
    return {false, 0.0, e.what()};
  }
  in_read.reset();
  out_write.reset();
  fcntl(in_write.fd, F_SETFL, O_NONBLOCK);
  fcntl(out_read.fd, F_SETFL, O_NONBLOCK);

  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms_);
  size_t written = 0;
  if (candidate.empty()) in_write.reset();
  std::string output;
  char buffer[4096];
  for (;;) {
    const bool exited = child.exited();
    // Drain what the program wrote, in bounded rounds: a program that writes as fast as we
    // read (`yes`) must not keep us from the clock. After its exit, what is still buffered
    // is read, but a background grandchild holding the pipe open is not waited for.
    for (int round = 0; round < kReadsPerRound && out_read.fd >= 0; ++round) {
      const ssize_t n = read(out_read.fd, buffer, sizeof buffer);
      if (n > 0) {
        if (output.size() < kKeptOutput) output.append(buffer, std::min(static_cast<size_t>(n), kKeptOutput - output.size()));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) out_read.reset();
      break;
    }
    if (exited) break;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return {false, 0.0, "timed out after " + std::to_string(timeout_ms_) + " ms"};  // ~Child kills
    pollfd fds[2];
    nfds_t n = 0;
    if (in_write.fd >= 0) fds[n++] = {in_write.fd, POLLOUT, 0};
    if (out_read.fd >= 0) fds[n++] = {out_read.fd, POLLIN, 0};
    // Exit is noticed through end-of-file on the output pipe; the short cap covers programs
    // that closed their output early or passed it to a child.
    poll(fds, n, static_cast<int>(std::min<long long>(left, out_read.fd >= 0 ? 50 : 5)));
    while (in_write.fd >= 0 && written < candidate.size()) {
      const ssize_t w = write(in_write.fd, candidate.data() + written, candidate.size() - written);
      if (w > 0) {
        written += static_cast<size_t>(w);
        continue;
      }
      if (w < 0 && (errno == EAGAIN || errno == EINTR)) break;
      in_write.reset();  // EPIPE: the program stopped reading, which is its right
    }
    if (in_write.fd >= 0 && written == candidate.size()) in_write.reset();  // end-of-file for the program
  }
  const int status = child.finish();
  const bool pass = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return {pass, pass ? 1.0 : 0.0, describe(status, output)};
}

}  // namespace rpu::reasoning
