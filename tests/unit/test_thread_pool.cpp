// The thread pool covers every index exactly once, in contiguous pieces, on any thread count,
// survives back-to-back jobs, and passes exceptions to the caller.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"

namespace rpu {
namespace {

TEST(ThreadPoolTest, EveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 2, 7, 64, 1000}) {
      for (int repeat = 0; repeat < 50; ++repeat) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        pool.parallel_for(n, [&](int64_t begin, int64_t end) {
          ASSERT_LT(begin, end);
          for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
        });
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "n " << n << " i " << i;
      }
    }
  }
}

TEST(ThreadPoolTest, ExceptionsReachTheCallerAndThePoolStaysUsable) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.parallel_for(100, [](int64_t begin, int64_t) {
    if (begin == 0) throw Error("boom");
  }), Error);
  std::atomic<int64_t> sum{0};
  pool.parallel_for(100, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) sum += i;
  });
  EXPECT_EQ(sum.load(), 4950);
}

// Back-to-back small jobs: a worker still looking at one job while the next is published must
// neither run a piece of the new job twice (the total would be off) nor leave the caller
// waiting (the test would time out).
TEST(ThreadPoolTest, BackToBackJobsNeverRunAPieceTwice) {
  ThreadPool pool(2);
  int64_t expected = 0;
  std::atomic<int64_t> total{0};
  for (int i = 0; i < 200000; ++i) {
    const int64_t n = 1 + i % 37;
    expected += n;
    pool.parallel_for(n, [&](int64_t begin, int64_t end) { total += end - begin; });
  }
  EXPECT_EQ(total.load(), expected);
}

// Jobs that name memory to read ahead run exactly as jobs without: a worker reading ahead a
// range far larger than it can finish (64 MiB) leaves it for the next job, whose pieces are all
// run once, and a range that no longer holds memory is only prefetched (never read).
TEST(ThreadPoolTest, ReadAheadNeverChangesWhatAJobRuns) {
  std::vector<uint8_t> big(size_t{64} << 20, 1);
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    int64_t expected = 0;
    std::atomic<int64_t> total{0};
    for (int i = 0; i < 20000; ++i) {
      const int64_t n = 1 + i % 37;
      expected += n;
      const ReadAhead then = i % 3 == 0 ? ReadAhead{big.data(), big.size()} : ReadAhead{big.data() + i, 4096};
      pool.parallel_for(n, [&](int64_t begin, int64_t end) { total += end - begin; }, then);
    }
    EXPECT_EQ(total.load(), expected);
  }
  ThreadPool pool(2);
  const void* gone = nullptr;
  {
    std::vector<uint8_t> freed(size_t{8} << 20, 1);
    gone = freed.data();
  }
  std::atomic<int64_t> sum{0};
  pool.parallel_for(100, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) sum += i;
  }, ReadAhead{gone, size_t{8} << 20});
  pool.parallel_for(100, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) sum += i;
  });
  EXPECT_EQ(sum.load(), 2 * 4950);
}

// A read-ahead of several ranges (a fused dispatch's matrices) is their bytes laid end to end;
// ranges past the third are dropped, and empty ones take no room. Workers reading ahead their
// parts of it (here 3 ranges, one of them far larger than a job lasts) never change what runs.
TEST(ThreadPoolTest, ReadAheadOfSeveralRangesIsTheirBytesEndToEnd) {
  std::vector<uint8_t> a(1000, 1), b(size_t{32} << 20, 2), c(3, 3), d(64, 4);
  ReadAhead ahead;
  EXPECT_EQ(ahead.total_bytes(), 0u);
  ahead.add(a.data(), a.size());
  ahead.add(b.data(), b.size());
  ahead.add(c.data(), c.size());
  ahead.add(d.data(), d.size());  // a fourth range: dropped
  EXPECT_EQ(ahead.total_bytes(), a.size() + b.size() + c.size());
  EXPECT_EQ(ahead.ranges[1].data, b.data());
  EXPECT_EQ(ReadAhead(c.data(), c.size()).total_bytes(), c.size());
  for (int threads : {2, 3, 4}) {
    ThreadPool pool(threads);
    int64_t expected = 0;
    std::atomic<int64_t> total{0};
    for (int i = 0; i < 5000; ++i) {
      const int64_t n = 1 + i % 29;
      expected += n * (n - 1) / 2;
      pool.parallel_for(n, [&](int64_t begin, int64_t end) {
        for (int64_t j = begin; j < end; ++j) total += j;
      }, i % 2 == 0 ? ahead : ReadAhead{});
    }
    EXPECT_EQ(total.load(), expected);
  }
}

TEST(ThreadPoolTest, RejectsZeroThreads) { EXPECT_THROW(ThreadPool(0), Error); }

}  // namespace
}  // namespace rpu
