#include "core/large_buffer.h"

#include <algorithm>
#include <cstdlib>

#include "core/error.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace rpu {
namespace {
constexpr size_t kHugePage = size_t{2} << 20;
}  // namespace

void LargeBufferFree::operator()(uint8_t* p) const { std::free(p); }

LargeBuffer allocate_large_buffer(size_t n_bytes) {
  const size_t alignment = n_bytes >= kHugePage ? kHugePage : 64;
  const size_t rounded = (std::max<size_t>(n_bytes, 1) + alignment - 1) / alignment * alignment;
  void* p = std::aligned_alloc(alignment, rounded);
  if (p == nullptr) fail("out of memory allocating {} bytes", n_bytes);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Advice only: refused (THP compiled out or disabled), the buffer simply keeps 4 KiB pages.
  if (alignment == kHugePage) ::madvise(p, rounded, MADV_HUGEPAGE);
#endif
  return LargeBuffer(static_cast<uint8_t*>(p));
}

}  // namespace rpu
