// The gateway's client keys: each client has a named key; the config stores only the key's
// SHA-256 (`rpu gateway hash-key` prints it), so the config file and the logs never hold a
// key. A request's bearer token is hashed and compared with every stored digest in constant
// time. Each key may have a rate limit: a token bucket of `burst` requests refilled at
// requests_per_minute / 60 per second; a request that finds it empty is refused (HTTP 429)
// with the time until the next token as Retry-After.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/config.h"

namespace rpu::gateway {

std::string sha256_hex(const std::string& data);

class ClientKeys {
 public:
  explicit ClientKeys(const std::vector<ClientKeyConfig>& keys);

  enum class Outcome { kAllow, kDeny, kRateLimited };
  struct Decision {
    Outcome outcome = Outcome::kDeny;
    std::string key_id;
    double retry_after_seconds = 0;
  };
  // `token`: the bearer token (empty when none was sent). With `take_token` false the key is
  // checked but its bucket is left alone (GET /metrics). Thread-safe.
  Decision check(const std::string& token, bool take_token = true);
  // The same at a given time (tests).
  Decision check(const std::string& token, std::chrono::steady_clock::time_point now, bool take_token = true);
  bool empty() const { return keys_.empty(); }

 private:
  struct Key {
    ClientKeyConfig config;
    unsigned char digest[32];
    double tokens = 0;
    std::chrono::steady_clock::time_point refilled;
  };
  std::mutex mutex_;
  std::vector<Key> keys_;
};

}  // namespace rpu::gateway
