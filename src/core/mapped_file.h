// A read-only view of a whole file, memory-mapped when it comes from disk or owned
// when it was built in memory (tests, fuzzing). Model weights are read straight from it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rpu {

class MappedFile {
 public:
  MappedFile() = default;
  static MappedFile open(const std::string& path);         // throws rpu::Error naming the path
  static MappedFile from_bytes(std::vector<uint8_t> bytes);  // owns a copy in memory

  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void release();

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  void* mapping_ = nullptr;  // non-null when data_ is an mmap
  std::vector<uint8_t> owned_;
};

}  // namespace rpu
