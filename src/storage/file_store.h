// FileStore: an ObjectStore in a local directory (the embedded default, no server needed).
// Key "a/b/c" is the file <root>/a/b/c. Puts write a temporary file and rename it into place, so
// a reader sees the old object or the new. Listing walks the directory tree and skips in-flight
// temporaries (core/file.h's and partial_download.h's). Thread-safe (it keeps no state beyond the root).
#pragma once

#include <memory>
#include <string>

#include "storage/object_store.h"

namespace loom::storage {

struct FileStoreOptions {
  std::string root;  // an existing directory; keys are paths under it
};

class FileStore : public ObjectStore {
 public:
  static StatusOr<std::unique_ptr<FileStore>> Create(const FileStoreOptions& options);

  std::string Describe() const override { return "file://" + root_; }
  StatusOr<ObjectInfo> Head(const std::string& key) override;
  StatusOr<ObjectInfo> Get(const std::string& key, const std::string& path, const GetOptions& options) override;
  StatusOr<ObjectInfo> Put(const std::string& key, const std::string& path, const PutOptions& options) override;
  Status Delete(const std::string& key) override;
  StatusOr<ListPage> List(const ListOptions& options) override;

 private:
  explicit FileStore(std::string root) : root_(std::move(root)) {}
  // <root>/<key>, or kInvalidArgument for a key that is empty or has "." / ".." / "" segments.
  StatusOr<std::string> PathOf(const std::string& key) const;
  std::string root_;
};

// Copies `length` bytes (-1: to the end) of `from` at `offset` to `to` atomically (temporary,
// fsync, rename); nothing is left at `to` on failure. Reports progress.
Status CopyFileAtomic(const std::string& from, int64_t offset, int64_t length, const std::string& to,
                      const ProgressFn& progress);

}  // namespace loom::storage
