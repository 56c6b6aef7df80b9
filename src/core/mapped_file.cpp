#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "core/error.h"

namespace rpu {
namespace {

// An open descriptor of a regular file and its size; closed on every path out.
class OpenFile {
 public:
  explicit OpenFile(const std::string& path) : path_(path), fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd_ < 0) fail("cannot open '{}': {}", path, std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
      const int err = errno;
      ::close(fd_);
      fail("cannot stat '{}': {}", path, std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd_);
      fail("'{}' is not a regular file", path);
    }
    size_ = static_cast<size_t>(st.st_size);
  }
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  ~OpenFile() { ::close(fd_); }

  size_t size() const { return size_; }

  void* map() const {
    void* mapping = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
    if (mapping == MAP_FAILED) fail("cannot map '{}': {}", path_, std::strerror(errno));
    return mapping;
  }

  // Reads the whole file in chunks, so that a short read (or a file that shrinks under us) is
  // an error rather than a silently truncated model.
  std::vector<uint8_t> read_all() const {
    std::vector<uint8_t> bytes(size_);
    size_t done = 0;
    while (done < size_) {
      const ssize_t n = ::read(fd_, bytes.data() + done, std::min<size_t>(size_ - done, size_t{1} << 30));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail("cannot read '{}': {}", path_, std::strerror(errno));
      if (n == 0) fail("cannot read '{}': the file ended after {} of {} bytes", path_, done, size_);
      done += static_cast<size_t>(n);
    }
    return bytes;
  }

 private:
  const std::string& path_;
  int fd_;
  size_t size_ = 0;
};

}  // namespace

MappedFile MappedFile::open(const std::string& path, Load load) {
  const OpenFile file(path);
  if (load == Load::kRead) return from_bytes(file.read_all());
  MappedFile mapped;
  if (file.size() > 0) {  // mmap refuses a length of 0; an empty file is data() == nullptr, size() == 0
    mapped.mapping_ = file.map();
    mapped.data_ = static_cast<const uint8_t*>(mapped.mapping_);
    mapped.size_ = file.size();
  }
  return mapped;
}

MappedFile MappedFile::from_bytes(std::vector<uint8_t> bytes) {
  MappedFile file;
  file.owned_ = std::move(bytes);
  file.data_ = file.owned_.data();
  file.size_ = file.owned_.size();
  return file;
}

size_t MappedFile::release_pages(const uint8_t* begin, size_t size) const {
  if (mapping_ == nullptr || size == 0) return 0;
  if (begin < data_ || size > size_ || static_cast<size_t>(begin - data_) > size_ - size) {
    fail("release_pages: the range is not inside the file");
  }
  // Only whole pages: the partial pages at either end hold bytes of neighbouring tensors.
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = (reinterpret_cast<uintptr_t>(begin) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(begin) + size) / page * page;
  if (end <= first) return 0;
  // The mapping is PROT_READ and MAP_PRIVATE, so no page was ever copied on write: dropped
  // pages read back as the file's bytes. A failure (e.g. EINVAL on mlocked pages) only means
  // the pages stay resident.
  if (::madvise(reinterpret_cast<void*>(first), end - first, MADV_DONTNEED) != 0) return 0;
  return end - first;
}

MappedFile::MappedFile(MappedFile&& other) noexcept { *this = std::move(other); }

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    release();
    mapping_ = std::exchange(other.mapping_, nullptr);
    size_ = std::exchange(other.size_, 0);
    owned_ = std::move(other.owned_);
    data_ = mapping_ != nullptr ? static_cast<const uint8_t*>(mapping_) : owned_.data();
    other.data_ = nullptr;
    other.owned_.clear();
  }
  return *this;
}

MappedFile::~MappedFile() { release(); }

void MappedFile::release() {
  if (mapping_ != nullptr) ::munmap(mapping_, size_);
  mapping_ = nullptr;
  data_ = nullptr;
  size_ = 0;
  owned_.clear();
}

}  // namespace rpu
