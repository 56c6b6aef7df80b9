#include "serve_loop.h"

#include <pthread.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace rpu::cli {

sigset_t prepare_serving_process() {
  // SIGINT/SIGTERM are taken by one thread (sigwait) that stops the server cleanly; every other
  // thread, created after this mask, never sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not end the server
  // Every connection is a descriptor: a soft limit of 1024 would refuse connections (and make
  // the accept loop spin on EMFILE) before --max-connections is reached.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = std::min<rlim_t>(files.rlim_max, 65536);
    setrlimit(RLIMIT_NOFILE, &files);
  }
  return stop_signals;
}

int serve_until_signalled(Server& server, const sigset_t& stop_signals, double shutdown_timeout_seconds) {
  std::atomic<bool> served{false};
  std::thread stopper([&] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    if (served) return;
    std::fprintf(stderr, "rpu: stopping: requests in progress have %g s to finish (signal again to exit now)\n",
                 shutdown_timeout_seconds);
    server.stop();
    sigwait(&stop_signals, &signal_number);
    if (served) return;
    std::fprintf(stderr, "rpu: second signal: exiting now\n");
    std::_Exit(128 + signal_number);
  });
  const bool drained = server.run();
  served = true;
  // run() also returns if listening fails; wake the stopper so it can be joined.
  pthread_kill(stopper.native_handle(), SIGTERM);
  stopper.join();
  if (!drained) {
    // A request thread is still inside the backend: destroying the model under it would crash.
    std::fprintf(stderr, "rpu: some requests did not stop in time; exiting\n");
    std::fflush(stderr);
    std::_Exit(0);
  }
  std::fprintf(stderr, "rpu: stopped\n");
  return 0;
}

void add_http_options(CLI::App* cmd, ServerOptions& server) {
  cmd->add_option("--host", server.host, "address to listen on (default: loopback only)");
  cmd->add_option("--port", server.port, "TCP port; 0 = any free port")->check(CLI::Range(0, 65535));
  cmd->add_option("--api-key", server.api_key, "require 'Authorization: Bearer KEY' on every request");
  cmd->add_option("--max-body", server.max_body_bytes, "largest request body in bytes")->check(CLI::Range(1024, 1 << 30));
  cmd->add_option("--header-timeout", server.header_timeout_seconds,
                  "seconds a client has to send a request line and headers (then 408)")
      ->check(CLI::Range(1, 3600));
  cmd->add_option("--max-connections-per-client", server.max_connections_per_client,
                  "connections one client address may hold open without a complete request; beyond it, its oldest "
                  "such connection is closed")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--max-connections", server.max_connections, "open connections in all (at most about 1000)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--shutdown-timeout", server.shutdown_timeout_seconds,
                  "on SIGTERM/SIGINT, seconds requests in progress get to finish before they are cancelled")
      ->check(CLI::Range(0.0, 3600.0));
  cmd->add_option("--log-format", server.log_format, "request log on stderr: text, json or off")
      ->check(CLI::IsMember({"text", "json", "off"}));
}

}  // namespace rpu::cli
