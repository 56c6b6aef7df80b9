#include "hub/sha256.h"

#include <openssl/evp.h>

#include <fmt/format.h>

#include "core/error.h"

namespace rpu::hub {

struct Sha256::Context {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Context() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : context_(std::make_unique<Context>()) {
  if (context_->ctx == nullptr) fail("sha256: out of memory");
  reset();
}

Sha256::~Sha256() = default;

void Sha256::reset() {
  if (EVP_DigestInit_ex(context_->ctx, EVP_sha256(), nullptr) != 1) fail("sha256: OpenSSL refused to start a digest");
}

void Sha256::update(const void* data, size_t size) {
  if (size > 0 && EVP_DigestUpdate(context_->ctx, data, size) != 1) fail("sha256: OpenSSL digest update failed");
}

std::string Sha256::hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(context_->ctx, digest, &length) != 1) fail("sha256: OpenSSL digest failed");
  std::string out;
  for (unsigned int i = 0; i < length; ++i) out += fmt::format("{:02x}", digest[i]);
  reset();
  return out;
}

std::string sha256_hex(std::string_view bytes) {
  Sha256 h;
  h.update(bytes.data(), bytes.size());
  return h.hex();
}

}  // namespace rpu::hub
