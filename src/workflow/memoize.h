// A template's `memoize` (Argo's workflow/controller/cache): outputs of a node that Succeeded,
// kept under a key in a cache that is a ConfigMap of the workflow's namespace, so that a later
// node of the same key (in this workflow or any other, run by any engine on the machine) takes
// them instead of running.
//
// As Argo keeps it: one ConfigMap per cache (`memoize.cache.configMap.name`), labelled
// `workflows.argoproj.io/configmap-type: Cache` (a ConfigMap of that name without the label is
// refused, not overwritten), one data entry per key holding the JSON of Argo's cache Entry
// ({"nodeID", "outputs", "creationTimestamp", "lastHitTimestamp"}). `loom configmap get NAME`
// shows it; deleting the ConfigMap (or a key of it) empties the cache.
//
// Thread- and process-safety: Load and Save read, change and write the ConfigMap under an
// exclusive flock of <objects>/configmaps/.memoize.lock, so engines in several processes keep
// every entry.
#pragma once

#include <optional>
#include <string>

#include "core/json.h"
#include "core/status.h"
#include "workflow/model.h"

namespace loom::workflow {

// A template's memoize field: {key, maxAge, cache: {configMap: {name}}}, after {{...}}.
struct Memoize {
  std::string key;
  std::string max_age;     // a Go duration; "": entries never expire
  std::string cache_name;  // cache.configMap.name
};
// Reads `tmpl.pod["memoize"]` (nullopt when the template has none). Errors name the field.
StatusOr<std::optional<Memoize>> MemoizeOf(const Template& tmpl);

struct CacheEntry {
  std::string node_id;
  Json outputs;  // Argo's Outputs, as JSON (null: none)
  std::string creation_timestamp, last_hit_timestamp;
};

class MemoizationCache {
 public:
  // `objects_dir`: container::ConfigStore's (LoomHome()/objects); `ns`: the workflow's namespace.
  MemoizationCache(std::string objects_dir, std::string ns) : dir_(std::move(objects_dir)), ns_(std::move(ns)) {}

  // The entry for `key` when there is one younger than `memo.max_age`, its lastHitTimestamp
  // brought to now (as Argo's Load); nullopt on a miss. Errors are Argo's: "invalid cache key:
  // K", "memoization configmap doesn't have workflows.argoproj.io/configmap-type label, refusing
  // to use it", "invalid maxAge: ...", "malformed cache entry: ...".
  StatusOr<std::optional<CacheEntry>> Load(const Memoize& memo, double now);
  // Stores `outputs` of node `node_id` under memo.key, creating the ConfigMap when there is none.
  Status Save(const Memoize& memo, const std::string& node_id, const Json& outputs, double now);

 private:
  std::string dir_;
  std::string ns_;
};

}  // namespace loom::workflow
