// The process's memory as the kernel counts it (Linux /proc/self/status), for `rpu run`'s
// closing stderr line: what an edge device has to budget for a model.
#pragma once

#include <string>

namespace rpu::cli {

// "memory: peak resident 12.3 MiB; now 10.1 MiB file-backed (mapped weights, the binary),
// 2.0 MiB anonymous (heap: KV cache, buffers, weights read with --no-mmap)", or "" where
// /proc/self/status is missing.
std::string memory_report();

}  // namespace rpu::cli
