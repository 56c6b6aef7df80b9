#include "core/file_load.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "core/error.h"

namespace rpu {
namespace {

// Reads `size` bytes of `fd` in chunks, so that a short read (or a file that shrinks under us)
// is an error rather than a silently truncated model.
std::vector<uint8_t> read_exactly(int fd, size_t size, const std::string& path) {
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

MappedFile read_whole_file(const std::string& path) {
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
  std::vector<uint8_t> bytes;
  try {
    bytes = read_exactly(fd, static_cast<size_t>(st.st_size), path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return MappedFile::from_bytes(std::move(bytes));
}

std::string lock_in_memory(const void* data, size_t size) {
  if (size == 0 || ::mlock(data, size) == 0) return {};
  const int err = errno;
  std::string why =
      fmt::format("cannot lock {:.1f} MiB in memory: {}", static_cast<double>(size) / (1 << 20), std::strerror(err));
  // ENOMEM/EPERM: over RLIMIT_MEMLOCK for a process without CAP_IPC_LOCK (ulimit -l).
  if (err == ENOMEM || err == EPERM) {
    why += fmt::format(" (RLIMIT_MEMLOCK is {}; raise it with ulimit -l)", memlock_limit_text());
  }
  return why;
}

}  // namespace rpu
