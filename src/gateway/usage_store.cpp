#include "gateway/usage_store.h"

namespace rpu::gateway {

std::unique_ptr<UsageStore> open_usage_store(const std::string& location, StoreAccess access) {
  if (is_postgres_location(location)) return open_postgres_usage_store(location, access);
  return open_sqlite_usage_store(location, access);
}

}  // namespace rpu::gateway
