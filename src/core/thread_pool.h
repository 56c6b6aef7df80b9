// A fixed pool of worker threads for data-parallel loops over rows.
//
// Small models run hundreds of parallel loops per token, so dispatch must cost well under a
// microsecond: workers spin on an atomic generation counter for a while before sleeping on
// it (a futex via std::atomic::wait), and the caller spins until every chunk is done. The
// calling thread takes part, so a pool of N threads starts N-1 workers.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace rpu {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn(begin, end) over [0, n) split into contiguous chunks, one per thread; returns when
  // all chunks are done. An exception thrown by a chunk is rethrown here.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn);
  // Runs fn(thread_index, n_threads) once on every thread.
  void run_on_all(const std::function<void(int, int)>& fn);

 private:
  void worker_loop(int index);
  void dispatch(const std::function<void(int, int)>& fn);
  void run_task(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stopping_{false};
  const std::function<void(int, int)>* task_ = nullptr;
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

}  // namespace rpu
