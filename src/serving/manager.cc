#include "serving/manager.h"

#include <algorithm>
#include <set>

#include "core/logging.h"

namespace loom::serving {

const char* VersionStateName(VersionState state) {
  switch (state) {
    case VersionState::kStart: return "START";
    case VersionState::kLoading: return "LOADING";
    case VersionState::kAvailable: return "AVAILABLE";
    case VersionState::kUnloading: return "UNLOADING";
    case VersionState::kEnd: return "END";
  }
  return "UNKNOWN";
}

VersionState ServableManager::CurrentState(const VersionEntry& entry) {
  if (entry.state == VersionState::kUnloading && entry.unloading.expired()) return VersionState::kEnd;
  return entry.state;
}

void ServableManager::SetAspiredVersions(const std::string& model,
                                         std::vector<AspiredVersion> versions) {
  std::lock_guard<std::mutex> load_lock(load_mu_);
  std::sort(versions.begin(), versions.end(),
            [](const AspiredVersion& a, const AspiredVersion& b) { return a.version < b.version; });
  // Which aspired versions need a load: new ones, and ones unloaded earlier (END without error).
  std::vector<AspiredVersion> to_load;
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    ModelEntry& m = models_[model];
    for (const AspiredVersion& v : versions) {
      auto it = m.versions.find(v.version);
      bool load = it == m.versions.end() ||
                  (CurrentState(it->second) == VersionState::kEnd && it->second.status.ok());
      if (!load) continue;
      VersionEntry& e = m.versions[v.version];
      e = VersionEntry{};
      e.path = v.path;
      e.state = VersionState::kLoading;
      to_load.push_back(v);
    }
  }
  for (const AspiredVersion& v : to_load) {
    auto loaded = loader_->Load(v.path, v.version);
    std::unique_lock<std::shared_mutex> lock(mu_);
    VersionEntry& e = models_[model].versions[v.version];
    if (loaded.ok()) {
      e.state = VersionState::kAvailable;
      e.servable = std::move(*loaded);
      LOOM_LOG(INFO) << "Successfully loaded servable version {name: " << model
                     << " version: " << v.version << "}";
    } else {
      e.state = VersionState::kEnd;
      e.status = loaded.status();
      LOOM_LOG(ERROR) << "Loading servable {name: " << model << " version: " << v.version
                      << "} failed: " << e.status.message();
    }
  }
  std::set<int64_t> aspired;
  for (const AspiredVersion& v : versions) aspired.insert(v.version);
  std::unique_lock<std::shared_mutex> lock(mu_);
  ModelEntry& m = models_[model];
  bool aspired_available = false;
  for (int64_t v : aspired) {
    auto it = m.versions.find(v);
    if (it != m.versions.end() && it->second.state == VersionState::kAvailable) aspired_available = true;
  }
  if (!aspired_available && !aspired.empty()) return;  // keep serving what we have
  for (auto& [v, e] : m.versions) {
    if (e.state != VersionState::kAvailable || aspired.count(v)) continue;
    e.unloading = e.servable;
    e.servable.reset();
    e.state = VersionState::kUnloading;
    LOOM_LOG(INFO) << "Unloading servable version {name: " << model << " version: " << v
                   << "} (freed when its in-flight requests finish)";
  }
}

void ServableManager::SetLabels(const std::string& model, std::map<std::string, int64_t> labels) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  models_[model].labels = std::move(labels);
}

StatusOr<ServableHandle> ServableManager::Get(const ServableRequest& request) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto m = models_.find(request.model);
  int64_t version = -1;
  if (!request.label.empty()) {
    if (m == models_.end())
      return NotFound("Servable not found for request: Latest(" + request.model + ")");
    auto l = m->second.labels.find(request.label);
    if (l == m->second.labels.end())
      return InvalidArgument("Unrecognized servable version label: " + request.label);
    version = l->second;
  } else if (request.version) {
    version = *request.version;
  }
  if (version >= 0) {
    if (m != models_.end()) {
      auto it = m->second.versions.find(version);
      if (it != m->second.versions.end() && it->second.state == VersionState::kAvailable)
        return ServableHandle{request.model, version, it->second.servable};
    }
    return NotFound("Servable not found for request: Specific(" + request.model + ", " +
                    std::to_string(version) + ")");
  }
  if (m != models_.end()) {
    for (auto it = m->second.versions.rbegin(); it != m->second.versions.rend(); ++it) {
      if (it->second.state == VersionState::kAvailable)
        return ServableHandle{request.model, it->first, it->second.servable};
    }
  }
  return NotFound("Servable not found for request: Latest(" + request.model + ")");
}

StatusOr<std::vector<VersionStatus>> ServableManager::GetStatus(const std::string& model) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto m = models_.find(model);
  if (m == models_.end() || m->second.versions.empty())
    return NotFound("Could not find any versions of model " + model);
  std::vector<VersionStatus> out;
  for (const auto& [v, e] : m->second.versions) out.push_back({v, CurrentState(e), e.status});
  return out;
}

std::vector<std::string> ServableManager::ModelNames() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<std::string> names;
  for (const auto& [name, m] : models_) names.push_back(name);
  return names;
}

}  // namespace loom::serving
