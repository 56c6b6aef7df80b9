// Usage-log locations: a postgres:// URI or a file path, and how one is shown without its
// password. Apart from the stores, so the config reader can use it without a database.
#include "gateway/usage_store.h"

namespace rpu::gateway {
namespace {

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    const char c = s[i] >= 'A' && s[i] <= 'Z' ? static_cast<char>(s[i] - 'A' + 'a') : s[i];
    if (c != prefix[i]) return false;
  }
  return true;
}

// The query string without its `password=` parameters ("" when nothing is left).
std::string without_password_parameter(std::string_view query) {
  std::string kept;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    if (!param.empty() && !starts_with_ci(param, "password=")) {
      kept += kept.empty() ? "?" : "&";
      kept += param;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return kept;
}

}  // namespace

bool is_postgres_location(std::string_view location) {
  return starts_with_ci(location, "postgres://") || starts_with_ci(location, "postgresql://");
}

std::string redact_location(std::string_view location) {
  if (!is_postgres_location(location)) return std::string(location);
  // postgresql://[user[:password]@][host][:port][/dbname][?param=value&...]
  const size_t start = location.find("://") + 3;
  const size_t query = std::min(location.find('?', start), location.size());
  const size_t authority_end = std::min(location.find('/', start), query);
  const size_t at = location.substr(0, authority_end).rfind('@');
  std::string out(location.substr(0, start));
  if (at != std::string_view::npos && at >= start) {
    const std::string_view userinfo = location.substr(start, at - start);
    out += userinfo.substr(0, userinfo.find(':'));
    out += location.substr(at, query - at);
  } else {
    out += location.substr(start, query - start);
  }
  if (query < location.size()) out += without_password_parameter(location.substr(query + 1));
  return out;
}

}  // namespace rpu::gateway
