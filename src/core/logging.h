// Logging in glog's (and so TF Serving's) line format, to stderr:
//   2026-11-28 17:04:05.123456: I src/train/trainer.cc:42] message
// LOOM_LOG(INFO) << ...;  LOOM_CHECK(cond) << ... aborts, for programmer errors only:
// bad user input is a Status, never a CHECK.
#pragma once

#include <sstream>
#include <string>

namespace loom {

enum class LogSeverity { kInfo = 0, kWarning = 1, kError = 2, kFatal = 3 };

// Messages below this severity are dropped. Default kInfo; LOOM_MIN_LOG_LEVEL is read by tools.
void SetMinLogSeverity(LogSeverity severity);
LogSeverity MinLogSeverity();

// "YYYY-MM-DD HH:MM:SS.uuuuuu" in local time: the timestamp of log and progress lines.
std::string NowTimestamp();

class LogMessage {
 public:
  LogMessage(const char* file, int line, LogSeverity severity);
  ~LogMessage();  // writes the line; aborts for kFatal
  std::ostream& stream() { return stream_; }

 private:
  LogSeverity severity_;
  std::ostringstream stream_;
};

// Swallows the stream when the message is below the minimum severity.
struct LogVoidify {
  void operator&(std::ostream&) {}
};

}  // namespace loom

#define LOOM_SEVERITY_INFO ::loom::LogSeverity::kInfo
#define LOOM_SEVERITY_WARNING ::loom::LogSeverity::kWarning
#define LOOM_SEVERITY_ERROR ::loom::LogSeverity::kError
#define LOOM_SEVERITY_FATAL ::loom::LogSeverity::kFatal

#define LOOM_LOG(sev)                                              \
  (LOOM_SEVERITY_##sev < ::loom::MinLogSeverity())                 \
      ? (void)0                                                    \
      : ::loom::LogVoidify() &                                     \
            ::loom::LogMessage(__FILE__, __LINE__, LOOM_SEVERITY_##sev).stream()

#define LOOM_CHECK(cond)                                                              \
  (cond) ? (void)0                                                                    \
         : ::loom::LogVoidify() &                                                     \
               ::loom::LogMessage(__FILE__, __LINE__, ::loom::LogSeverity::kFatal).stream() \
                   << "Check failed: " #cond " "
