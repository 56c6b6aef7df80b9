// SHA-256 through OpenSSL's EVP interface, fed in pieces (a download as it arrives).
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace rpu::hub {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void reset();
  void update(const void* data, size_t size);
  std::string hex();  // the digest of everything so far, lower-case hex; then starts again

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

std::string sha256_hex(std::string_view bytes);

}  // namespace rpu::hub
