// The reversible vault: what each placeholder of a logged call stood for, kept next to the
// call's row but encrypted, so the log can be shared and trained on while the owner of the
// key can still recover the original values (`rpu logs export --reveal`).
//
// Cipher: AES-256-GCM (OpenSSL), a fresh random 96-bit nonce per sealed value, the 128-bit tag
// appended; the sealed text is base64("rpuv1" | nonce | ciphertext | tag). The 256-bit key is
// the SHA-256 of the secret in the environment variable the config names (log.vault_key_env),
// so any passphrase works; a wrong key or a changed byte fails authentication (VaultError),
// never yields wrong plaintext.
#pragma once

#include <map>
#include <stdexcept>
#include <string>

namespace rpu::gateway {

class VaultError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Vault {
 public:
  explicit Vault(const std::string& secret);
  // Reads the secret from the environment; throws VaultError naming the variable when unset.
  static Vault from_environment(const std::string& variable);

  std::string seal(const std::string& plaintext) const;
  std::string open(const std::string& sealed) const;

  // placeholder -> original value, as one sealed JSON object ("" for an empty map).
  std::string seal_mapping(const std::map<std::string, std::string>& placeholder_to_value) const;
  std::map<std::string, std::string> open_mapping(const std::string& sealed) const;

 private:
  unsigned char key_[32];
};

// Every placeholder of `mapping` in `text` replaced by its value.
std::string reveal(const std::string& text, const std::map<std::string, std::string>& placeholder_to_value);

}  // namespace rpu::gateway
