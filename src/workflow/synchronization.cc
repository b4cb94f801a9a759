#include "workflow/synchronization.h"

#include <cerrno>
#include <cstdlib>
#include <map>
#include <set>

#include "container/config_store.h"

namespace loom::workflow {
namespace {

std::string Str(const Json& obj, const char* key) {
  return obj.is_object() && obj.contains(key) && obj[key].is_string() ? obj[key].get<std::string>() : "";
}

// Every lock of the field: the singular and plural forms of both kinds.
std::vector<std::pair<bool, Json>> Items(const Json& sync) {
  std::vector<std::pair<bool, Json>> out;  // (is a mutex, its object)
  if (!sync.is_object()) return out;
  if (sync.contains("mutex")) out.push_back({true, sync["mutex"]});
  for (const Json& m : sync.value("mutexes", Json::array())) out.push_back({true, m});
  if (sync.contains("semaphore")) out.push_back({false, sync["semaphore"]});
  for (const Json& s : sync.value("semaphores", Json::array())) out.push_back({false, s});
  return out;
}

}  // namespace

StatusOr<std::vector<LockRequest>> SyncLocks(const Json& sync, const std::string& wf_namespace,
                                             const std::string& objects_dir) {
  std::vector<LockRequest> out;
  std::set<std::string> seen;
  for (const auto& [mutex, item] : Items(sync)) {
    const std::string ns = Str(item, "namespace").empty() ? wf_namespace : Str(item, "namespace");
    LockRequest r;
    if (mutex) {
      r.lock = ns + "/Mutex/" + Str(item, "name");
      r.limit = 1;
    } else {
      const Json ref = item.value("configMapKeyRef", Json::object());
      const std::string name = Str(ref, "name"), key = Str(ref, "key");
      r.lock = ns + "/ConfigMap/" + name + "/" + key;
      auto cm = container::ConfigStore(objects_dir, ns).Get(container::ConfigKind::kConfigMap, name);
      if (!cm.ok()) return cm.status();
      auto value = cm->data.find(key);
      if (value == cm->data.end()) {
        return InvalidArgument("Sync configuration key '" + key + "' not found in ConfigMap");
      }
      char* end = nullptr;
      errno = 0;
      const long limit = std::strtol(value->second.c_str(), &end, 10);
      if (value->second.empty() || *end != '\0' || errno != 0 || limit < 0 || limit > 1000000) {
        return InvalidArgument("strconv.Atoi: parsing \"" + value->second + "\": invalid syntax (ConfigMap " + name +
                               ", key " + key + ": a semaphore's limit)");
      }
      r.limit = static_cast<int>(limit);
    }
    if (!seen.insert(r.lock).second) return InvalidArgument("requested configuration is invalid: duplicate synchronization item found");
    out.push_back(std::move(r));
  }
  return out;
}

std::string WaitingMessage(const std::vector<LockState>& states) {
  for (const LockState& st : states) {
    if (st.acquired) continue;
    const int free = st.limit - static_cast<int>(st.holders.size());
    return "Waiting for " + st.lock + " lock. Lock status: " + std::to_string(free < 0 ? 0 : free) + "/" +
           std::to_string(st.limit);
  }
  return "";
}

Json SynchronizationStatus(const std::vector<LockHolding>& locks, const std::string& prefix) {
  // Argo's holder names in the status: the workflow's name, or the node's id.
  auto shown = [&prefix](const std::string& holder) {
    if (holder == prefix) return prefix.substr(prefix.find('/') + 1);
    return holder.substr(prefix.size() + 1);
  };
  std::map<std::string, std::vector<std::string>> sem[2];  // [held] lock -> holders
  Json mutex[2] = {Json::array(), Json::array()};
  for (const LockHolding& l : locks) {
    if (l.holder != prefix && l.holder.compare(0, prefix.size() + 1, prefix + "/") != 0) continue;
    const bool is_mutex = l.lock.find("/Mutex/") != std::string::npos;
    if (is_mutex) {
      mutex[l.held].push_back({{"mutex", l.lock}, {"holder", shown(l.holder)}});
    } else {
      sem[l.held][l.lock].push_back(shown(l.holder));
    }
  }
  Json out = Json::object();
  const char* kWhich[2] = {"waiting", "holding"};
  for (int held : {1, 0}) {
    if (!mutex[held].empty()) out["mutex"][kWhich[held]] = mutex[held];
    for (const auto& [lock, holders] : sem[held]) {
      out["semaphore"][kWhich[held]].push_back({{"semaphore", lock}, {"holders", holders}});
    }
  }
  return out.empty() ? Json() : out;
}

}  // namespace loom::workflow
