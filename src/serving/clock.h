// Clock: time for the serving core's polling, behind an interface so tests drive it with a fake
// (tests/serving/test_util/fake_clock.h) instead of sleeping.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace loom::serving {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMicros() = 0;
  // Blocks until NowMicros() >= deadline_micros or `cancel` is true (checked after Wake()).
  virtual void SleepUntil(int64_t deadline_micros, const std::atomic<bool>& cancel) = 0;
  // Wakes every sleeper so that it re-checks its cancel flag. Set the flag first.
  virtual void Wake() = 0;
};

// The steady clock of the machine. Thread-safe.
class RealClock : public Clock {
 public:
  int64_t NowMicros() override;
  void SleepUntil(int64_t deadline_micros, const std::atomic<bool>& cancel) override;
  void Wake() override;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
};

// The process-wide RealClock.
Clock* DefaultClock();

}  // namespace loom::serving
