#include "tboard/record_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "core/logging.h"
#include "tboard/crc32c.h"

namespace loom::tboard {
namespace {

void AppendLE32(uint32_t v, std::string* out) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xffu);
  out->append(b, 4);
}

void AppendLE64(uint64_t v, std::string* out) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xffu);
  out->append(b, 8);
}

}  // namespace

void AppendRecord(std::string_view data, std::string* out) {
  size_t start = out->size();
  AppendLE64(data.size(), out);
  AppendLE32(crc32c::Mask(crc32c::Value(out->data() + start, 8)), out);
  out->append(data);
  AppendLE32(crc32c::Mask(crc32c::Value(data)), out);
}

StatusOr<std::unique_ptr<RecordWriter>> RecordWriter::Create(const std::string& path,
                                                             const RecordWriterOptions& options) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == EEXIST) return AlreadyExists(path + ": already exists");
    return ErrnoStatus(path, "create", errno);
  }
  return std::unique_ptr<RecordWriter>(new RecordWriter(path, fd, options));
}

RecordWriter::~RecordWriter() {
  if (fd_ < 0) return;
  Status s = Close();
  if (!s.ok()) LOOM_LOG(WARNING) << "closing record file: " << s.ToString();
}

Status RecordWriter::WriteRecord(std::string_view data) {
  if (fd_ < 0) return FailedPrecondition(path_ + ": record writer is closed");
  size_t before = buffer_.size();
  AppendRecord(data, &buffer_);
  bytes_written_ += buffer_.size() - before;
  if (buffer_.size() >= options_.buffer_bytes) return Flush();
  return OkStatus();
}

Status RecordWriter::Flush() {
  if (fd_ < 0) return FailedPrecondition(path_ + ": record writer is closed");
  std::string_view rest = buffer_;
  while (!rest.empty()) {
    ssize_t n = ::write(fd_, rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      // Keep what was not written, so a later Flush can retry (e.g. after ENOSPC clears).
      int err = errno;
      buffer_.erase(0, buffer_.size() - rest.size());
      return ErrnoStatus(path_, "write", err);
    }
    rest.remove_prefix(static_cast<size_t>(n));
  }
  buffer_.clear();
  return OkStatus();
}

Status RecordWriter::Close() {
  if (fd_ < 0) return FailedPrecondition(path_ + ": record writer is closed");
  Status status = Flush();
  if (status.ok() && ::fsync(fd_) != 0) status = ErrnoStatus(path_, "fsync", errno);
  if (::close(fd_) != 0 && status.ok()) status = ErrnoStatus(path_, "close", errno);
  fd_ = -1;
  return status;
}

}  // namespace loom::tboard
