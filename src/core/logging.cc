#include "core/logging.h"

#include <sys/time.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <cstring>

namespace loom {
namespace {
std::atomic<int> g_min_severity{0};
}  // namespace

void SetMinLogSeverity(LogSeverity severity) { g_min_severity = static_cast<int>(severity); }
LogSeverity MinLogSeverity() { return static_cast<LogSeverity>(g_min_severity.load()); }

std::string NowTimestamp() {
  timeval tv;
  gettimeofday(&tv, nullptr);
  tm local;
  localtime_r(&tv.tv_sec, &local);
  char buf[64];
  size_t n = strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &local);
  snprintf(buf + n, sizeof(buf) - n, ".%06ld", static_cast<long>(tv.tv_usec));
  return buf;
}

LogMessage::LogMessage(const char* file, int line, LogSeverity severity) : severity_(severity) {
  static const char kLetters[] = "IWEF";
  // Show the path from src/ or tools/ on, as TF Serving shows tensorflow_serving/...
  const char* shown = file;
  for (const char* root : {"src/", "tools/", "tests/"}) {
    if (const char* p = std::strstr(file, root)) { shown = p; break; }
  }
  stream_ << NowTimestamp() << ": " << kLetters[static_cast<int>(severity)] << " " << shown << ":"
          << line << "] ";
}

LogMessage::~LogMessage() {
  stream_ << '\n';
  std::string line = stream_.str();
  fwrite(line.data(), 1, line.size(), stderr);
  if (severity_ == LogSeverity::kFatal) {
    fflush(stderr);
    abort();
  }
}

}  // namespace loom
