// The threads that Models and Optimizers compute on (internal to nn/). One pool per thread
// count per process, shared: a training step runs a Model's ComputeGradients and then an
// Optimizer's Apply, and with one pool each the idle pool's worker, still watching for work,
// competed with the busy pool's threads for the 2 cores (measured: a 2-thread MLP step took
// 250-290 us against 185 us for its two halves timed apart). Shared, the same threads serve
// both.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>

#include "core/thread_pool.h"

namespace loom::nn {

class ComputePool {
 public:
  // The shared pool of `num_threads` threads (the caller is one), created on first use and
  // kept for the life of the process. REQUIRES: num_threads >= 2.
  static ComputePool* Get(int num_threads);

  int size() const { return pool_.size(); }
  // ThreadPool::ParallelFor; if another thread is using the pool at that moment (two models
  // used at once), runs fn(0, 0, n) on the caller instead, so results are the same either way.
  void ParallelFor(int64_t n, const std::function<void(int, int64_t, int64_t)>& fn);

 private:
  explicit ComputePool(int num_threads) : pool_(num_threads) {}
  ThreadPool pool_;
  std::mutex busy_;
};

}  // namespace loom::nn
