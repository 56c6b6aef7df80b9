// rpu gateway --config gateway.yaml: an OpenAI-compatible endpoint in front of small local
// models and large-model upstreams (src/gateway/gateway_backend.h): routing, cascade on
// confidence, fallback, shadow calls, client keys with rate limits, and every call scrubbed
// of personal data and written to the usage log. `rpu gateway hash-key KEY` prints the
// SHA-256 a client key is stored as in the config.
#include <fmt/format.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <thread>
#include <map>
#include <memory>

#include "commands.h"
#include "core/error.h"
#include "gateway/call_logger.h"
#include "gateway/client_keys.h"
#include "gateway/config.h"
#include "gateway/gateway_backend.h"
#include "gateway/scrub.h"
#include "gateway/usage_log.h"
#include "gateway/vault.h"
#include "kb_models.h"
#include "gateway/usage_store.h"
#include "local_session.h"
#include "reasoning/reasoning_backend.h"
#include "retrieval/knowledge_backend.h"
#include "serve_loop.h"

namespace rpu::cli {
namespace {

struct GatewayOptions {
  std::string config_path;
  std::string log_path;  // overrides the config's log.path
  ServerOptions server;
  bool host_given = false, port_given = false;
};

// A local model of the config: its session, and reasoning around it (route strategies and
// "NAME+sc8" model names sample it several times).
struct LocalTarget {
  std::unique_ptr<LocalSession> session;
  std::unique_ptr<reasoning::ReasoningBackend> reasoned;
};

LocalTarget open_local_target(const gateway::LocalModelConfig& m) {
  SessionOptions s;
  s.model_path = m.path == "builtin" ? "" : m.path;
  s.slots = m.parallel;
  s.max_queue = m.queue;
  s.model_id = m.name;
  if (!m.chat_template.empty()) s.chat_template = read_text_file(m.chat_template);
  RuntimeOptions runtime;
  runtime.threads = m.threads;
  runtime.ctx = m.ctx;
  LocalTarget t;
  t.session = open_local_session(s, runtime);
  t.reasoned = std::make_unique<reasoning::ReasoningBackend>(*t.session->backend,
                                                             reasoning::ReasoningOptions{m.parallel, nullptr});
  std::fprintf(stderr, "rpu gateway: model \"%s\": %s (%d sequences)\n", m.name.c_str(),
               m.path == "builtin" ? "the built-in model" : m.path.c_str(), m.parallel);
  return t;
}

// A local model as the gateway holds it: the Backend is the reasoning layer, and the shared
// pointer owns the session under it (so the gateway can release a model a reload dropped).
std::shared_ptr<Backend> load_local_target(const gateway::LocalModelConfig& m) {
  auto target = std::make_shared<LocalTarget>(open_local_target(m));
  return std::shared_ptr<Backend>(target, target->reasoned.get());
}

// SIGHUP asks the gateway to re-read its routes file now (it also notices changes by itself
// within a second). SIGHUP is blocked in every thread (set before any was created) and taken
// here with a timeout, so the thread can end with the gateway.
class ReloadOnHangup {
 public:
  explicit ReloadOnHangup(gateway::GatewayBackend& backend) : thread_([this, &backend] {
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    const timespec tick{0, 200 * 1000 * 1000};
    while (!stop_) {
      if (sigtimedwait(&hup, nullptr, &tick) == SIGHUP) backend.request_reload();
    }
  }) {}
  ~ReloadOnHangup() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The usage log and what writes to it: scrubbed and sealed as the config says (none without log.path).
// Members in this order so the logger, which holds the others, goes first.
struct CallLogging {
  std::unique_ptr<gateway::UsageLog> log;
  std::unique_ptr<gateway::Scrubber> scrubber;
  std::unique_ptr<gateway::Vault> vault;
  std::unique_ptr<gateway::CallLogger> logger;
};

CallLogging open_call_logging(const gateway::GatewayConfig& config) {
  CallLogging out;
  if (!config.log.path.empty() && !config.log.vault_key_env.empty()) {
    // Before the log file is created: a missing key leaves nothing behind.
    try {
      out.vault = std::make_unique<gateway::Vault>(gateway::Vault::from_environment(config.log.vault_key_env));
    } catch (const gateway::VaultError& e) {
      throw gateway::ConfigError(config.file + ":" + std::to_string(config.log.vault_key_env_line) +
                                 ": log.vault_key_env: " + e.what());
    }
  }
  if (!config.log.path.empty()) {
    gateway::UsageLogOptions log_options;
    log_options.path = config.log.path;
    log_options.retention_days = config.log.retention_days;
    log_options.max_rows = config.log.max_rows;
    out.log = std::make_unique<gateway::UsageLog>(log_options);
    if (config.log.scrub) out.scrubber = std::make_unique<gateway::Scrubber>();
    out.logger = std::make_unique<gateway::CallLogger>(*out.log, out.scrubber.get(), config.log.queue, out.vault.get());
  }
  return out;
}

// knowledge_bases: opened now (a bad file stops the start), searched for calls that ask; the
// reranker, when named, is a target of the gateway's own table.
void open_knowledge_bases(const gateway::GatewayConfig& config, gateway::GatewayBackend& backend,
                          retrieval::KnowledgeLibrary& knowledge) {
  for (const auto& [name, path] : config.knowledge_bases) {
    try {
      knowledge.add(name, path);
    } catch (const Error& e) {
      throw gateway::ConfigError(config.file + ": knowledge_bases." + name + ": " + e.what());
    }
  }
  if (!config.knowledge_reranker.empty()) {
    // Looked up per call, so the scores come from the target the current table holds.
    const std::string target = config.knowledge_reranker;
    knowledge.set_reranker(retrieval::calling_reranker(
        [&backend, target](const RerankRequest& request) { return backend.rerank_on(target, request); }, target));
  }
}

// A client key's check as the server's authentication decision (a rate-limited key is counted).
Authenticator client_authenticator(gateway::ClientKeys& keys, gateway::GatewayBackend& backend) {
  return [&keys, &backend](const std::string& token, bool counts) {
    const auto d = keys.check(token, counts);
    AuthDecision decision;
    decision.key_id = d.key_id;
    decision.retry_after_seconds = d.retry_after_seconds;
    decision.outcome = d.outcome == gateway::ClientKeys::Outcome::kAllow         ? AuthDecision::kAllow
                       : d.outcome == gateway::ClientKeys::Outcome::kRateLimited ? AuthDecision::kRateLimited
                                                                                 : AuthDecision::kDeny;
    if (decision.outcome == AuthDecision::kRateLimited) backend.metrics().on_rate_limited(d.key_id);
    return decision;
  };
}

int run_gateway(GatewayOptions& o) {
  const sigset_t stop_signals = prepare_serving_process();
  gateway::GatewayConfig config = gateway::load_gateway_config(o.config_path);
  if (!config.routes_file.empty()) {
    sigset_t hangup;  // before any thread exists, so that every thread inherits the mask
    sigemptyset(&hangup);
    sigaddset(&hangup, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &hangup, nullptr);
  }
  if (!o.log_path.empty()) config.log.path = o.log_path;
  if (!o.host_given) o.server.host = config.host;
  if (!o.port_given) o.server.port = config.port;
  gateway::check_remote_environment(config);  // a missing key is reported before models load

  int http_threads = 16;
  for (const auto& m : config.local_models) http_threads += m.parallel + m.queue;
  const CallLogging logging = open_call_logging(config);
  gateway::GatewayBackend backend(config, load_local_target, logging.logger.get());
  EmbeddingModels embedding_models(RuntimeOptions{});
  retrieval::KnowledgeLibrary knowledge([&](const retrieval::KbSettings& s) { return embedding_models.for_base(s); });
  open_knowledge_bases(config, backend, knowledge);
  if (!knowledge.empty()) backend.set_knowledge(&knowledge);
  std::unique_ptr<ReloadOnHangup> hangup_thread;
  if (!config.routes_file.empty()) hangup_thread = std::make_unique<ReloadOnHangup>(backend);

  gateway::ClientKeys keys(config.keys);
  if (!keys.empty()) o.server.authenticate = client_authenticator(keys, backend);
  // Calls to upstreams hold an HTTP thread while they stream: leave room for many.
  o.server.http_threads = std::max(http_threads, 64);
  Server server(backend, o.server);
  server.bind();
  // A postgres:// log may carry a password; the banner shows where the log goes, not that.
  const std::string log_shown = config.log.path.empty() ? "off" : gateway::redact_location(config.log.path);
  std::fprintf(stderr, "rpu gateway: %zu routes, %zu local models, %zu upstreams; usage log: %s%s; on http://%s:%d\n",
               backend.route_names().size(), config.local_models.size(), config.remotes.size(), log_shown.c_str(),
               config.log.path.empty() ? "" : (config.log.scrub ? " (scrubbed)" : " (NOT scrubbed)"),
               o.server.host.c_str(), server.port());
  const int code = serve_until_signalled(server, stop_signals, o.server.shutdown_timeout_seconds);
  backend.wait_for_shadows();
  if (logging.logger) logging.logger->flush();
  return code;
}

}  // namespace

Action add_gateway_command(CLI::App& app) {
  auto o = std::make_shared<GatewayOptions>();
  auto key = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "gateway", "an OpenAI-compatible gateway: small local models first, large-model upstreams when needed, every "
                 "call logged and scrubbed of personal data");
  cmd->add_option("--config", o->config_path, "gateway configuration (YAML; see examples/gateway.yaml)");
  cmd->add_option("--log", o->log_path, "usage log: a SQLite file or a postgres:// URI (overrides log.path)");
  add_http_options(cmd, o->server);
  CLI::App* hash = cmd->add_subcommand("hash-key", "print the SHA-256 a client key is stored as (keys[].sha256)");
  hash->add_option("key", *key, "the key; read from stdin when not given");
  return [o, key, cmd, hash] {
    if (hash->parsed()) {
      std::string k = *key;
      if (k.empty() && !std::getline(std::cin, k)) fail("no key given (as an argument or on stdin)");
      fmt::print("{}\n", gateway::sha256_hex(k));
      return 0;
    }
    if (o->config_path.empty()) fail("rpu gateway needs --config FILE (see examples/gateway.yaml)");
    o->host_given = cmd->count("--host") > 0;
    o->port_given = cmd->count("--port") > 0;
    try {
      return run_gateway(*o);
    } catch (const gateway::ConfigError& e) {
      fail("{}", e.what());
    }
  };
}

}  // namespace rpu::cli
