#include "core/thread_pool.h"

#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LOOM_CPU_RELAX() _mm_pause()
#else
#define LOOM_CPU_RELAX() std::this_thread::yield()
#endif

namespace loom {
namespace {

constexpr uint64_t kClaimMask = (uint64_t{1} << ThreadPool::kMaxThreads) - 1;

uint64_t GenerationOf(uint64_t state) { return state >> ThreadPool::kMaxThreads; }

// Waits until done() or kSpinMicros have passed; returns done(). The first microseconds spin
// on the CPU; after that each round yields, so that a thread that needs this CPU (another
// thread of the pool, when the machine is busy and they share one) gets it at once.
template <typename Done>
bool SpinUntil(const Done& done) {
  if (done()) return true;
  const auto start = std::chrono::steady_clock::now();
  const auto yield_after = start + std::chrono::microseconds(2);
  const auto deadline = start + std::chrono::microseconds(ThreadPool::kSpinMicros);
  for (;;) {
    for (int i = 0; i < 32; ++i) {
      if (done()) return true;
      LOOM_CPU_RELAX();
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return done();
    if (now >= yield_after) std::this_thread::yield();
  }
}

}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads > kMaxThreads) num_threads = kMaxThreads;
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::RunRanges(uint64_t generation, int first) {
  const int parts = size();
  for (int k = 0; k < parts; ++k) {
    const int index = (first + k) % parts;
    const uint64_t bit = uint64_t{1} << index;
    uint64_t state = state_.load(std::memory_order_acquire);
    bool claimed = false;
    while (GenerationOf(state) == generation && !(state & bit)) {
      if (state_.compare_exchange_weak(state, state | bit, std::memory_order_acq_rel)) {
        claimed = true;
        break;
      }
    }
    if (GenerationOf(state) != generation) return;  // that call is over
    if (!claimed) continue;
    const int64_t begin = n_ * index / parts, end = n_ * (index + 1) / parts;
    if (begin < end) (*fn_)(index, begin, end);
    if (remaining_.fetch_sub(1) == 1 && caller_sleeping_.load()) {
      std::lock_guard<std::mutex> lock(mu_);
      done_cv_.notify_one();
    }
  }
}

void ThreadPool::ParallelFor(int64_t n, const std::function<void(int, int64_t, int64_t)>& fn) {
  const int parts = size();
  if (parts == 1 || n <= 1) {
    if (n > 0) fn(0, 0, n);
    return;
  }
  fn_ = &fn;
  n_ = n;
  remaining_.store(parts);
  const uint64_t generation = GenerationOf(state_.load()) + 1;
  // seq_cst: a worker that is about to sleep either sees this generation or is counted in
  // sleeping_workers_ (it increments that before its last look at state_).
  state_.store(generation << kMaxThreads);
  if (sleeping_workers_.load() > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    work_cv_.notify_all();
  }
  RunRanges(generation, 0);
  if (!SpinUntil([this] { return remaining_.load(std::memory_order_acquire) == 0; })) {
    std::unique_lock<std::mutex> lock(mu_);
    caller_sleeping_.store(true);
    done_cv_.wait(lock, [this] { return remaining_.load() == 0; });
    caller_sleeping_.store(false);
  }
  fn_ = nullptr;
}

void ThreadPool::WorkerLoop(int index) {
  uint64_t seen = 0;
  for (;;) {
    auto has_work = [&] {
      return stop_.load() || GenerationOf(state_.load(std::memory_order_acquire)) != seen;
    };
    if (!SpinUntil(has_work)) {
      std::unique_lock<std::mutex> lock(mu_);
      sleeping_workers_.fetch_add(1);
      work_cv_.wait(lock, has_work);
      sleeping_workers_.fetch_sub(1);
    }
    if (stop_.load()) return;
    seen = GenerationOf(state_.load(std::memory_order_acquire));
    RunRanges(seen, index);
  }
}

}  // namespace loom
