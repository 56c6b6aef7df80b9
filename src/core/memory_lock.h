// `--mlock`: memory locked in RAM. (How a model file is held, mapped or read whole for
// `--no-mmap`, is MappedFile::open's Load, core/mapped_file.h.)
#pragma once

#include <cstddef>
#include <span>
#include <string>

namespace rpu {

struct MemoryRange {
  const void* data = nullptr;
  size_t size = 0;
};

// mlock of every range: the pages are faulted in now and never paged out until unmapped/freed.
// Returns "" on success, else why not (the total asked for, with RLIMIT_MEMLOCK when that is
// the likely limit), so the caller decides whether it is fatal; `--mlock` warns and goes on
// unlocked (ranges locked before the failure are unlocked again).
std::string lock_in_memory(std::span<const MemoryRange> ranges);

}  // namespace rpu
