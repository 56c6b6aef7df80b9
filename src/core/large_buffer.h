// Large, lazily committed buffers (the KV cache, packed weights) backed by transparent huge
// pages where the kernel offers them.
//
// Why: a decode step writes one K and one V row per layer into memory it has never touched
// (SmolLM2-135M: 768 bytes each, so a new 4 KiB page every ~5 positions of every layer). Each
// first touch is a page fault, and under a virtualised kernel a fault cost ~19 µs here: 7 µs of
// every layer's 'rope + kv write' step, 7% of a SmolLM2-135M Q4_0 decode token. With 2 MiB
// pages the same rows fault 512 times less often, and weights streamed every token need 512
// times fewer TLB entries. The buffer stays lazy: only the pages written are ever committed,
// so a large `--ctx` costs nothing until it is used.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace rpu {

struct LargeBufferFree {
  void operator()(uint8_t* p) const;
};
using LargeBuffer = std::unique_ptr<uint8_t[], LargeBufferFree>;

// n_bytes of uninitialised memory, 2 MiB-aligned when at least 2 MiB (so each whole 2 MiB of it
// can be one huge page), with the kernel asked for huge pages (madvise MADV_HUGEPAGE; a no-op where
// THP is off or absent). Throws when out of memory.
LargeBuffer allocate_large_buffer(size_t n_bytes);

}  // namespace rpu
