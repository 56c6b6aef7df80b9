// What `rpu serve` and `rpu gateway` share around their HTTP server: the process set-up for
// serving (stop signals taken by one thread, SIGPIPE ignored, enough file descriptors) and
// the loop that serves until SIGINT/SIGTERM, then drains.
#pragma once

#include <CLI/CLI.hpp>
#include <signal.h>

#include "server/server.h"

namespace rpu::cli {

// Call first, before any thread is created: the threads created later inherit the mask.
sigset_t prepare_serving_process();
// Serves until the first stop signal, then stops accepting and gives requests in progress
// `shutdown_timeout_seconds` to finish; a second signal exits at once. Returns the exit code.
// When a request could not be stopped in time the process exits here (std::_Exit), since
// destroying the backend under it would crash.
int serve_until_signalled(Server& server, const sigset_t& stop_signals, double shutdown_timeout_seconds);
// The HTTP server's flags (--host, --port, --api-key, connection limits, --shutdown-timeout, ...).
void add_http_options(CLI::App* cmd, ServerOptions& server);

}  // namespace rpu::cli
