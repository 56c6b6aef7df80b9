#include "core/thread_pool.h"

#include <algorithm>
#include <utility>

#include "core/error.h"

// The spin-wait hint (x86 PAUSE) as a compiler builtin that GCC and clang both have, so core
// includes no x86 intrinsics header (those stay in src/kernels/avx*).
#if defined(__x86_64__) || defined(__i386__)
#define RPU_CPU_RELAX() __builtin_ia32_pause()
#else
#define RPU_CPU_RELAX() std::this_thread::yield()
#endif

namespace rpu {
namespace {
// About 100 microseconds of spinning before sleeping: long enough to bridge the gap between
// two loops of one forward pass, short enough not to burn a core while idle.
constexpr int kSpinIterations = 20000;
constexpr int64_t kChunksPerThread = 4;
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads) {
  if (n_threads < 1) fail("thread count must be at least 1, got {}", n_threads);
  for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this, i] { worker_loop(i - 1); });
}

ThreadPool::~ThreadPool() {
  stopping_.store(true);
  generation_.fetch_add(1);
  generation_.notify_all();
  for (auto& t : workers_) t.join();
}

void ReadAhead::add(const void* data, size_t bytes) {
  for (Range& range : ranges) {
    if (range.bytes == 0) {
      range = {data, bytes};
      return;
    }
  }
}

size_t ReadAhead::total_bytes() const {
  size_t total = 0;
  for (const Range& range : ranges) total += range.bytes;
  return total;
}

void ThreadPool::work_on(uint32_t generation, bool from_back) {
  for (;;) {
    uint64_t claim = claim_.load(std::memory_order_acquire);
    // A later job already replaced this one. (The word keeps 16 generation bits: a worker
    // descheduled for 65,536 jobs may pass this check on a newer job, and then claims a chunk
    // of that job correctly: the word it swaps is that job's whole state.)
    if ((claim >> 48) != (generation & 0xffffu)) return;
    // The job's chunk count travels in the same word as the claim counters: read separately, a
    // worker still looking at the previous job could pair its claim word with this job's
    // count and claim a chunk that job never had.
    const int64_t chunks = static_cast<int64_t>((claim >> 32) & 0xffffu);
    const int64_t front = static_cast<int64_t>((claim >> 16) & 0xffffu);
    const int64_t back = static_cast<int64_t>(claim & 0xffffu);
    if (front >= back) return;
    const int64_t chunk = from_back ? back - 1 : front;
    const uint64_t claimed = from_back ? claim - 1 : claim + (uint64_t{1} << 16);
    if (!claim_.compare_exchange_weak(claim, claimed, std::memory_order_acq_rel)) continue;
    // A successful claim means the job is still this generation's, and the caller cannot
    // finish (and replace fn_) until this chunk is counted done.
    const int64_t n = n_.load(std::memory_order_relaxed);
    try {
      (*fn_.load(std::memory_order_relaxed))(n * chunk / chunks, n * (chunk + 1) / chunks);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
    }
    if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == chunks) done_.notify_one();
  }
}

void ThreadPool::read_ahead(int worker, uint32_t generation) {
  ReadAhead ahead;
  for (int i = 0; i < ReadAhead::kParts; ++i) {
    ahead.ranges[static_cast<size_t>(i)] = {ahead_data_[static_cast<size_t>(i)].load(std::memory_order_relaxed),
                                            ahead_bytes_[static_cast<size_t>(i)].load(std::memory_order_relaxed)};
  }
  const size_t total = ahead.total_bytes();
  if (total == 0) return;
  // Worker w's part [begin, end) of the ranges laid end to end: the (w + 2)-th of n_threads_
  // equal parts (the caller's first part is left to it: it claims from the front). From the
  // end down, 4 KiB at a time, the lines of each piece in ascending order (as a chunk reads
  // them), looking for a newer job before each piece so a read-ahead never delays one.
  const size_t n = static_cast<size_t>(n_threads_);
  const size_t begin = total * (static_cast<size_t>(worker) + 1) / n;
  const size_t end = total * (static_cast<size_t>(worker) + 2) / n;
  for (size_t top = end; top > begin;) {
    if (generation_.load(std::memory_order_relaxed) != generation) return;
    const size_t bottom = top - std::min<size_t>(4096, top - begin);
    size_t offset = 0;  // of the current range in the laid-out bytes
    for (const ReadAhead::Range& range : ahead.ranges) {
      const size_t lo = std::max(bottom, offset), hi = std::min(top, offset + range.bytes);
      const char* data = static_cast<const char*>(range.data);
      for (size_t at = lo; at < hi; at += 64) __builtin_prefetch(data + (at - offset), 0, 2);
      offset += range.bytes;
    }
    top = bottom;
  }
}

void ThreadPool::worker_loop(int worker) {
  uint32_t seen = 0;
  for (;;) {
    uint32_t current = generation_.load(std::memory_order_acquire);
    for (int spin = 0; current == seen && spin < kSpinIterations; ++spin) {
      RPU_CPU_RELAX();
      current = generation_.load(std::memory_order_acquire);
    }
    if (current == seen) {
      generation_.wait(seen, std::memory_order_acquire);
      continue;
    }
    seen = current;
    if (stopping_.load()) return;
    work_on(current, true);
    read_ahead(worker, current);
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, ReadAhead then) {
  if (n <= 0) return;
  if (n_threads_ == 1 || n == 1) {
    fn(0, n);
    return;
  }
  // Read by the workers after they see the new generation (published with release below).
  for (size_t i = 0; i < then.ranges.size(); ++i) {
    ahead_data_[i].store(then.ranges[i].data, std::memory_order_relaxed);
    ahead_bytes_[i].store(then.ranges[i].bytes, std::memory_order_relaxed);
  }
  const int64_t chunks = std::min<int64_t>({n, n_threads_ * kChunksPerThread, int64_t{0xffff}});
  fn_.store(&fn, std::memory_order_relaxed);
  n_.store(n, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  const uint32_t generation = generation_.load(std::memory_order_relaxed) + 1;
  claim_.store(static_cast<uint64_t>(generation & 0xffffu) << 48 | static_cast<uint64_t>(chunks) << 32 |
                   static_cast<uint64_t>(chunks), std::memory_order_release);
  generation_.store(generation, std::memory_order_release);
  generation_.notify_all();
  work_on(generation, false);
  // Only chunks another thread has claimed and not finished remain: spin briefly, then sleep.
  for (int spin = 0; spin < kSpinIterations && done_.load(std::memory_order_acquire) != chunks; ++spin) {
    RPU_CPU_RELAX();
  }
  for (int64_t d = done_.load(std::memory_order_acquire); d != chunks; d = done_.load(std::memory_order_acquire)) {
    done_.wait(d, std::memory_order_acquire);
  }
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

}  // namespace rpu
