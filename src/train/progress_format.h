// Helpers for the progress lines both training loops print (mnist_replica.py's format).
#pragma once

#include <sys/time.h>

#include <cstdio>
#include <string>

namespace loom::train {

// Seconds since the epoch with microseconds, as Python's time.time() prints.
inline double UnixNow() {
  timeval tv;
  gettimeofday(&tv, nullptr);
  return static_cast<double>(tv.tv_sec) + tv.tv_usec * 1e-6;
}

// printf into a std::string (lines are short: at most 511 characters).
template <typename... Args>
std::string Format(const char* fmt, Args... args) {
  char buf[512];
  snprintf(buf, sizeof(buf), fmt, args...);
  return buf;
}

}  // namespace loom::train
