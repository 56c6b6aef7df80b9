#include "gateway/usage_store.h"

namespace rpu::gateway {

const std::vector<std::string> kUsageColumns = {
    "time_ms",    "client_key_id",  "route",      "model", "request", "response", "prompt_tokens", "completion_tokens",
    "latency_ms", "first_token_ms", "confidence", "escalated", "error", "kind",    "vault"};

std::string usage_columns_sql() {
  std::string out;
  for (const std::string& c : kUsageColumns) out += (out.empty() ? "" : ", ") + c;
  return out;
}

std::unique_ptr<UsageStore> open_usage_store(const std::string& location, StoreAccess access) {
  if (is_postgres_location(location)) return open_postgres_usage_store(location, access);
  return open_sqlite_usage_store(location, access);
}

}  // namespace rpu::gateway
