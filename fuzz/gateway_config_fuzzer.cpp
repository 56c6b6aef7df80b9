// libFuzzer target: the gateway's YAML configuration (src/gateway/config.cpp). Any bytes must
// either parse into a config or raise ConfigError naming file and key; never crash, hang or
// expand without bound (YAML aliases). The same bytes are also read as the conversion loop's
// routes file (`routes_file:`, reloaded on SIGHUP while the gateway serves) merged into a
// fixed main config, which must end the same two ways.
#include <cstddef>
#include <cstdint>
#include <string>

#include "gateway/config.h"

namespace {

// A main config with a model, an upstream, a route and an alias, for routes files to clash with.
const rpu::gateway::GatewayConfig& main_config() {
  static const rpu::gateway::GatewayConfig config = rpu::gateway::parse_gateway_config(
      "models:\n  m: {local: builtin}\nupstreams:\n  u: {url: \"http://127.0.0.1:1/v1\"}\n"
      "routes:\n  - {name: main, target: u, aliases: [gpt-4o]}\ndefault_route: main\n",
      "main.yaml", "/nonexistent");
  return config;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const rpu::gateway::GatewayConfig& main = main_config();  // outside the try: it must parse
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    rpu::gateway::parse_gateway_config(text, "fuzz.yaml", "/nonexistent");
  } catch (const rpu::gateway::ConfigError&) {
  }
  try {
    rpu::gateway::merge_routes_text(main, text, "routes.yaml", "/nonexistent");
  } catch (const rpu::gateway::ConfigError&) {
  }
  return 0;
}
