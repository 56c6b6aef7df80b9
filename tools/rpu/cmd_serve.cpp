// rpu serve MODEL [--host 127.0.0.1] [--port 8080] [--parallel N] [--ctx N] [--api-key KEY]:
// the OpenAI-compatible HTTP API with continuous batching (src/server, src/engine/scheduler.h).
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>

#include "commands.h"
#include "options.h"
#include "core/error.h"
#include "engine/scheduler.h"
#include "model/lora.h"
#include "pipeline/local_backend.h"
#include "reasoning/reasoning_backend.h"
#include "server/server.h"

namespace rpu::cli {
namespace {

struct ServeOptions {
  std::string model_path;
  std::string alias;
  std::string chat_template_path;
  std::string lora_path;
  RuntimeOptions runtime;
  SchedulerOptions scheduler;
  ServerOptions server;
};

int serve(ServeOptions& o) {
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

  auto [model, tokenizer] = load_model_with_tokenizer(o.model_path);
  LocalBackendOptions backend_options;
  if (!o.chat_template_path.empty()) backend_options.chat_template = read_text_file(o.chat_template_path);
  o.scheduler.n_ctx = o.runtime.context_size(*model);
  backend_options.model_id = !o.alias.empty()       ? o.alias
                             : o.model_path.empty() ? std::string("rpu-arith")
                                                    : std::filesystem::path(o.model_path).stem().string();
  std::unique_ptr<LoraAdapter> lora;
  if (!o.lora_path.empty()) {
    lora = LoraAdapter::load(o.lora_path, *model);
    o.scheduler.lora = lora.get();
  }
  ThreadPool pool(o.runtime.thread_count());
  Scheduler scheduler(*model, *tokenizer, o.scheduler, &pool);
  LocalBackend local(*model, *tokenizer, scheduler, backend_options);
  if (!local.has_chat_template()) {
    std::fprintf(stderr, "rpu: warning: %s; /v1/chat/completions is off\n", local.chat_template_error().c_str());
  }
  // Every request in flight holds an HTTP thread: one per slot and queued request, plus a few.
  o.server.http_threads = o.scheduler.n_seq + o.scheduler.max_queue + 8;
  // Calls that ask for a reasoning strategy (extension or "NAME+sc8") sample the local model.
  reasoning::ReasoningBackend reasoned(local, {o.scheduler.n_seq, nullptr});
  Server server(reasoned, o.server);
  server.bind();
  std::fprintf(stderr, "rpu: serving %s as \"%s\" on http://%s:%d (%d sequences x %d tokens of context, %d threads)\n",
               o.model_path.empty() ? "the built-in model" : o.model_path.c_str(), backend_options.model_id.c_str(), o.server.host.c_str(), server.port(),
               o.scheduler.n_seq, o.scheduler.n_ctx, pool.size());
  // The first signal stops accepting and drains (up to --shutdown-timeout); a second one
  // exits at once.
  std::atomic<bool> served{false};
  std::thread stopper([&] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    if (served) return;
    std::fprintf(stderr, "rpu: stopping: requests in progress have %g s to finish (signal again to exit now)\n",
                 o.server.shutdown_timeout_seconds);
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

}  // namespace

Action add_serve_command(CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand("serve", "serve the model over an OpenAI-compatible HTTP API");
  cmd->add_option("model", o->model_path, "model file (GGUF); default: the built-in arithmetic specialist")
      ->check(CLI::ExistingFile);
  cmd->add_option("--host", o->server.host, "address to listen on (default: loopback only)");
  cmd->add_option("--port", o->server.port, "TCP port; 0 = any free port")->check(CLI::Range(0, 65535));
  cmd->add_option("--parallel", o->scheduler.n_seq, "sequences decoded together (slots)")->check(CLI::Range(1, 256));
  cmd->add_option("--queue", o->scheduler.max_queue, "requests that may wait for a slot; more get HTTP 429")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--prefill-chunk", o->scheduler.prefill_chunk,
                  "most prompt tokens of one sequence per step, so long prompts do not stall decoding")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--api-key", o->server.api_key, "require 'Authorization: Bearer KEY' on every request");
  cmd->add_option("--alias", o->alias, "model name reported by /v1/models (default: the file name)");
  cmd->add_option("--chat-template", o->chat_template_path, "Jinja chat template file to use instead of the model's")
      ->check(CLI::ExistingFile);
  cmd->add_option("--lora", o->lora_path, "LoRA adapter (GGUF) applied to every request without merging")
      ->check(CLI::ExistingFile);
  cmd->add_option("--max-body", o->server.max_body_bytes, "largest request body in bytes")->check(CLI::Range(1024, 1 << 30));
  cmd->add_option("--header-timeout", o->server.header_timeout_seconds,
                  "seconds a client has to send a request line and headers (then 408)")
      ->check(CLI::Range(1, 3600));
  cmd->add_option("--max-connections-per-client", o->server.max_connections_per_client,
                  "connections one client address may hold open without a complete request; beyond it, its oldest "
                  "such connection is closed")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--max-connections", o->server.max_connections, "open connections in all (at most about 1000)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--shutdown-timeout", o->server.shutdown_timeout_seconds,
                  "on SIGTERM/SIGINT, seconds requests in progress get to finish before they are cancelled")
      ->check(CLI::Range(0.0, 3600.0));
  cmd->add_option("--log-format", o->server.log_format, "request log on stderr: text, json or off")
      ->check(CLI::IsMember({"text", "json", "off"}));
  add_runtime_options(cmd, o->runtime);
  return [o] { return serve(*o); };
}

}  // namespace rpu::cli
