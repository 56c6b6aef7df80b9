#include "core/thread_pool.h"

#include <algorithm>

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

void ThreadPool::work_on(uint32_t generation) {
  for (;;) {
    uint64_t claim = claim_.load(std::memory_order_acquire);
    if ((claim >> 32) != generation) return;  // a later job already replaced this one
    // The job's chunk count travels in the same word as the claim counter: read separately, a
    // worker still looking at the previous job could pair its claim word with this job's
    // count and claim a chunk that job never had.
    const int64_t chunk = static_cast<int64_t>(claim & 0xffffu);
    const int64_t chunks = static_cast<int64_t>((claim >> 16) & 0xffffu);
    if (chunk >= chunks) return;
    if (!claim_.compare_exchange_weak(claim, claim + 1, std::memory_order_acq_rel)) continue;
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
  const auto* data = static_cast<const char*>(ahead_data_.load(std::memory_order_relaxed));
  const size_t bytes = ahead_bytes_.load(std::memory_order_relaxed);
  if (data == nullptr || bytes == 0) return;
  // Worker i takes slice i of n; a 64-byte line at a time into L2 (prefetcht1), looking for a
  // newer job every 4 KiB so a read-ahead never delays one.
  const size_t n_workers = workers_.size();
  const size_t begin = bytes * static_cast<size_t>(worker) / n_workers;
  const size_t end = bytes * (static_cast<size_t>(worker) + 1) / n_workers;
  for (size_t page = begin; page < end; page += 4096) {
    if (generation_.load(std::memory_order_relaxed) != generation) return;
    for (size_t line = page; line < std::min(end, page + 4096); line += 64) __builtin_prefetch(data + line, 0, 2);
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
    work_on(current);
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
  ahead_data_.store(then.data, std::memory_order_relaxed);
  ahead_bytes_.store(then.bytes, std::memory_order_relaxed);
  const int64_t chunks = std::min<int64_t>({n, n_threads_ * kChunksPerThread, int64_t{0xffff}});
  fn_.store(&fn, std::memory_order_relaxed);
  n_.store(n, std::memory_order_relaxed);
  error_ = nullptr;
  done_.store(0, std::memory_order_relaxed);
  const uint32_t generation = generation_.load(std::memory_order_relaxed) + 1;
  claim_.store(static_cast<uint64_t>(generation) << 32 | static_cast<uint64_t>(chunks) << 16, std::memory_order_release);
  generation_.store(generation, std::memory_order_release);
  generation_.notify_all();
  work_on(generation);
  // Only chunks another thread has claimed and not finished remain: spin briefly, then sleep.
  for (int spin = 0; spin < kSpinIterations && done_.load(std::memory_order_acquire) != chunks; ++spin) {
    RPU_CPU_RELAX();
  }
  for (int64_t d = done_.load(std::memory_order_acquire); d != chunks; d = done_.load(std::memory_order_acquire)) {
    done_.wait(d, std::memory_order_acquire);
  }
  if (error_) std::rethrow_exception(error_);
}

}  // namespace rpu
