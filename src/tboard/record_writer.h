// RecordWriter: appends TFRecords to a new file. Each record is
//   uint64 length (little-endian) | uint32 masked crc32c(length bytes) | data | uint32 masked crc32c(data)
// which is what TensorFlow's RecordWriter and TensorBoard's readers use for event files.
// Writes are buffered; Flush() hands them to the OS so a reader of the growing file sees whole
// records up to that point. Not thread-safe: EventWriter serializes access.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "core/status.h"

namespace loom::tboard {

// Bytes of framing around each record's data: 8 (length) + 4 (length CRC) + 4 (data CRC).
constexpr size_t kRecordHeaderSize = 12;
constexpr size_t kRecordFooterSize = 4;

// Appends the framed record for `data` to *out (for in-memory use and tests).
void AppendRecord(std::string_view data, std::string* out);

struct RecordWriterOptions {
  // Buffered bytes that trigger a write to the file without waiting for Flush().
  size_t buffer_bytes = 256 * 1024;
};

class RecordWriter {
 public:
  // Creates `path`, which must not exist yet (O_EXCL): a writer never truncates another's file.
  // AlreadyExists if it does.
  static StatusOr<std::unique_ptr<RecordWriter>> Create(const std::string& path,
                                                        const RecordWriterOptions& options = {});
  ~RecordWriter();  // closes the file; errors there are logged, call Close() to see them
  RecordWriter(const RecordWriter&) = delete;
  RecordWriter& operator=(const RecordWriter&) = delete;

  Status WriteRecord(std::string_view data);
  // Writes buffered records to the file (no fsync): visible to readers afterwards.
  Status Flush();
  // Flush, fsync and close. Later calls fail with FailedPrecondition.
  Status Close();

  const std::string& path() const { return path_; }
  // Bytes in records written so far, buffered or not: the file's size after Flush().
  uint64_t bytes_written() const { return bytes_written_; }
  // True when records are buffered but not yet written to the file.
  bool has_buffered_data() const { return !buffer_.empty(); }

 private:
  RecordWriter(std::string path, int fd, const RecordWriterOptions& options)
      : path_(std::move(path)), fd_(fd), options_(options) {}

  std::string path_;
  int fd_ = -1;
  RecordWriterOptions options_;
  std::string buffer_;
  uint64_t bytes_written_ = 0;
};

}  // namespace loom::tboard
