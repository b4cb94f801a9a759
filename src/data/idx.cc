#include "data/idx.h"
#include "data/libraries.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <limits>
#include <memory>

namespace loom {
namespace {

constexpr uint8_t kUnsignedByte = 0x08;
// Largest payload we agree to allocate: far above MNIST (47 MB), far below a bogus header.
constexpr uint64_t kMaxPayloadBytes = uint64_t{1} << 40;
constexpr size_t kChunk = size_t{1} << 18;

std::string Hex2(uint8_t b) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0x%02X", b);
  return buf;
}

const char* TypeName(uint8_t type) {
  switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "unknown";
  }
}

// Owns a file descriptor.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Reads up to `n` bytes at the current offset; fewer only at end of file.
StatusOr<size_t> ReadFully(int fd, uint8_t* dst, size_t n, const std::string& path) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, dst + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(path, "read", errno);
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

// The bytes of an IDX file, after decompression if any: read front to back once.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `n` bytes into `dst`; returns fewer only at the end of the data.
  virtual StatusOr<size_t> Read(uint8_t* dst, size_t n) = 0;
  // An upper bound on the bytes left, so that a header claiming more is caught before the
  // payload is allocated.
  virtual uint64_t MaxRemaining() const = 0;
  // " (decompressed)" or "": qualifies sizes in error messages.
  virtual const char* SizeNote() const = 0;

  // Reads and discards the rest; returns how many bytes there were.
  StatusOr<uint64_t> CountRemaining() {
    std::vector<uint8_t> scratch(kChunk);
    uint64_t total = 0;
    for (;;) {
      LOOM_ASSIGN_OR_RETURN(size_t n, Read(scratch.data(), scratch.size()));
      total += n;
      if (n < scratch.size()) return total;
    }
  }
};

class RawSource : public ByteSource {
 public:
  RawSource(int fd, uint64_t file_size, std::string path)
      : fd_(fd), file_size_(file_size), path_(std::move(path)) {}

  StatusOr<size_t> Read(uint8_t* dst, size_t n) override {
    LOOM_ASSIGN_OR_RETURN(size_t got, ReadFully(fd_, dst, n, path_));
    consumed_ += got;
    return got;
  }
  uint64_t MaxRemaining() const override {
    return file_size_ > consumed_ ? file_size_ - consumed_ : 0;
  }
  const char* SizeNote() const override { return ""; }

 private:
  int fd_;
  uint64_t file_size_;
  uint64_t consumed_ = 0;
  std::string path_;
};

// Inflates one or more concatenated gzip members, streaming from the file.
class GzipSource : public ByteSource {
 public:
  GzipSource(int fd, uint64_t file_size, std::string path)
      : fd_(fd), file_size_(file_size), path_(std::move(path)), in_(kChunk) {}
  ~GzipSource() override {
    if (initialized_) inflateEnd(&zs_);
  }

  Status Init() {
    zs_ = {};
    // 15 + 16: a 32 KiB window, and expect a gzip (not zlib) header and trailer.
    if (inflateInit2(&zs_, 15 + 16) != Z_OK) return Internal(path_ + ": inflateInit2 failed");
    initialized_ = true;
    return OkStatus();
  }

  StatusOr<size_t> Read(uint8_t* dst, size_t n) override {
    zs_.next_out = dst;
    zs_.avail_out = static_cast<uInt>(n);
    while (zs_.avail_out > 0) {
      if (zs_.avail_in == 0) {
        LOOM_ASSIGN_OR_RETURN(size_t got, ReadFully(fd_, in_.data(), in_.size(), path_));
        read_ += got;
        zs_.next_in = in_.data();
        zs_.avail_in = static_cast<uInt>(got);
        if (got == 0) {
          if (stream_ended_) break;  // clean end of the last member
          return DataLoss(path_ + ": corrupt gzip data: the file ends in the middle of the "
                                  "compressed stream");
        }
      }
      if (stream_ended_) {
        // More input after a member's trailer: another member (as `cat a.gz b.gz` makes).
        inflateReset(&zs_);
        stream_ended_ = false;
      }
      int ret = inflate(&zs_, Z_NO_FLUSH);
      if (ret == Z_STREAM_END) {
        stream_ended_ = true;
      } else if (ret != Z_OK && ret != Z_BUF_ERROR) {
        return DataLoss(path_ + ": corrupt gzip data: " +
                        (zs_.msg ? zs_.msg : "inflate error " + std::to_string(ret)));
      }
    }
    return n - zs_.avail_out;
  }

  uint64_t MaxRemaining() const override {
    // Deflate expands at most 1032:1; the slack covers zlib's internal pending output.
    uint64_t compressed_left = file_size_ > read_ ? file_size_ - read_ : 0;
    compressed_left += zs_.avail_in;
    return compressed_left * 1032 + (uint64_t{1} << 20);
  }
  const char* SizeNote() const override { return " (decompressed)"; }

 private:
  int fd_;
  uint64_t file_size_;
  std::string path_;
  std::vector<uint8_t> in_;
  z_stream zs_{};
  bool initialized_ = false;
  bool stream_ended_ = false;
  uint64_t read_ = 0;  // compressed bytes read from the file
};

// Parses the header and payload from `src`; errors name `path`.
StatusOr<IdxArray> ParseIdx(ByteSource& src, const std::string& path, int expected_rank) {
  uint8_t magic[4];
  LOOM_ASSIGN_OR_RETURN(size_t got, src.Read(magic, 4));
  if (got < 4) {
    return DataLoss(path + ": truncated: " + std::to_string(got) + " bytes" + src.SizeNote() +
                    ", too short for an IDX header");
  }
  if (magic[0] != 0 || magic[1] != 0) {
    return InvalidArgument(path + ": bad magic " + Hex2(magic[0]) + " " + Hex2(magic[1]) + " " +
                           Hex2(magic[2]) + " " + Hex2(magic[3]) +
                           ": not an IDX file (expected 0x00 0x00 <type> <rank>)");
  }
  const uint8_t type = magic[2];
  if (type != kUnsignedByte) {
    return InvalidArgument(path + ": IDX element type " + Hex2(type) + " (" + TypeName(type) +
                           ") is not supported; only 0x08 (unsigned byte) is");
  }
  const int rank = magic[3];
  if (rank == 0) return InvalidArgument(path + ": IDX rank is 0; expected at least 1");
  if (expected_rank > 0 && rank != expected_rank) {
    return InvalidArgument(path + ": IDX rank is " + std::to_string(rank) + ", expected " +
                           std::to_string(expected_rank));
  }

  std::vector<uint8_t> raw_dims(4 * static_cast<size_t>(rank));
  LOOM_ASSIGN_OR_RETURN(got, src.Read(raw_dims.data(), raw_dims.size()));
  const size_t header_bytes = 4 + raw_dims.size();
  if (got < raw_dims.size()) {
    return DataLoss(path + ": truncated: the header of rank " + std::to_string(rank) + " needs " +
                    std::to_string(header_bytes) + " bytes, file has " + std::to_string(4 + got) +
                    src.SizeNote());
  }
  IdxArray out;
  out.dims.resize(rank);
  uint64_t total = 1;
  bool too_large = false;
  for (int i = 0; i < rank; ++i) {
    const uint8_t* p = &raw_dims[4 * i];
    uint64_t d = (uint64_t{p[0]} << 24) | (uint64_t{p[1]} << 16) | (uint64_t{p[2]} << 8) | p[3];
    out.dims[i] = static_cast<int64_t>(d);
    if (d != 0 && total > kMaxPayloadBytes / d) too_large = true;
    if (!too_large) total *= d;
  }
  for (int i = 0; i < rank; ++i) {
    if (out.dims[i] == 0) {
      return InvalidArgument(path + ": dimension " + std::to_string(i) + " of " +
                             FormatDims(out.dims) + " is 0");
    }
  }
  if (too_large || total > kMaxPayloadBytes) {
    return InvalidArgument(path + ": header says " + FormatDims(out.dims) +
                           ", which is too large to load");
  }

  auto size_error = [&](const std::string& what, uint64_t has) {
    return DataLoss(path + ": " + what + ": header says " + FormatDims(out.dims) + " (" +
                    std::to_string(total) + " bytes), file has " + std::to_string(has) +
                    src.SizeNote() + " after the " + std::to_string(header_bytes) +
                    "-byte header");
  };

  if (total > src.MaxRemaining()) {
    // Cannot possibly be there: count what is, without allocating what the header claims.
    LOOM_ASSIGN_OR_RETURN(uint64_t has, src.CountRemaining());
    return size_error("truncated", has);
  }
  out.data.resize(total);
  LOOM_ASSIGN_OR_RETURN(got, src.Read(out.data.data(), out.data.size()));
  if (got < total) return size_error("truncated", got);
  LOOM_ASSIGN_OR_RETURN(uint64_t extra, src.CountRemaining());
  if (extra > 0) return size_error("trailing bytes", total + extra);
  return out;
}

}  // namespace

std::string FormatDims(const std::vector<int64_t>& dims) {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += 'x';
    s += std::to_string(dims[i]);
  }
  return s;
}

StatusOr<IdxArray> ReadIdx(const std::string& path, int expected_rank) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(path, "open", errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(path, "stat", errno);
  if (S_ISDIR(st.st_mode)) return InvalidArgument(path + ": is a directory, not an IDX file");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);

  uint8_t head[2] = {0, 0};
  ssize_t n = ::pread(fd.get(), head, 2, 0);
  if (n < 0) return ErrnoStatus(path, "read", errno);
  if (n == 2 && head[0] == 0x1f && head[1] == 0x8b) {
    GzipSource src(fd.get(), file_size, path);
    LOOM_RETURN_IF_ERROR(src.Init());
    return ParseIdx(src, path, expected_rank);
  }
  RawSource src(fd.get(), file_size, path);
  return ParseIdx(src, path, expected_rank);
}

}  // namespace loom

namespace loom {

std::string ZlibLibraryVersion() {
  return zlibVersion();
}

}  // namespace loom
