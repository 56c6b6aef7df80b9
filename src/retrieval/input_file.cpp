#include "retrieval/input_file.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstring>

#include "retrieval/document.h"

namespace rpu::retrieval {

struct Sha256::Impl {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  if (impl_->ctx == nullptr || EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr) != 1) {
    throw DocumentError("SHA-256 failed to start (OpenSSL)");
  }
}

Sha256::~Sha256() = default;

void Sha256::update(std::string_view bytes) {
  if (!bytes.empty() && EVP_DigestUpdate(impl_->ctx, bytes.data(), bytes.size()) != 1) {
    throw DocumentError("SHA-256 failed (OpenSSL)");
  }
  bytes_ += bytes.size();
}

std::string Sha256::hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(impl_->ctx, digest, &size) != 1) throw DocumentError("SHA-256 failed (OpenSSL)");
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out += digits[digest[i] >> 4];
    out += digits[digest[i] & 15];
  }
  return out;
}

InputFile::InputFile(const std::filesystem::path& path) : name_(path.string()), file_(nullptr, &std::fclose) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) throw DocumentError(name_ + ": cannot open (no such file)");
  // fopen succeeds on a directory on Linux and only the first read fails: say what it is instead.
  if (!std::filesystem::is_regular_file(status)) throw DocumentError(name_ + ": not a regular file");
  file_.reset(std::fopen(name_.c_str(), "rb"));
  if (!file_) throw DocumentError(name_ + ": cannot open (" + std::strerror(errno) + ")");
  size_ = std::filesystem::file_size(path, ec);
  if (ec) size_ = 0;
}

std::size_t InputFile::read(char* out, std::size_t n) {
  const std::size_t got = std::fread(out, 1, n, file_.get());
  if (got < n && std::ferror(file_.get())) {
    throw DocumentError(name_ + ": read failed (" + std::strerror(errno) + ")");
  }
  return got;
}

std::string read_whole_file(InputFile& file, uint64_t max_bytes, std::string_view kind) {
  if (file.size() > max_bytes) {
    throw DocumentError(file.name() + ": " + std::string(kind) + " file of " + std::to_string(file.size()) +
                        " bytes is over the " + std::to_string(max_bytes) + "-byte limit for files read whole");
  }
  std::string data;
  char block[1 << 16];
  // Read to the end rather than trusting the size from stat (the file may grow, or be a pipe-like file).
  while (const std::size_t n = file.read(block, sizeof block)) {
    if (data.size() + n > max_bytes) {
      throw DocumentError(file.name() + ": " + std::string(kind) + " file is over the " + std::to_string(max_bytes) +
                          "-byte limit for files read whole");
    }
    data.append(block, n);
  }
  return data;
}

}  // namespace rpu::retrieval
