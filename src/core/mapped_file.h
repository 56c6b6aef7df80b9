// A read-only view of a whole file, memory-mapped when it comes from disk or owned
// when it was built in memory (tests, fuzzing) or read whole (`--no-mmap`). Model weights are
// read straight from it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rpu {

class MappedFile {
 public:
  MappedFile() = default;
  // How a file from disk is held: mapped (pages shared with the page cache, read on first
  // touch) or read into heap memory (`--no-mmap`: for file systems where mmap is slow or
  // missing, and so that the weights count as the process's own memory).
  enum class Load { map, read };
  static MappedFile open(const std::string& path, Load load = Load::map);  // throws rpu::Error naming the path
  static MappedFile from_bytes(std::vector<uint8_t> bytes);  // owns a copy in memory

  // Locks the bytes in RAM (mlock: faulted in now, never paged out) until this object goes.
  // Returns "" on success, else why not (with RLIMIT_MEMLOCK when that was the limit), so the
  // caller decides whether it is fatal; `--mlock` warns and goes on unlocked.
  std::string lock() const;

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
