#include "gateway/vault.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

namespace rpu::gateway {
namespace {

constexpr char kMagic[] = "rpuv1";
constexpr size_t kMagicSize = 5, kNonceSize = 12, kTagSize = 16;

struct CipherContext {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  ~CipherContext() { EVP_CIPHER_CTX_free(ctx); }
};

std::string base64_encode(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string base64_decode(const std::string& text) {
  if (text.size() % 4 != 0) throw VaultError("vault: sealed value is not base64");
  std::string out(3 * text.size() / 4 + 1, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) throw VaultError("vault: sealed value is not base64");
  size_t size = static_cast<size_t>(n);
  for (size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) --size;  // DecodeBlock keeps padding bytes
  out.resize(size);
  return out;
}

}  // namespace

Vault::Vault(const std::string& secret) {
  unsigned int size = 0;
  if (secret.empty()) throw VaultError("vault: the key is empty");
  if (EVP_Digest(secret.data(), secret.size(), key_, &size, EVP_sha256(), nullptr) != 1) throw VaultError("vault: SHA-256 failed");
}

Vault Vault::from_environment(const std::string& variable) {
  const char* secret = std::getenv(variable.c_str());
  if (secret == nullptr || *secret == '\0') throw VaultError("the vault key variable " + variable + " is not set");
  return Vault(secret);
}

std::string Vault::seal(const std::string& plaintext) const {
  unsigned char nonce[kNonceSize];
  if (RAND_bytes(nonce, sizeof nonce) != 1) throw VaultError("vault: no random bytes for the nonce");
  CipherContext c;
  std::vector<unsigned char> out(plaintext.size() + 16);
  int n = 0, total = 0;
  unsigned char tag[kTagSize];
  const bool ok = c.ctx != nullptr && EVP_EncryptInit_ex(c.ctx, EVP_aes_256_gcm(), nullptr, key_, nonce) == 1 &&
                  EVP_EncryptUpdate(c.ctx, out.data(), &n, reinterpret_cast<const unsigned char*>(plaintext.data()),
                                    static_cast<int>(plaintext.size())) == 1 &&
                  (total = n, EVP_EncryptFinal_ex(c.ctx, out.data() + total, &n) == 1) &&
                  (total += n, EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_GET_TAG, kTagSize, tag) == 1);
  if (!ok) throw VaultError("vault: encryption failed");
  std::string sealed(kMagic, kMagicSize);
  sealed.append(reinterpret_cast<const char*>(nonce), kNonceSize);
  sealed.append(reinterpret_cast<const char*>(out.data()), static_cast<size_t>(total));
  sealed.append(reinterpret_cast<const char*>(tag), kTagSize);
  return base64_encode(sealed);
}

std::string Vault::open(const std::string& sealed_text) const {
  const std::string sealed = base64_decode(sealed_text);
  if (sealed.size() < kMagicSize + kNonceSize + kTagSize || sealed.compare(0, kMagicSize, kMagic) != 0) {
    throw VaultError("vault: not a sealed value");
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(sealed.data());
  const unsigned char* nonce = bytes + kMagicSize;
  const unsigned char* cipher = nonce + kNonceSize;
  const size_t cipher_size = sealed.size() - kMagicSize - kNonceSize - kTagSize;
  unsigned char tag[kTagSize];
  std::memcpy(tag, cipher + cipher_size, kTagSize);
  CipherContext c;
  std::vector<unsigned char> out(cipher_size + 16);
  int n = 0, total = 0;
  const bool ok = c.ctx != nullptr && EVP_DecryptInit_ex(c.ctx, EVP_aes_256_gcm(), nullptr, key_, nonce) == 1 &&
                  EVP_DecryptUpdate(c.ctx, out.data(), &n, cipher, static_cast<int>(cipher_size)) == 1 &&
                  (total = n, EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_TAG, kTagSize, tag) == 1) &&
                  EVP_DecryptFinal_ex(c.ctx, out.data() + total, &n) == 1;
  if (!ok) throw VaultError("vault: the value does not open with this key (wrong key or altered data)");
  total += n;
  return std::string(reinterpret_cast<const char*>(out.data()), static_cast<size_t>(total));
}

std::string Vault::seal_mapping(const std::map<std::string, std::string>& placeholder_to_value) const {
  if (placeholder_to_value.empty()) return "";
  return seal(nlohmann::json(placeholder_to_value).dump());
}

std::map<std::string, std::string> Vault::open_mapping(const std::string& sealed) const {
  if (sealed.empty()) return {};
  try {
    return nlohmann::json::parse(open(sealed)).get<std::map<std::string, std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw VaultError(std::string("vault: the opened value is not a mapping: ") + e.what());
  }
}

std::string reveal(const std::string& text, const std::map<std::string, std::string>& placeholder_to_value) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    bool replaced = false;
    if (text[i] == '<') {
      const size_t close = text.find('>', i);
      if (close != std::string::npos) {
        const auto it = placeholder_to_value.find(text.substr(i, close - i + 1));
        if (it != placeholder_to_value.end()) {
          out += it->second;
          i = close + 1;
          replaced = true;
        }
      }
    }
    if (!replaced) out += text[i++];
  }
  return out;
}

}  // namespace rpu::gateway
