// ObjectStore: a flat namespace of keys holding immutable byte strings (an S3 bucket, or a local
// directory standing in for one). Transfers go between an object and a local file, so objects of
// any size stream without being held in memory. Every Get writes its file atomically: a failed or
// interrupted Get leaves no file at `path`. (S3Store may keep an interrupted download under a
// hidden name that says it is partial, .<name>.loom-partial, to resume it: see s3_store.h.)
// Implementations: FileStore (file_store.h) and S3Store (s3_store.h); OpenStore (store_url.h)
// picks one for a URL. Thread-safety: each implementation says.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"

namespace loom::storage {

struct ObjectInfo {
  std::string key;
  int64_t size = 0;
  // Opaque version tag: S3's ETag without quotes (the MD5 of a single-part object, "<md5>-N" for a
  // multipart one); FileStore's is "<mtime_ns>-<size>". Equal tags mean equal content.
  std::string etag;
};

// Called now and then during a transfer with the bytes done so far and the total (-1: unknown).
using ProgressFn = std::function<void(int64_t done, int64_t total)>;

struct GetOptions {
  int64_t offset = 0;   // first byte to fetch
  int64_t length = -1;  // bytes to fetch from offset; -1: to the end
  ProgressFn progress;
  // A whole-object download that fails on the network (after its retries) keeps what arrived
  // for the next Get to the same path to resume (S3Store); false: removes it, as for any other
  // failure. Set it for stable paths (loom data get, the dataset cache), not temporary ones.
  bool keep_partial = false;
};

struct PutOptions {
  ProgressFn progress;
};

struct ListOptions {
  std::string prefix;     // only keys starting with this
  std::string delimiter;  // when set, keys with it after the prefix roll up into common_prefixes
  int max_keys = 1000;    // per page, 1..1000
  std::string continuation_token;  // from the previous page's next_token
};

struct ListPage {
  std::vector<ObjectInfo> objects;          // sorted by key (byte order)
  std::vector<std::string> common_prefixes; // sorted, each ends with the delimiter
  std::string next_token;                   // "" on the last page
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // "s3://bucket" or "file:///root": for messages.
  virtual std::string Describe() const = 0;
  // kNotFound when there is no such key.
  virtual StatusOr<ObjectInfo> Head(const std::string& key) = 0;
  // Writes the object (or the range options.offset/length of it) to the local file `path`,
  // replacing it atomically. Returns the object's info.
  virtual StatusOr<ObjectInfo> Get(const std::string& key, const std::string& path, const GetOptions& options) = 0;
  // Stores the local file `path` as `key`; readers see the old object or the new, never a mix.
  virtual StatusOr<ObjectInfo> Put(const std::string& key, const std::string& path, const PutOptions& options) = 0;
  // Deleting a missing key is OK (as in S3).
  virtual Status Delete(const std::string& key) = 0;
  virtual StatusOr<ListPage> List(const ListOptions& options) = 0;

  // Every object under `prefix` (no delimiter), following the pages.
  StatusOr<std::vector<ObjectInfo>> ListAll(const std::string& prefix);
};

}  // namespace loom::storage
