// A read-only view of a whole file: memory-mapped (the default), read into memory of the
// process's own (`--no-mmap`), or owned bytes built in memory (tests, fuzzing, the built-in
// model). Model weights are read straight from it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rpu {

class MappedFile {
 public:
  enum class Load {
    kMap,   // mmap: page cache shared with other processes, read on first touch
    kRead,  // read whole into heap memory (for file systems where mmap is slow or missing)
  };

  MappedFile() = default;
  // Throws rpu::Error naming the path (missing, not a regular file, unreadable, short read).
  static MappedFile open(const std::string& path, Load load = Load::kMap);
  static MappedFile from_bytes(std::vector<uint8_t> bytes);  // owns a copy in memory

  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool is_mapped() const { return mapping_ != nullptr; }

  // Gives back this process's resident pages of the whole pages inside [begin, begin + size)
  // (madvise MADV_DONTNEED), for bytes the caller has copied elsewhere (weights repacked by a
  // kernel set). The bytes seen do not change: the mapping is private and read-only, so its
  // pages are always clean and a later read faults them in from the file again. Returns the
  // bytes released: 0 when the file is not mapped (an owned copy's pages are the only copy of
  // the bytes; MADV_DONTNEED would turn them into zeros) or the range holds no whole page.
  // Const: it changes residency, never contents. The range must lie inside data().
  size_t release_pages(const uint8_t* begin, size_t size) const;

 private:
  void release();

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  void* mapping_ = nullptr;  // non-null when data_ is an mmap
  std::vector<uint8_t> owned_;
};

}  // namespace rpu
