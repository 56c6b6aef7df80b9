// How a model file is held in memory besides the default mapping (MappedFile::open):
// `--no-mmap` reads it whole into the process's own memory, `--mlock` locks bytes in RAM.
#pragma once

#include <cstddef>
#include <string>

#include "core/mapped_file.h"

namespace rpu {

// The whole file read into heap memory (an owning MappedFile, parsed like a mapped one): for
// file systems where mmap is slow or missing, and so that the bytes count as the process's
// own (anonymous) memory. Throws rpu::Error naming the path, as MappedFile::open does.
MappedFile read_whole_file(const std::string& path);

// mlock(data, size): the pages are faulted in now and never paged out until unmapped/freed.
// Returns "" on success, else why not (with RLIMIT_MEMLOCK when that is the likely limit), so
// the caller decides whether it is fatal; `--mlock` warns and goes on unlocked.
std::string lock_in_memory(const void* data, size_t size);

}  // namespace rpu
