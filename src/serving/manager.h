// ServableManager: TF Serving's AspiredVersionsManager with the availability-preserving
// policy. A source tells it each model's aspired versions; it loads new versions (through the
// ServableLoader plug-in), serves them, and unloads versions no longer aspired once an
// aspired version is AVAILABLE, so a model never drops to zero versions while a replacement
// loads or fails. A version whose load fails is END with the error and is never served.
//
// Requests hold a ServableHandle (a shared_ptr): an unloaded version stays alive (UNLOADING)
// until its last in-flight request lets go, then it is END.
//
// Thread-safe. Get() is the hot path: one shared lock and a shared_ptr copy.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "core/status.h"
#include "serving/servable.h"
#include "serving/source.h"

namespace loom::serving {

// TF Serving's ServableState::ManagerState names.
enum class VersionState { kStart, kLoading, kAvailable, kUnloading, kEnd };
const char* VersionStateName(VersionState state);

struct VersionStatus {
  int64_t version = 0;
  VersionState state = VersionState::kStart;
  Status status;  // the load error of an END version that failed; OK otherwise
};

// Which version a request wants: a number, a label, or (neither) the latest available.
struct ServableRequest {
  std::string model;
  std::optional<int64_t> version;
  std::string label;
};

struct ServableHandle {
  std::string model;
  int64_t version = 0;
  std::shared_ptr<Servable> servable;
};

class ServableManager {
 public:
  // REQUIRES: loader outlives the manager.
  explicit ServableManager(ServableLoader* loader) : loader_(loader) {}

  // The source's callback: loads what is new (in the caller's thread), then unloads what is
  // no longer aspired if an aspired version is available (or nothing is aspired at all).
  void SetAspiredVersions(const std::string& model, std::vector<AspiredVersion> versions);

  // TF Serving's version_labels: label -> version. A label may name a version not loaded yet.
  void SetLabels(const std::string& model, std::map<std::string, int64_t> labels);

  // The servable for a request. NOT_FOUND for an unknown model or a version that is not
  // AVAILABLE; INVALID_ARGUMENT for an unknown label (TF Serving's codes and messages).
  StatusOr<ServableHandle> Get(const ServableRequest& request) const;

  // Every version the manager has seen for `model`, ascending. NOT_FOUND if none.
  StatusOr<std::vector<VersionStatus>> GetStatus(const std::string& model) const;

  std::vector<std::string> ModelNames() const;

 private:
  struct VersionEntry {
    std::string path;
    VersionState state = VersionState::kStart;
    Status status;
    std::shared_ptr<Servable> servable;  // set while AVAILABLE
    std::weak_ptr<Servable> unloading;   // set while UNLOADING
  };
  struct ModelEntry {
    std::map<int64_t, VersionEntry> versions;
    std::map<std::string, int64_t> labels;
  };
  // UNLOADING versions whose last handle went away become END. REQUIRES: mu_ held.
  static VersionState CurrentState(const VersionEntry& entry);

  ServableLoader* loader_;
  std::mutex load_mu_;  // one SetAspiredVersions at a time
  mutable std::shared_mutex mu_;
  std::map<std::string, ModelEntry> models_;
};

}  // namespace loom::serving
