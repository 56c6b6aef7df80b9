// A fixed pool of worker threads for data-parallel loops over rows.
//
// Small models run hundreds of parallel loops per token, so dispatch must cost well under a
// microsecond: workers spin on an atomic generation counter for a while before sleeping on
// it (a futex via std::atomic::wait). Work is split into a few chunks per thread that
// threads claim from a shared counter, and the caller works too: if a worker has been
// descheduled (a busy machine), the others take its chunks instead of waiting for it.
//
// Read-ahead: a loop may name memory the next loop will read (a decode step's next weight
// matrix). Workers that run out of chunks request it into their caches while the caller
// finishes and then runs the serial steps between loops (norms, RoPE, short attention), when
// the memory bus would otherwise idle. It is a hint: prefetches never fault, and a worker stops
// as soon as the next loop is published (it then claims whatever chunks are left).
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace rpu {

// Bytes [data, data + bytes) to request into cache; empty = none.
struct ReadAhead {
  const void* data = nullptr;
  size_t bytes = 0;
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
  // Claims and runs chunks of the job of `generation` until none are left.
  void work_on(uint32_t generation);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::atomic<uint32_t> generation_{0};
  std::atomic<uint64_t> claim_{0};  // generation << 32 | chunk count << 16 | next unclaimed chunk
  std::atomic<int64_t> done_{0};    // chunks finished in the current job
  std::atomic<bool> stopping_{false};
  // The current job; written by the caller before claim_ and generation_ publish it. Atomic
  // because a worker still finishing a look at the previous job may read them concurrently.
  std::atomic<const std::function<void(int64_t, int64_t)>*> fn_{nullptr};
  std::atomic<int64_t> n_{0};
  std::atomic<const void*> ahead_data_{nullptr};
  std::atomic<size_t> ahead_bytes_{0};
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

}  // namespace rpu
