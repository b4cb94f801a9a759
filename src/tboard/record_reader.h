// RecordReader: reads TFRecords (see record_writer.h for the framing) from a file, checking the
// CRC of every length and every payload. Reads through the file descriptor at its own offset, so
// it can follow a file that a writer is still appending to: a torn final record is reported as
// truncated without consuming it, and a later ReadRecord() picks it up once it is complete.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "core/status.h"

namespace loom::tboard {

class RecordReader {
 public:
  static StatusOr<std::unique_ptr<RecordReader>> Open(const std::string& path);
  ~RecordReader();
  RecordReader(const RecordReader&) = delete;
  RecordReader& operator=(const RecordReader&) = delete;

  // Reads the next record into *record.
  //   true:        a record was read.
  //   false:       clean end of file: no byte after the last complete record.
  //   OutOfRange:  the file ends inside a record ("<path>: truncated record at offset N: ...");
  //                a writer may still be appending it. Nothing is consumed: call again later.
  //   DataLoss:    a CRC does not match ("<path>: corrupt record at offset N: ..."). The reader
  //                stays at that record; the rest of the file cannot be trusted.
  // Offsets are byte offsets in the file of the start of the record's length field.
  StatusOr<bool> ReadRecord(std::string* record);

  const std::string& path() const { return path_; }
  // Offset of the next record: everything before it has been read and verified.
  uint64_t offset() const { return offset_; }

 private:
  RecordReader(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  // Makes up to `n` bytes from offset_ available in buffer_ (fewer only at end of file) and
  // returns how many are available.
  StatusOr<size_t> Fill(size_t n);

  std::string path_;
  int fd_ = -1;
  uint64_t offset_ = 0;
  std::string buffer_;     // file bytes read ahead; those before buffer_pos_ are consumed
  size_t buffer_pos_ = 0;  // buffer_[buffer_pos_] is the byte at offset_
};

}  // namespace loom::tboard
