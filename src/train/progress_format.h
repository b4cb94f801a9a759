// Helpers for the progress lines both training loops print (mnist_replica.py's format).
#pragma once

#include <sys/time.h>
#include <time.h>

#include <cstdio>
#include <string>

namespace loom::train {

// Seconds since the epoch with microseconds, as Python's time.time() prints.
inline double UnixNow() {
  timeval tv;
  gettimeofday(&tv, nullptr);
  return static_cast<double>(tv.tv_sec) + tv.tv_usec * 1e-6;
}

// CPU seconds used so far by this process (every thread) or by the calling thread: the
// training loops print the CPU a step costs, which a loaded machine changes much less than the
// wall time (bench/distributed/run.sh compares a job's CPU per step with one process's).
inline double ProcessCpuSecs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
inline double ThreadCpuSecs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// printf into a std::string (lines are short: at most 511 characters).
template <typename... Args>
std::string Format(const char* fmt, Args... args) {
  char buf[512];
  snprintf(buf, sizeof(buf), fmt, args...);
  return buf;
}

}  // namespace loom::train
