#include "gateway/client_keys.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace rpu::gateway {
namespace {

void sha256(const std::string& data, unsigned char out[32]) {
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), out, &size, EVP_sha256(), nullptr) != 1 || size != 32) {
    throw std::runtime_error("SHA-256 failed (OpenSSL)");
  }
}

double bucket_size(const ClientKeyConfig& k) {
  return k.burst > 0 ? k.burst : std::max(1.0, k.requests_per_minute / 60.0);
}

}  // namespace

std::string sha256_hex(const std::string& data) {
  unsigned char digest[32];
  sha256(data, digest);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

ClientKeys::ClientKeys(const std::vector<ClientKeyConfig>& keys) {
  const auto now = std::chrono::steady_clock::now();
  for (const ClientKeyConfig& k : keys) {
    Key key{k, {}, bucket_size(k), now};
    for (size_t i = 0; i < 32; ++i) key.digest[i] = static_cast<unsigned char>(std::stoi(k.sha256.substr(2 * i, 2), nullptr, 16));
    keys_.push_back(key);
  }
}

ClientKeys::Decision ClientKeys::check(const std::string& token, bool take_token) {
  return check(token, std::chrono::steady_clock::now(), take_token);
}

ClientKeys::Decision ClientKeys::check(const std::string& token, std::chrono::steady_clock::time_point now,
                                       bool take_token) {
  if (token.empty()) return {};
  unsigned char digest[32];
  sha256(token, digest);
  std::lock_guard<std::mutex> lock(mutex_);
  Key* found = nullptr;
  // Every digest is compared (in constant time), so the time taken says nothing of which matched.
  for (Key& k : keys_) {
    if (CRYPTO_memcmp(k.digest, digest, 32) == 0) found = &k;
  }
  if (found == nullptr) return {};
  Decision d{Outcome::kAllow, found->config.id, 0};
  const double rate = found->config.requests_per_minute / 60.0;  // tokens per second
  if (rate <= 0 || !take_token) return d;
  const double elapsed = std::chrono::duration<double>(now - found->refilled).count();
  found->tokens = std::min(bucket_size(found->config), found->tokens + std::max(0.0, elapsed) * rate);
  found->refilled = now;
  if (found->tokens >= 1) {
    found->tokens -= 1;
    return d;
  }
  d.outcome = Outcome::kRateLimited;
  d.retry_after_seconds = (1 - found->tokens) / rate;
  return d;
}

}  // namespace rpu::gateway
