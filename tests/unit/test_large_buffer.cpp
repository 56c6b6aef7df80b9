// Large buffers (core/large_buffer.h) and packed-weight bytes (kernels.h allocate_aligned):
// 2 MiB-aligned from 2 MiB up so the kernel can back them with huge pages, 64-byte aligned below,
// writable over their whole size; packed-weight bytes start zeroed (the rows that pad a last
// partial row group are read as zero weights).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "core/large_buffer.h"
#include "kernels/kernels.h"

namespace rpu {
namespace {

uintptr_t address(const uint8_t* p) { return reinterpret_cast<uintptr_t>(p); }

TEST(LargeBuffer, HugePageAlignedFromTwoMiBAndCacheLineAlignedBelow) {
  for (size_t n : {size_t{1}, size_t{4096}, (size_t{2} << 20) - 1}) {
    const LargeBuffer b = allocate_large_buffer(n);
    ASSERT_NE(b.get(), nullptr);
    EXPECT_EQ(address(b.get()) % 64, 0u) << n;
    std::memset(b.get(), 0x5a, n);
  }
  for (size_t n : {size_t{2} << 20, (size_t{3} << 20) + 123}) {
    const LargeBuffer b = allocate_large_buffer(n);
    EXPECT_EQ(address(b.get()) % (size_t{2} << 20), 0u) << n;
    std::memset(b.get(), 0x5a, n);
    EXPECT_EQ(b[n - 1], 0x5a);
  }
}

TEST(LargeBuffer, PackedWeightBytesStartZeroed) {
  for (size_t n : {size_t{100}, (size_t{2} << 20) + 100}) {
    {  // dirty the allocator's free memory first, so zeroes are not luck
      const LargeBuffer dirty = allocate_large_buffer(n);
      std::memset(dirty.get(), 0xff, n);
    }
    const AlignedBytes b = allocate_aligned(n);
    size_t nonzero = 0;
    for (size_t i = 0; i < n; ++i) nonzero += b[i] != 0 ? 1 : 0;
    EXPECT_EQ(nonzero, 0u) << n;
  }
}

}  // namespace
}  // namespace rpu
