// FileSystemSource: TF Serving's FileSystemStoragePathSource. For each configured model it
// lists <base_path>/<version>/ directories (numbered), applies the model's version policy and
// tells the target (the manager) the aspired versions, once at Start() and then every
// poll_wait_seconds. Bundles are renamed into place whole, so a listed version is complete
// on disk (a corrupt one is the loader's error to report).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "serving/clock.h"
#include "serving/version_policy.h"

namespace loom::serving {

struct AspiredVersion {
  int64_t version = 0;
  std::string path;  // <base_path>/<version>
};

struct ModelSourceConfig {
  std::string name;
  std::string base_path;  // a local directory, or file:// URL
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
};

class FileSystemSource {
 public:
  // Errors: a model without a name or base path, two models with one name, an s3:// path.
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
  FileSystemSource(FileSystemSourceOptions options, AspiredVersionsCallback callback)
      : options_(std::move(options)), callback_(std::move(callback)) {}
  void Loop();

  FileSystemSourceOptions options_;
  AspiredVersionsCallback callback_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> polls_{0};
  std::thread thread_;
};

// "file:///a/b" -> "/a/b"; a plain path unchanged.
std::string LocalPathOf(const std::string& base_path);

}  // namespace loom::serving
