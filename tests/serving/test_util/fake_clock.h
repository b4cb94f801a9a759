// FakeClock: a Clock that moves only when a test says so, and tells the test when a thread is
// asleep on it (so "advance and observe" needs no real sleeping).
#pragma once

#include <condition_variable>
#include <mutex>

#include "serving/clock.h"

namespace loom::serving::testing {

class FakeClock : public Clock {
 public:
  int64_t NowMicros() override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  void SleepUntil(int64_t deadline, const std::atomic<bool>& cancel) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++sleepers_;
    ++total_sleeps_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return cancel.load() || now_ >= deadline; });
    --sleepers_;
  }
  void Wake() override {
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_all();
  }
  void AdvanceMicros(int64_t micros) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += micros;
    cv_.notify_all();
  }
  // SleepUntil calls so far (a poller that sleeps again has finished its work).
  int64_t total_sleeps() {
    std::lock_guard<std::mutex> lock(mu_);
    return total_sleeps_;
  }
  void WaitForTotalSleeps(int64_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return total_sleeps_ >= n; });
  }
  // Blocks until at least n threads are asleep on this clock.
  void WaitForSleepers(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return sleepers_ >= n; });
  }
  // One poll of a single poller sleeping `micros` between polls: it is asleep, the clock passes
  // its deadline, it polls and sleeps again.
  void RunOnePoll(int64_t micros) {
    WaitForSleepers(1);
    int64_t sleeps = total_sleeps();
    AdvanceMicros(micros);
    WaitForTotalSleeps(sleeps + 1);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t now_ = 1'000'000;
  int sleepers_ = 0;
  int64_t total_sleeps_ = 0;
};

}  // namespace loom::serving::testing
