// A fixed pool of worker threads for fork-join work: ParallelFor splits [0, n) into size()
// contiguous ranges and returns when all are done. The calling thread works too, so a pool
// of size 1 runs everything inline with no thread at all.
//
// Built for many short calls (a training step is ~0.3 ms and makes three):
//  - After its work a worker watches for the next call for a short while (kSpinMicros) before
//    it sleeps on a condition variable; the caller does likewise while it waits. A call that
//    finds a worker still watching starts it without a system call. After the first 2 us the
//    watching thread yields the CPU on each round, so that a thread with work that shares its
//    CPU runs at once.
//  - Ranges are claimed, not assigned: each thread runs its own range first and then any range
//    no thread has claimed yet. When a worker is slow to start (asleep, or descheduled on a
//    busy machine) the caller runs its range instead of waiting for it, so a busy machine costs
//    parallelism but never stalls a call.
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
  // REQUIRES: 1 <= num_threads <= kMaxThreads.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  // Calls fn(index, begin, end) for the size() contiguous ranges covering [0, n), range
  // `index` being [n*index/size(), n*(index+1)/size()) (empty ranges are skipped), and waits
  // for all of them. No two calls with the same index run at once, so per-index state needs
  // no lock; which thread runs a range is not fixed (see above).
  void ParallelFor(int64_t n, const std::function<void(int, int64_t, int64_t)>& fn);

  // How long a thread watches for work before it sleeps. Short enough not to matter to other
  // processes, long enough to cover the gap between the calls of one training step.
  static constexpr int kSpinMicros = 50;
  static constexpr int kMaxThreads = 16;

 private:
  void WorkerLoop(int index);
  // Claims and runs ranges of call `generation`, starting with `first`; returns when no
  // unclaimed range is left (or the call is over).
  void RunRanges(uint64_t generation, int first);

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  // The current call: fn_ and n_ are written before state_ publishes its generation, and read
  // only by a thread that has claimed a range of that generation (so the call is not over).
  const std::function<void(int, int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  // generation << kMaxThreads | bit i set once range i is claimed.
  std::atomic<uint64_t> state_{0};
  std::atomic<int> remaining_{0};  // ranges of the current call not yet finished
  std::atomic<int> sleeping_workers_{0};
  std::atomic<bool> caller_sleeping_{false};
  std::atomic<bool> stop_{false};
};

}  // namespace loom
