#include "core/time.h"

#include <time.h>

namespace loom {

std::string Rfc3339(double epoch_seconds) {
  const time_t secs = static_cast<time_t>(epoch_seconds);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

double ParseRfc3339(const std::string& text) {
  struct tm tm = {};
  if (!strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) return 0;
  return static_cast<double>(timegm(&tm));
}

}  // namespace loom
