#include "serving/clock.h"

#include <chrono>

namespace loom::serving {

int64_t RealClock::NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void RealClock::SleepUntil(int64_t deadline_micros, const std::atomic<bool>& cancel) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!cancel.load() && NowMicros() < deadline_micros) {
    cv_.wait_until(lock, std::chrono::steady_clock::time_point(
                             std::chrono::microseconds(deadline_micros)));
  }
}

void RealClock::Wake() {
  std::lock_guard<std::mutex> lock(mu_);
  cv_.notify_all();
}

Clock* DefaultClock() {
  static RealClock* clock = new RealClock;
  return clock;
}

}  // namespace loom::serving
