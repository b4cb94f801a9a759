#include "workflow/memoize.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <regex>

#include "container/config_store.h"
#include "core/file.h"
#include "core/time.h"
#include "workflow/spec.h"

namespace loom::workflow {
namespace {

constexpr const char* kTypeLabel = "workflows.argoproj.io/configmap-type";
constexpr const char* kTypeCache = "Cache";

// An exclusive flock held while it lives.
class CacheLock {
 public:
  static StatusOr<CacheLock> Take(const std::string& objects_dir) {
    LOOM_RETURN_IF_ERROR(MakeDirs(JoinPath(objects_dir, "configmaps")));
    const std::string path = JoinPath(JoinPath(objects_dir, "configmaps"), ".memoize.lock");
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return ErrnoStatus(path, "open", errno);
    while (flock(fd, LOCK_EX) != 0) {
      if (errno != EINTR) {
        const int err = errno;
        close(fd);
        return ErrnoStatus(path, "flock", err);
      }
    }
    return CacheLock(fd);
  }
  CacheLock(CacheLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  CacheLock(const CacheLock&) = delete;
  ~CacheLock() {
    if (fd_ >= 0) close(fd_);  // releases the flock
  }

 private:
  explicit CacheLock(int fd) : fd_(fd) {}
  int fd_;
};

Status CheckKey(const std::string& key) {
  static const std::regex kKey("^[a-zA-Z0-9][-a-zA-Z0-9]*$");
  if (!std::regex_match(key, kKey)) return InvalidArgument("invalid cache key: " + key);
  return OkStatus();
}

// Argo's validateConfigmap.
Status CheckCacheLabel(const container::ConfigObject& cm) {
  auto it = cm.labels.find(kTypeLabel);
  if (it == cm.labels.end()) {
    return FailedPrecondition(std::string("memoization configmap doesn't have ") + kTypeLabel +
                              " label, refusing to use it");
  }
  if (it->second != kTypeCache) {
    return FailedPrecondition(std::string("memoization configmap doesn't have label ") + kTypeLabel + " = " +
                              kTypeCache + ", refusing to use it");
  }
  return OkStatus();
}

Json EntryJson(const CacheEntry& e) {
  return {{"nodeID", e.node_id}, {"outputs", e.outputs}, {"creationTimestamp", e.creation_timestamp},
          {"lastHitTimestamp", e.last_hit_timestamp}};
}

}  // namespace

StatusOr<std::optional<Memoize>> MemoizeOf(const Template& tmpl) {
  if (!tmpl.pod.contains("memoize") || tmpl.pod["memoize"].is_null()) return std::optional<Memoize>();
  const Json& m = tmpl.pod["memoize"];
  const std::string field = "templates." + tmpl.name + ".memoize";
  if (!m.is_object()) return InvalidArgument(field + ": must be an object");
  Memoize out;
  auto text = [&](const Json& v, const std::string& f, std::string* into) -> Status {
    if (v.is_null()) return OkStatus();
    if (!v.is_string()) return InvalidArgument(field + "." + f + ": must be a string");
    *into = v.get<std::string>();
    return OkStatus();
  };
  LOOM_RETURN_IF_ERROR(text(m.value("key", Json()), "key", &out.key));
  LOOM_RETURN_IF_ERROR(text(m.value("maxAge", Json()), "maxAge", &out.max_age));
  const Json cache = m.value("cache", Json::object());
  const Json config_map = cache.is_object() ? cache.value("configMap", Json::object()) : Json();
  if (!config_map.is_object()) return InvalidArgument(field + ".cache.configMap: must be an object");
  LOOM_RETURN_IF_ERROR(text(config_map.value("name", Json()), "cache.configMap.name", &out.cache_name));
  return std::optional<Memoize>(std::move(out));
}

StatusOr<std::optional<CacheEntry>> MemoizationCache::Load(const Memoize& memo, double now) {
  LOOM_RETURN_IF_ERROR(CheckKey(memo.key));
  double max_age = -1;
  if (!memo.max_age.empty() && !DurationSeconds(Json(memo.max_age), &max_age)) {
    return InvalidArgument("invalid maxAge: time: invalid duration \"" + memo.max_age + "\"");
  }
  LOOM_ASSIGN_OR_RETURN(CacheLock lock, CacheLock::Take(dir_));
  container::ConfigStore store(dir_, ns_);
  auto cm = store.Get(container::ConfigKind::kConfigMap, memo.cache_name);
  if (!cm.ok()) {
    if (cm.status().code() == StatusCode::kNotFound) return std::optional<CacheEntry>();
    return cm.status();
  }
  LOOM_RETURN_IF_ERROR(CheckCacheLabel(*cm));
  auto raw = cm->data.find(memo.key);
  if (raw == cm->data.end() || raw->second.empty()) return std::optional<CacheEntry>();
  Json j = Json::parse(raw->second, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return DataLoss("malformed cache entry: could not unmarshal JSON; unable to parse: " + memo.key);
  }
  CacheEntry e;
  auto str = [&j](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : ""; };
  e.node_id = str("nodeID");
  e.outputs = j.value("outputs", Json());
  e.creation_timestamp = str("creationTimestamp");
  if (e.node_id.empty()) return std::optional<CacheEntry>();  // Argo's Hit(): an entry with a node
  if (max_age >= 0 && now - ParseRfc3339(e.creation_timestamp) > max_age) return std::optional<CacheEntry>();
  e.last_hit_timestamp = Rfc3339(now);
  cm->data[memo.key] = EntryJson(e).dump();
  LOOM_RETURN_IF_ERROR(store.Put(*cm, /*replace=*/true));
  return std::optional<CacheEntry>(std::move(e));
}

Status MemoizationCache::Save(const Memoize& memo, const std::string& node_id, const Json& outputs, double now) {
  LOOM_RETURN_IF_ERROR(CheckKey(memo.key));
  LOOM_ASSIGN_OR_RETURN(CacheLock lock, CacheLock::Take(dir_));
  container::ConfigStore store(dir_, ns_);
  container::ConfigObject cm;
  auto old = store.Get(container::ConfigKind::kConfigMap, memo.cache_name);
  if (old.ok()) {
    LOOM_RETURN_IF_ERROR(CheckCacheLabel(*old));
    cm = std::move(*old);
  } else if (old.status().code() == StatusCode::kNotFound) {
    cm.kind = container::ConfigKind::kConfigMap;
    cm.type.clear();
    cm.name = memo.cache_name;
    cm.namespace_name = ns_;
  } else {
    return old.status();
  }
  cm.labels = {{kTypeLabel, kTypeCache}};
  CacheEntry e{node_id, outputs, Rfc3339(now), Rfc3339(now)};
  cm.data[memo.key] = EntryJson(e).dump();
  Status s = store.Put(cm, /*replace=*/true);
  if (!s.ok()) return Internal("could not save to config map cache: " + s.message());
  return OkStatus();
}

}  // namespace loom::workflow
