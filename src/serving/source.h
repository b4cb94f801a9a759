// FileSystemSource: TF Serving's FileSystemStoragePathSource. For each configured model it
// lists <base_path>/<version>/ directories (numbered), applies the model's version policy and
// tells the target (the manager) the aspired versions, once at Start() and then every
// poll_wait_seconds. Bundles are renamed into place whole, so a listed version is complete
// on disk (a corrupt one is the loader's error to report).
//
// A base path that is an object store URL (s3://bucket/prefix, or file:///dir when cache_dir is
// set) is polled through src/storage's ObjectStore: a version there is listed once it has both
// model.json and weights.safetensors (an upload is not atomic), and an aspired version is first
// copied to <cache_dir>/<bucket or "file">/<prefix>/<version> by storage::CacheDataset (SHA-256
// verified, resumable, idempotent), so the loader reads a complete local copy. A version that
// cannot be copied is logged and left out of this poll (an older one is aspired instead).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "serving/clock.h"
#include "serving/version_policy.h"
#include "storage/object_store.h"
#include "storage/s3_store.h"

namespace loom::serving {

struct AspiredVersion {
  int64_t version = 0;
  std::string path;  // <base_path>/<version>
};

struct ModelSourceConfig {
  std::string name;
  std::string base_path;  // a local directory, file:// or s3:// URL
  VersionPolicy policy;
};

// Called with every model's aspired versions on each poll (also when unchanged).
using AspiredVersionsCallback =
    std::function<void(const std::string& model_name, std::vector<AspiredVersion> versions)>;

struct FileSystemSourceOptions {
  std::vector<ModelSourceConfig> models;
  // Seconds between polls; 0 polls once (at Start) and never again.
  double poll_wait_seconds = 1;
  Clock* clock = nullptr;  // null: DefaultClock()
  // Where versions from object store URLs are copied before loading. Required for s3:// base
  // paths; when empty, a file:// base path is read in place like a plain directory.
  std::string cache_dir;
  // Endpoint and credentials for s3:// base paths (the bucket comes from each URL).
  storage::S3Options s3;
};

class FileSystemSource {
 public:
  // Errors: a model without a name or base path, two models with one name, a bad URL, an s3://
  // path without cache_dir.
  static StatusOr<std::unique_ptr<FileSystemSource>> Create(const FileSystemSourceOptions& options,
                                                            AspiredVersionsCallback callback);
  ~FileSystemSource();  // Stop()

  // Polls once now, then (poll_wait_seconds > 0) in a thread. A base path that cannot be
  // listed is logged and polled again later, keeping the model's last aspired versions.
  void Start();
  void Stop();
  // One poll in the caller's thread. Returns the first listing error (after polling them all).
  Status PollOnce();
  // Polls finished so far (tests wait on it).
  int64_t polls() const { return polls_.load(); }

 private:
  // A model whose base path is an object store URL.
  struct StoreModel {
    std::unique_ptr<storage::ObjectStore> store;
    std::string prefix;     // key prefix of the version directories, "" or ending in '/'
    std::string cache_dir;  // local copies: <cache_dir>/<version>
    std::map<int64_t, std::string> cached;  // versions copied and verified -> local directory
  };

  FileSystemSource(FileSystemSourceOptions options, AspiredVersionsCallback callback)
      : options_(std::move(options)), callback_(std::move(callback)) {}
  void Loop();
  // The aspired versions of a model in a store, copying the ones not cached yet.
  StatusOr<std::vector<AspiredVersion>> PollStore(const ModelSourceConfig& model, StoreModel& store_model);

  FileSystemSourceOptions options_;
  std::mutex poll_mu_;  // one poll at a time (Start's and the thread's)
  std::map<std::string, StoreModel> stores_;  // by model name
  AspiredVersionsCallback callback_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> polls_{0};
  std::thread thread_;
};

// "file:///a/b" -> "/a/b"; a plain path unchanged.
std::string LocalPathOf(const std::string& base_path);

}  // namespace loom::serving
