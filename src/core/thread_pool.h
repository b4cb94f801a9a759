// A fixed pool of worker threads for fork-join work: ParallelFor splits [0, n) into one
// contiguous range per thread and returns when all are done. The calling thread takes the
// first range, so a pool of size 1 runs everything inline with no thread at all.
//
// Built for many short calls (a training step is ~0.3 ms and makes three): after its work a
// worker watches for the next call for a short while (kSpinMicros) before it sleeps on a
// condition variable, and the caller does likewise while it waits for the workers. A call
// that finds a worker still watching starts it without a system call. After the first 2 us
// the watching thread yields the CPU on each round, so that when the machine is busy and two
// threads of the pool share one CPU, the one with work runs instead of waiting 50 us.
// Thread-safety: one ParallelFor at a time per pool.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace loom {

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  // Calls fn(thread_index, begin, end) for size() contiguous ranges covering [0, n)
  // (empty ranges are skipped), and waits for all of them.
  void ParallelFor(int64_t n, const std::function<void(int, int64_t, int64_t)>& fn);

  // How long a thread spins before it sleeps. Short enough not to matter to other
  // processes, long enough to cover the gap between the calls of one training step.
  static constexpr int kSpinMicros = 50;

 private:
  void WorkerLoop(int index);

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  // Published by ParallelFor before generation_ is bumped; read by workers after they see it.
  const std::function<void(int, int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<int> sleeping_workers_{0};
  std::atomic<bool> caller_sleeping_{false};
  std::atomic<bool> stop_{false};
};

}  // namespace loom
