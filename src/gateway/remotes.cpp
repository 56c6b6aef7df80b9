// The gateway's remote targets, built from the config:
//   an upstream     ResilientBackend (retries with backoff and Retry-After, circuit breaker)
//                   around one RemoteBackend;
//   a replica set   ReplicaPool (least outstanding, health checks, fail-over before the first
//                   event) of RemoteBackends, inside one ResilientBackend for the retries and
//                   the breaker of the set as a whole.
#include <cstdlib>

#include "gateway/gateway_backend.h"
#include "pipeline/remote_backend.h"
#include "pipeline/replica_pool.h"
#include "pipeline/resilient_backend.h"

namespace rpu::gateway {
namespace {

std::string api_key(const RemoteConfig& remote, const std::string& config_file) {
  if (remote.api_key_env.empty()) return "";
  const char* key = std::getenv(remote.api_key_env.c_str());
  if (key == nullptr || *key == '\0') {
    const std::string where = remote.api_key_env_line > 0 ? ":" + std::to_string(remote.api_key_env_line) : "";
    throw ConfigError(config_file + where + ": " + (remote.is_replica_set ? "models." : "upstreams.") + remote.name +
                      ".api_key_env: the environment variable " + remote.api_key_env + " is not set");
  }
  return key;
}

std::unique_ptr<Backend> remote_backend(const RemoteConfig& remote, const std::string& url, const std::string& key) {
  RemoteBackendOptions options;
  options.base_url = url;
  options.api_key = key;
  options.model = remote.model;
  options.model_id = remote.model;
  options.connect_timeout_s = remote.timeouts.connect_s;
  options.first_byte_timeout_s = remote.timeouts.first_token_s;
  options.first_token_timeout_s = remote.timeouts.first_token_s;
  options.total_timeout_s = remote.timeouts.total_s;
  return std::make_unique<RemoteBackend>(options);
}

// ".../v1" -> ".../health" (rpu serve answers /health at the root).
std::string health_url(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.size() >= 3 && url.compare(url.size() - 3, 3, "/v1") == 0) url.resize(url.size() - 3);
  return url + "/health";
}

}  // namespace

void check_remote_environment(const GatewayConfig& config) {
  for (const RemoteConfig& remote : config.remotes) api_key(remote, config.file);
}

std::unique_ptr<Backend> make_remote_backend(const RemoteConfig& remote, const std::string& config_file) {
  const std::string key = api_key(remote, config_file);
  RetryPolicy retry;
  retry.max_attempts = remote.retry.attempts;
  retry.base_delay_s = remote.retry.base_delay_s;
  retry.max_delay_s = remote.retry.max_delay_s;
  retry.max_retry_after_s = remote.retry.max_retry_after_s;
  CircuitBreakerOptions breaker{remote.breaker.failures, remote.breaker.open_s};
  std::unique_ptr<Backend> inner;
  if (remote.is_replica_set) {
    std::vector<Replica> replicas;
    for (const std::string& url : remote.urls) replicas.push_back({url, remote_backend(remote, url, key), health_url(url)});
    ReplicaPoolOptions pool;
    pool.model_id = remote.model;
    pool.health_interval_s = remote.health_interval_s;
    inner = std::make_unique<ReplicaPool>(pool, std::move(replicas));
  } else {
    inner = remote_backend(remote, remote.urls.front(), key);
  }
  return std::make_unique<ResilientBackend>(remote.name, std::move(inner), retry, breaker);
}

}  // namespace rpu::gateway
