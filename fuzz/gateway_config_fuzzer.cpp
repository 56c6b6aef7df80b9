// libFuzzer target: the gateway's YAML configuration (src/gateway/config.cpp). Any bytes must
// either parse into a config or raise ConfigError naming file and key; never crash, hang or
// expand without bound (YAML aliases).
#include <cstddef>
#include <cstdint>
#include <string>

#include "gateway/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    rpu::gateway::parse_gateway_config(text, "fuzz.yaml", "/nonexistent");
  } catch (const rpu::gateway::ConfigError&) {
  }
  return 0;
}
