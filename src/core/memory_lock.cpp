#include "core/memory_lock.h"

#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>


namespace rpu {
namespace {

std::string memlock_limit_text() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_MEMLOCK, &limit) != 0) return "unknown";
  if (limit.rlim_cur == RLIM_INFINITY) return "unlimited";
  return fmt::format("{} KiB", limit.rlim_cur / 1024);
}

}  // namespace

std::string lock_in_memory(std::span<const MemoryRange> ranges) {
  size_t total = 0;
  for (const MemoryRange& r : ranges) total += r.size;
  for (size_t i = 0; i < ranges.size(); ++i) {
    if (ranges[i].size == 0 || ::mlock(ranges[i].data, ranges[i].size) == 0) continue;
    const int err = errno;
    for (size_t j = 0; j < i; ++j) ::munlock(ranges[j].data, ranges[j].size);  // all or nothing
    std::string why = fmt::format("cannot lock {:.1f} MiB in memory: {}", static_cast<double>(total) / (1 << 20),
                                  std::strerror(err));
    // ENOMEM/EPERM: over RLIMIT_MEMLOCK for a process without CAP_IPC_LOCK (ulimit -l).
    if (err == ENOMEM || err == EPERM) {
      why += fmt::format(" (RLIMIT_MEMLOCK is {}; raise it with ulimit -l)", memlock_limit_text());
    }
    return why;
  }
  return {};
}

}  // namespace rpu
