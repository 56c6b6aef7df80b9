// A fixed pool of worker threads for data-parallel loops over rows.
//
// Small models run hundreds of parallel loops per token, so dispatch must cost well under a
// microsecond: workers spin on an atomic generation counter for a while before sleeping on
// it (a futex via std::atomic::wait). Work is split into a few chunks per thread that
// threads claim from a shared counter, and the caller works too: if a worker has been
// descheduled (a busy machine), the others take its chunks instead of waiting for it.
//
// Claim order: the caller claims chunks from the front, the workers from the back, so which
// thread runs which part of a loop is predictable enough to read ahead for it (below), while
// still balanced (the two ends meet wherever the threads' speeds put them).
//
// Read-ahead: a loop may name memory the next loop will read (a decode step's next weight
// matrices, in the order that loop's chunks cover them). Workers that run out of chunks request
// their part of it into their own caches (with n threads, worker w the (w + 2)-th n-th of the
// bytes, from its end: the chunks it will claim first) while the caller finishes and then runs
// the serial steps between loops (norms, RoPE, short attention), when the memory bus would
// otherwise idle. So each thread starts the next loop on lines already in its own L2, and the
// caller's front part streams in behind its first loads. It is a hint: prefetches never fault,
// and a worker stops as soon as the next loop is published (it then claims whatever chunks are
// left).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace rpu {

// Up to kParts byte ranges to request into cache, in the order the next loop covers them (a
// fused dispatch's matrices one after another); empty = none.
struct ReadAhead {
  static constexpr int kParts = 3;
  struct Range {
    const void* data = nullptr;
    size_t bytes = 0;
  };
  std::array<Range, kParts> ranges{};

  ReadAhead() = default;
  ReadAhead(const void* data, size_t bytes) { ranges[0] = {data, bytes}; }
  // Appends [data, data + bytes) after the ranges so far; beyond kParts ranges it is dropped
  // (a hint, never needed for correctness).
  void add(const void* data, size_t bytes);
  size_t total_bytes() const;
};

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn(begin, end) over contiguous pieces covering [0, n) exactly once, in parallel;
  // returns when all are done. An exception thrown by a piece is rethrown here.
  // `then` is read ahead by the workers once this loop's chunks are all claimed (see above).
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, ReadAhead then = {});

 private:
  void worker_loop(int worker);
  // Worker `worker`'s share of the read-ahead of job `generation`, cut short by a newer job.
  void read_ahead(int worker, uint32_t generation);
  // Claims and runs chunks of the job of `generation` from the front (the caller) or the back
  // (the workers) until none are left.
  void work_on(uint32_t generation, bool from_back);

  int n_threads_;
  std::vector<std::thread> workers_;
  // Each word that threads write while others read it has a cache line of its own: a worker
  // spinning on generation_ would otherwise pull the line away from the caller between each
  // of the stores that describe a job (a cross-core transfer each, ~1 us per dispatch in all).
  static constexpr size_t kLine = 64;
  // Published last: workers spin on it between jobs.
  alignas(kLine) std::atomic<uint32_t> generation_{0};
  // The job's low 16 generation bits << 48 | chunk count << 32 | first unclaimed chunk << 16 | one
  // past the last unclaimed chunk: one word, so a claim is one compare-and-swap of the whole state.
  alignas(kLine) std::atomic<uint64_t> claim_{0};
  alignas(kLine) std::atomic<int64_t> done_{0};  // chunks finished in the current job
  // The current job; written by the caller before claim_ and generation_ publish it. Atomic
  // because a worker still finishing a look at the previous job may read them concurrently.
  alignas(kLine) std::atomic<const std::function<void(int64_t, int64_t)>*> fn_{nullptr};
  std::atomic<int64_t> n_{0};
  std::atomic<bool> stopping_{false};
  std::array<std::atomic<const void*>, ReadAhead::kParts> ahead_data_{};
  std::array<std::atomic<size_t>, ReadAhead::kParts> ahead_bytes_{};
  // Written only when a piece throws (and cleared when the caller rethrows it).
  alignas(kLine) std::mutex error_mutex_;
  std::exception_ptr error_;
};

}  // namespace rpu
