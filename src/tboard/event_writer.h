// EventWriter: writes TensorBoard event files, the format TensorFlow's summary writers produce.
// Each writer creates one new file, dir/events.out.tfevents.<10-digit unix seconds>.<host><suffix>,
// whose first record is an Event with file_version "brain.Event:2"; scalars follow as Events
// carrying Summary.Value{tag, simple_value}. A restarted run opens a new file, as TensorFlow
// does, and TensorBoard reads them all.
//
// Records are buffered and written to the file every `flush_interval_seconds` (by a background
// thread), on Flush(), when the buffer fills, and on Close(), so TensorBoard can read the file
// while it grows. Thread-safe: training and evaluation threads may share one writer.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/status.h"
#include "tboard/record_writer.h"

namespace tensorboard {
class Event;
}

namespace loom::tboard {

// This machine's host name (gethostname), or "localhost" if it has none.
std::string LocalHostName();
// Seconds since the Unix epoch, with microseconds: an Event's wall_time.
double WallTimeNow();

// The value of Event.file_version in the first record of every event file.
inline constexpr char kEventFileVersion[] = "brain.Event:2";

struct EventWriterOptions {
  // Directory of the run (TensorBoard's logdir or a subdirectory); created if missing.
  std::string dir;
  // Appended to the file name, e.g. ".v2" or ".eval".
  std::string filename_suffix;
  // The host part of the file name.
  std::string host = LocalHostName();
  // Buffered events are written to the file at least this often. 0 turns the background
  // flusher off: then only Flush(), a full buffer and Close() write.
  double flush_interval_seconds = 2.0;
  // Buffered bytes that trigger a write without waiting for the interval.
  size_t buffer_bytes = 256 * 1024;
};

class EventWriter {
 public:
  // Creates options.dir if needed and the event file in it, and writes the file_version event.
  // If the name is taken (another writer in the same second), the next free second is used, so
  // names still sort in creation order and no writer truncates another's file.
  static StatusOr<std::unique_ptr<EventWriter>> Create(const EventWriterOptions& options);
  // Closes the file if Close() was not called; errors are logged.
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // One Event at `step` with one Summary.Value{tag, simple_value = float(value)}.
  Status WriteScalar(const std::string& tag, double value, int64_t step,
                     double wall_time = WallTimeNow());
  // One Event at `step` with one Summary.Value per (tag, value) pair, in order.
  Status WriteScalars(const std::vector<std::pair<std::string, double>>& values, int64_t step,
                      double wall_time = WallTimeNow());
  // Any Event, written as given (for summaries other than scalars).
  Status WriteEvent(const tensorboard::Event& event);

  // Writes buffered events to the file (no fsync): TensorBoard sees them afterwards.
  Status Flush();
  // Flushes, fsyncs and closes the file. Writes afterwards fail with FailedPrecondition.
  Status Close();

  // The event file's path.
  std::string path() const { return path_; }

 private:
  EventWriter(std::unique_ptr<RecordWriter> records, const EventWriterOptions& options);
  Status WriteSerialized(const std::string& bytes);
  void FlushLoop();

  const std::string path_;
  const double flush_interval_seconds_;

  std::mutex mu_;
  std::unique_ptr<RecordWriter> records_;  // null once closed; guarded by mu_
  bool stopping_ = false;                  // guarded by mu_; tells the flusher to exit
  std::condition_variable wake_flusher_;
  std::thread flusher_;
};

}  // namespace loom::tboard
