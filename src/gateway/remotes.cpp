// The gateway's remote targets: a large-model upstream or rpu serve replicas, each an
// OpenAI-compatible URL reached with RemoteBackend.
#include <cstdlib>

#include "gateway/gateway_backend.h"
#include "pipeline/remote_backend.h"

namespace rpu::gateway {

std::unique_ptr<Backend> make_remote_backend(const RemoteConfig& remote, const std::string& config_file) {
  RemoteBackendOptions options;
  if (!remote.api_key_env.empty()) {
    const char* key = std::getenv(remote.api_key_env.c_str());
    if (key == nullptr || *key == '\0') {
      throw ConfigError(config_file + ": " + (remote.is_replica_set ? "models." : "upstreams.") + remote.name +
                        ".api_key_env: the environment variable " + remote.api_key_env + " is not set");
    }
    options.api_key = key;
  }
  options.model = remote.model;
  options.model_id = remote.model.empty() ? "" : remote.model;
  options.connect_timeout_s = remote.timeouts.connect_s;
  options.first_byte_timeout_s = remote.timeouts.first_token_s;
  options.total_timeout_s = remote.timeouts.total_s;
  options.base_url = remote.urls.front();
  return std::make_unique<RemoteBackend>(options);
}

}  // namespace rpu::gateway
