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
  // The size is not rounded up to whole huge pages: a tail short of 2 MiB stays in 4 KiB pages
  // (THP only maps whole aligned 2 MiB ranges), so no buffer commits more than it is given.
  const size_t alignment = n_bytes >= kHugePage ? kHugePage : 64;
  void* p = nullptr;
  if (::posix_memalign(&p, alignment, std::max<size_t>(n_bytes, 1)) != 0) fail("out of memory allocating {} bytes", n_bytes);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Advice only: refused (THP compiled out or disabled), the buffer simply keeps 4 KiB pages.
  if (alignment == kHugePage) ::madvise(p, n_bytes, MADV_HUGEPAGE);
#endif
  return LargeBuffer(static_cast<uint8_t*>(p));
}

}  // namespace rpu
