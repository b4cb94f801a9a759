#include "storage/partial_download.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "core/file.h"
#include "core/json.h"

namespace loom::storage {
namespace {

constexpr char kPartialSuffix[] = ".loom-partial";
constexpr char kStateSuffix[] = ".loom-partial.json";

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The state an earlier attempt left, or an empty one when there is none or it is unreadable.
PartialDownload::State ReadState(const std::string& path) {
  PartialDownload::State state;
  auto text = ReadFile(path);
  if (!text.ok()) return state;
  auto json = ParseJson(*text, path);
  if (!json.ok() || !json->is_object()) return state;
  const Json& j = *json;
  if (!j.contains("etag") || !j["etag"].is_string() || !j.contains("size") || !j["size"].is_number_integer() ||
      !j.contains("part_size") || !j["part_size"].is_number_integer() || !j.contains("done") || !j["done"].is_array())
    return state;
  for (const Json& d : j["done"]) {
    if (!d.is_number_integer()) return state;
    state.done.insert(d.get<int64_t>());
  }
  state.etag = j["etag"].get<std::string>();
  state.size = j["size"].get<int64_t>();
  state.part_size = j["part_size"].get<int64_t>();
  return state;
}

}  // namespace

std::string PartialDownload::PartialPathFor(const std::string& path) {
  return JoinPath(Dirname(path), "." + Basename(path) + kPartialSuffix);
}

std::string PartialDownload::StatePathFor(const std::string& path) {
  return JoinPath(Dirname(path), "." + Basename(path) + kStateSuffix);
}

bool PartialDownload::IsPartialName(const std::string& name) {
  return !name.empty() && name[0] == '.' && (EndsWith(name, kPartialSuffix) || EndsWith(name, kStateSuffix));
}

StatusOr<PartialDownload> PartialDownload::Open(const std::string& path) {
  std::string partial = PartialPathFor(path);
  for (;;) {
    int fd = ::open(partial.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus(path, "create", errno);
    int rc;
    while ((rc = ::flock(fd, LOCK_EX)) != 0 && errno == EINTR) {}
    if (rc != 0) {
      int err = errno;
      ::close(fd);
      return ErrnoStatus(partial, "lock", err);
    }
    // The holder before us may have renamed the file into place or removed it while we waited:
    // then the lock is on a file that is no longer the partial one, and we start again.
    struct stat locked, named;
    if (::fstat(fd, &locked) == 0 && ::stat(partial.c_str(), &named) == 0 && locked.st_ino == named.st_ino &&
        locked.st_dev == named.st_dev) {
      PartialDownload download(path, fd);
      State state = ReadState(StatePathFor(path));
      // Keep the state only when the bytes it describes are there.
      int64_t length = locked.st_size;
      bool present = !state.etag.empty() && length > 0;
      if (present && state.part_size > 0) {
        for (int64_t i : state.done) {
          int64_t end = std::min(state.size, (i + 1) * state.part_size);
          if (i < 0 || i * state.part_size >= state.size || end > length) present = false;
        }
      }
      if (present) download.state_ = std::move(state);
      return download;
    }
    ::close(fd);
  }
}

PartialDownload::PartialDownload(PartialDownload&& other) noexcept
    : path_(std::move(other.path_)),
      partial_path_(std::move(other.partial_path_)),
      fd_(other.fd_),
      state_(std::move(other.state_)) {
  other.fd_ = -1;
}

PartialDownload::~PartialDownload() {
  if (fd_ >= 0) ::close(fd_);
}

StatusOr<int64_t> PartialDownload::Length() const {
  struct stat st;
  if (::fstat(fd_, &st) != 0) return ErrnoStatus(partial_path_, "stat", errno);
  return static_cast<int64_t>(st.st_size);
}

Status PartialDownload::WriteState() const {
  Json j;
  j["etag"] = state_.etag;
  j["size"] = state_.size;
  j["part_size"] = state_.part_size;
  j["done"] = Json::array();
  for (int64_t i : state_.done) j["done"].push_back(i);
  // Written and renamed without fsync: it has to survive the process, not the machine.
  std::string state_path = StatePathFor(path_);
  std::string tmp = TempPathFor(state_path);
  std::string text = j.dump() + "\n";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(state_path, "create", errno);
  ssize_t n = ::write(fd, text.data(), text.size());
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) {
    ::unlink(tmp.c_str());
    return ErrnoStatus(state_path, "write", n < 0 ? err : ENOSPC);
  }
  if (::rename(tmp.c_str(), state_path.c_str()) != 0) {
    err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus(state_path, "rename", err);
  }
  return OkStatus();
}

Status PartialDownload::Reset(const State& state) {
  if (::ftruncate(fd_, 0) != 0) return ErrnoStatus(partial_path_, "truncate", errno);
  state_ = state;
  state_.done.clear();
  if (state_.etag.empty()) {  // nothing known yet: no state file until there is
    if (::unlink(StatePathFor(path_).c_str()) != 0 && errno != ENOENT)
      return ErrnoStatus(StatePathFor(path_), "delete", errno);
    return OkStatus();
  }
  return WriteState();
}

Status PartialDownload::Save(const State& state) {
  state_ = state;
  return WriteState();
}

Status PartialDownload::MarkPartDone(int64_t index) {
  state_.done.insert(index);
  return WriteState();
}

Status PartialDownload::Commit() {
  if (::fsync(fd_) != 0) return ErrnoStatus(path_, "fsync", errno);
  // The state goes first: a crash between the two leaves bytes without a state, never a state
  // describing a file that is not there.
  if (::unlink(StatePathFor(path_).c_str()) != 0 && errno != ENOENT)
    return ErrnoStatus(StatePathFor(path_), "delete", errno);
  if (::rename(partial_path_.c_str(), path_.c_str()) != 0) return ErrnoStatus(path_, "rename", errno);
  ::close(fd_);
  fd_ = -1;
  return SyncDir(Dirname(path_));
}

void PartialDownload::Discard() {
  ::unlink(StatePathFor(path_).c_str());
  ::unlink(partial_path_.c_str());
}

}  // namespace loom::storage
