#include "tboard/record_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <utility>

#include "tboard/crc32c.h"
#include "tboard/record_writer.h"

namespace loom::tboard {
namespace {

// Reads go in chunks of at least kReadChunk; at most kMaxChunk at a time, so a large record
// grows the buffer only as fast as the file really has bytes.
constexpr size_t kReadChunk = 256 * 1024;
constexpr size_t kMaxChunk = 16 * 1024 * 1024;

uint32_t LoadLE32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return uint32_t{u[0]} | (uint32_t{u[1]} << 8) | (uint32_t{u[2]} << 16) | (uint32_t{u[3]} << 24);
}

uint64_t LoadLE64(const char* p) { return uint64_t{LoadLE32(p)} | (uint64_t{LoadLE32(p + 4)} << 32); }

std::string Hex32(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof(b), "0x%08x", v);
  return b;
}

}  // namespace

StatusOr<std::unique_ptr<RecordReader>> RecordReader::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(path, "open", errno);
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return InvalidArgument(path + ": is a directory");
  }
  return std::unique_ptr<RecordReader>(new RecordReader(path, fd));
}

RecordReader::~RecordReader() {
  if (fd_ >= 0) ::close(fd_);
}

StatusOr<size_t> RecordReader::Fill(size_t n) {
  size_t available = buffer_.size() - buffer_pos_;
  if (available >= n) return n;
  // Drop consumed bytes, then read at the file offset just past what is buffered.
  buffer_.erase(0, buffer_pos_);
  buffer_pos_ = 0;
  while (available < n) {
    size_t want = std::max(kReadChunk, std::min(n - available, kMaxChunk));
    size_t old_size = buffer_.size();
    buffer_.resize(old_size + want);
    ssize_t got;
    do {
      got = ::pread(fd_, buffer_.data() + old_size, want, static_cast<off_t>(offset_ + available));
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
      int err = errno;
      buffer_.resize(old_size);
      return ErrnoStatus(path_, "read at offset " + std::to_string(offset_ + available), err);
    }
    buffer_.resize(old_size + static_cast<size_t>(got));
    available += static_cast<size_t>(got);
    if (got == 0) break;  // end of file (for now: a writer may append more)
  }
  return std::min(available, n);
}

StatusOr<bool> RecordReader::ReadRecord(std::string* record) {
  if (fd_ < 0) return FailedPrecondition(path_ + ": record reader is closed");
  const std::string where = path_ + ": ";
  const std::string at = " record at offset " + std::to_string(offset_);

  LOOM_ASSIGN_OR_RETURN(size_t have, Fill(kRecordHeaderSize));
  if (have == 0) return false;
  if (have < kRecordHeaderSize) {
    return OutOfRange(where + "truncated" + at + ": header needs " +
                      std::to_string(kRecordHeaderSize) + " bytes, file has " +
                      std::to_string(have));
  }
  const char* header = buffer_.data() + buffer_pos_;
  uint64_t length = LoadLE64(header);
  uint32_t stored_length_crc = crc32c::Unmask(LoadLE32(header + 8));
  uint32_t length_crc = crc32c::Value(header, 8);
  if (stored_length_crc != length_crc) {
    return DataLoss(where + "corrupt" + at + ": length CRC mismatch (stored " +
                    Hex32(stored_length_crc) + ", computed " + Hex32(length_crc) + ")");
  }
  // A length whose CRC matches is what the writer wrote; if the file does not hold it all yet,
  // the record is torn (or being written). Bound it so a huge length cannot overflow.
  if (length > (uint64_t{1} << 62)) {
    return DataLoss(where + "corrupt" + at + ": impossible length " + std::to_string(length));
  }
  const size_t total = kRecordHeaderSize + static_cast<size_t>(length) + kRecordFooterSize;
  LOOM_ASSIGN_OR_RETURN(have, Fill(total));
  if (have < total) {
    return OutOfRange(where + "truncated" + at + ": record of " + std::to_string(length) +
                      " data bytes needs " + std::to_string(total) + " bytes, file has " +
                      std::to_string(have));
  }
  const char* data = buffer_.data() + buffer_pos_ + kRecordHeaderSize;
  uint32_t stored_data_crc = crc32c::Unmask(LoadLE32(data + length));
  uint32_t data_crc = crc32c::Value(data, static_cast<size_t>(length));
  if (stored_data_crc != data_crc) {
    return DataLoss(where + "corrupt" + at + ": data CRC mismatch over bytes " +
                    std::to_string(offset_ + kRecordHeaderSize) + ".." +
                    std::to_string(offset_ + kRecordHeaderSize + length) + " (stored " +
                    Hex32(stored_data_crc) + ", computed " + Hex32(data_crc) + ")");
  }
  record->assign(data, static_cast<size_t>(length));
  buffer_pos_ += total;
  offset_ += total;
  return true;
}

}  // namespace loom::tboard
