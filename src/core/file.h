// Files: whole-file reads, atomic writes (temporary file, fsync, rename), directories.
// A reader never sees half a file written here: it sees the old content or the new.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace loom {

StatusOr<std::string> ReadFile(const std::string& path);

// Writes `content` to `path` atomically: to "<path>.tmp.<pid>.<n>" in the same directory,
// fsync, rename over `path`, fsync the directory. On failure nothing is left behind.
Status WriteFileAtomic(const std::string& path, std::string_view content);

// Streams a file into place atomically; for content too big to hold at once.
// Nothing appears at `path` until Commit() succeeds; destroyed uncommitted, it removes its
// temporary file. Not thread-safe.
class AtomicFileWriter {
 public:
  static StatusOr<AtomicFileWriter> Open(const std::string& path);
  AtomicFileWriter(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter& operator=(AtomicFileWriter&&) = delete;
  ~AtomicFileWriter();

  Status Append(std::string_view data);
  Status Commit();  // fsync, rename, fsync the directory

 private:
  AtomicFileWriter(std::string path, std::string tmp_path, int fd)
      : path_(std::move(path)), tmp_path_(std::move(tmp_path)), fd_(fd) {}
  std::string path_;
  std::string tmp_path_;
  int fd_ = -1;
};

// A fresh, unique name beside `path` for a temporary file or directory.
std::string TempPathFor(const std::string& path);

bool PathExists(const std::string& path);
bool IsDirectory(const std::string& path);
// mkdir -p. An existing directory is fine.
Status MakeDirs(const std::string& path);
// rm -rf. A missing path is fine.
Status RemoveAll(const std::string& path);
// Entry names (not paths) in `dir`, sorted, without "." and "..".
StatusOr<std::vector<std::string>> ListDir(const std::string& dir);
// fsync a directory so that a rename inside it is durable.
Status SyncDir(const std::string& dir);
// Checks that `dir` exists (creating it if needed) and that a file can be created in it.
Status EnsureWritableDir(const std::string& dir);

std::string JoinPath(std::string_view a, std::string_view b);
// Where Loom keeps its state (workflow store, job state and logs, the embedded object store):
// $LOOM_HOME if set, else $HOME/.loom (or /root/.loom without HOME). Not created here.
std::string LoomHome();
std::string Dirname(std::string_view path);
std::string Basename(std::string_view path);

}  // namespace loom
