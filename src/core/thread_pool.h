// A fixed pool of worker threads for fork-join work: ParallelFor splits [0, n) into one
// contiguous range per thread and returns when all are done. The calling thread takes the
// first range, so a pool of size 1 runs everything inline with no thread at all.
// Thread-safety: one ParallelFor at a time per pool.
#pragma once

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

 private:
  void WorkerLoop(int index);

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  const std::function<void(int, int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
};

}  // namespace loom
