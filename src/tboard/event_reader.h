// EventReader: reads the scalars of a TensorBoard event file (ours or TensorFlow's), checking
// every record's CRCs through RecordReader. For the web UI and for tests.
// Events that are not summaries, and summary values that are not simple_value scalars
// (images, histograms, tensors), are skipped. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "tboard/record_reader.h"

namespace loom::tboard {

// One point of one series.
struct ScalarEvent {
  double wall_time = 0;
  int64_t step = 0;
  std::string tag;
  float value = 0;  // Summary.Value.simple_value is a float32

  bool operator==(const ScalarEvent&) const = default;
};

struct EventFileContents {
  std::string file_version;          // "brain.Event:2"; empty if no event carried one
  std::vector<ScalarEvent> scalars;  // in file order
  uint64_t events = 0;               // records read, of any kind
  // Set when the file ends inside a record (a writer still appending, or killed mid-write):
  // the offset of that torn record. TensorBoard ignores such a tail, and so do we.
  std::optional<uint64_t> truncated_at;
};

class EventReader {
 public:
  static StatusOr<std::unique_ptr<EventReader>> Open(const std::string& path);

  // Reads every complete record not read yet and appends what it holds to *out; stops at the
  // end of the file or before a torn tail (setting out->truncated_at), so calling it again later
  // picks up what a writer has appended since. DataLoss names the file and offset of a record
  // whose CRC does not match or that is not an Event.
  Status ReadAvailable(EventFileContents* out);

  const std::string& path() const { return records_->path(); }

 private:
  explicit EventReader(std::unique_ptr<RecordReader> records) : records_(std::move(records)) {}
  std::unique_ptr<RecordReader> records_;
};

// Reads a whole event file; a torn tail is tolerated and reported in truncated_at.
StatusOr<EventFileContents> ReadEventFile(const std::string& path);

}  // namespace loom::tboard
