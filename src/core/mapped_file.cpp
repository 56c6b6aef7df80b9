#include "core/mapped_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <utility>

#include "core/error.h"

namespace rpu {

namespace {

// Reads the whole of `fd` (a regular file of `size` bytes) into memory, in chunks so that a
// short read (or a file that shrinks under us) is an error, not a silently truncated model.
std::vector<uint8_t> read_whole(int fd, size_t size, const std::string& path) {
  std::vector<uint8_t> bytes(size);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, bytes.data() + done, std::min<size_t>(size - done, size_t{1} << 30));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("cannot read '{}': {}", path, std::strerror(errno));
    if (n == 0) fail("cannot read '{}': the file ended after {} of {} bytes", path, done, size);
    done += static_cast<size_t>(n);
  }
  return bytes;
}

std::string memlock_limit_text() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_MEMLOCK, &limit) != 0) return "unknown";
  if (limit.rlim_cur == RLIM_INFINITY) return "unlimited";
  return fmt::format("{} KiB", limit.rlim_cur / 1024);
}

}  // namespace

MappedFile MappedFile::open(const std::string& path, Load load) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open '{}': {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail("cannot stat '{}': {}", path, std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("'{}' is not a regular file", path);
  }
  MappedFile file;
  file.size_ = static_cast<size_t>(st.st_size);
  if (load == Load::read) {
    try {
      file.owned_ = read_whole(fd, file.size_, path);
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
    file.data_ = file.owned_.data();
    return file;
  }
  if (file.size_ > 0) {
    void* mapping = ::mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapping == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      fail("cannot map '{}': {}", path, std::strerror(err));
    }
    file.mapping_ = mapping;
    file.data_ = static_cast<const uint8_t*>(mapping);
  }
  ::close(fd);
  return file;
}

std::string MappedFile::lock() const {
  if (size_ == 0 || ::mlock(data_, size_) == 0) return {};
  const int err = errno;
  std::string why = fmt::format("cannot lock {:.1f} MiB in memory: {}", static_cast<double>(size_) / (1 << 20),
                                std::strerror(err));
  // ENOMEM/EPERM: over RLIMIT_MEMLOCK for a process without CAP_IPC_LOCK (ulimit -l).
  if (err == ENOMEM || err == EPERM) why += fmt::format(" (RLIMIT_MEMLOCK is {}; raise it with ulimit -l)", memlock_limit_text());
  return why;
}

MappedFile MappedFile::from_bytes(std::vector<uint8_t> bytes) {
  MappedFile file;
  file.owned_ = std::move(bytes);
  file.data_ = file.owned_.data();
  file.size_ = file.owned_.size();
  return file;
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
