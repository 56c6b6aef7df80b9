// Reading a document's bytes: a file opened with errors that name it, a streaming SHA-256 over
// whatever is read, and a whole-file read with a size cap (for HTML and PDF).
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace rpu::retrieval {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view bytes);
  std::string hex();  // finishes the digest; call once
  uint64_t bytes() const { return bytes_; }  // how many bytes went in


 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint64_t bytes_ = 0;
};

class InputFile {
 public:
  // DocumentError "PATH: cannot open (...)" / "PATH: not a regular file".
  explicit InputFile(const std::filesystem::path& path);
  // Up to n bytes into out; 0 at the end. DocumentError on a read error.
  std::size_t read(char* out, std::size_t n);
  uint64_t size() const { return size_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file_;
  uint64_t size_ = 0;
};

// The whole file; DocumentError when it is bigger than max_bytes.
std::string read_whole_file(InputFile& file, uint64_t max_bytes, std::string_view kind);

}  // namespace rpu::retrieval
