// PartialDownload: a download in progress that outlives its process, so that the next Get of the
// same object to the same path resumes it (with Range requests) instead of starting over, e.g.
// after `kill -9` in the middle of a large transfer.
//  - The bytes go to <dir>/.<name>.loom-partial, never to <dir>/<name>: whoever reads the
//    directory sees the old file or the finished one, and the name says what the other file is.
//  - Beside it, <dir>/.<name>.loom-partial.json says which object version the bytes belong to
//    (its ETag and size) and what is done: for a sequential download the file's length, for a
//    parallel one the list of finished parts. Bytes of another version are never resumed.
//  - An exclusive flock on the partial file: two processes downloading to one path take turns
//    (the second finds the path renamed away and starts a fresh partial).
//  - Commit() renames the bytes into place; Discard() removes both files. When neither is called
//    (the process died, the network gave up) both stay for the next attempt.
// Not thread-safe: callers that write parts from several threads serialize MarkPartDone.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "core/status.h"

namespace loom::storage {

class PartialDownload {
 public:
  struct State {
    std::string etag;         // "" : nothing to resume
    int64_t size = -1;        // the object's size; -1 when not known yet (sequential)
    int64_t part_size = 0;    // 0: sequential (the file's length is what is done); else the part size
    std::set<int64_t> done;   // parallel: the indexes of finished parts
  };

  // Opens (creating it if needed) and locks the partial file for `path`, waiting while another
  // process holds it. state() is what an earlier attempt left, checked against the bytes present
  // (a state that claims more than the file holds is dropped).
  static StatusOr<PartialDownload> Open(const std::string& path);
  PartialDownload(PartialDownload&& other) noexcept;
  PartialDownload& operator=(PartialDownload&&) = delete;
  ~PartialDownload();  // closes (and so unlocks); keeps both files unless committed or discarded

  static std::string PartialPathFor(const std::string& path);  // <dir>/.<name>.loom-partial
  static std::string StatePathFor(const std::string& path);    // ... .loom-partial.json
  // True for names this class uses (so a dataset cache can refuse keys that would collide).
  static bool IsPartialName(const std::string& name);

  int fd() const { return fd_; }
  const std::string& partial_path() const { return partial_path_; }
  const State& state() const { return state_; }
  // Bytes in the partial file now.
  StatusOr<int64_t> Length() const;

  // Starts over: empties the file and records `state` (its `done` is cleared).
  Status Reset(const State& state);
  // Records `state` as it is (e.g. the ETag learnt from the first response).
  Status Save(const State& state);
  // Parallel downloads: part `index` is written in full.
  Status MarkPartDone(int64_t index);
  // fsync, remove the state, rename the bytes to the final path, fsync the directory.
  Status Commit();
  // Removes both files (a failure that resuming cannot help: a local write error, bad data).
  void Discard();

 private:
  PartialDownload(std::string path, int fd) : path_(std::move(path)), partial_path_(PartialPathFor(path_)), fd_(fd) {}
  Status WriteState() const;

  std::string path_;
  std::string partial_path_;
  int fd_ = -1;
  State state_;
};

}  // namespace loom::storage
