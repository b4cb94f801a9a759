// ConfigStore: Kubernetes Secrets and ConfigMaps kept on this machine, what pods read through
// env valueFrom (secretKeyRef, configMapKeyRef) and envFrom.
//
// One file per object, <dir>/<kind>s/<name>.json for the namespace "default" and
// <dir>/<kind>s/<namespace>/<name>.json for any other (dir is LoomHome()/objects), holding the
// object as Kubernetes serves it (apiVersion v1, metadata with its namespace, labels and
// annotations, type, data; a Secret's data base64 as in Kubernetes). Directories are 0700 and
// files 0600, written atomically. A ConfigStore object sees one namespace, as a pod does.
// Nothing here prints or logs a value. Names are DNS subdomains (RFC 1123) and keys Kubernetes'
// config keys, and namespaces RFC 1123 labels, so a name can never leave the directory.
//
// Thread-safety: every call is one atomic file operation; many processes may share a store.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace loom::container {

enum class ConfigKind { kSecret, kConfigMap };

struct ConfigObject {
  ConfigKind kind = ConfigKind::kSecret;
  std::string name;
  std::string namespace_name = "default";      // metadata.namespace
  std::map<std::string, std::string> labels;       // metadata.labels
  std::map<std::string, std::string> annotations;  // metadata.annotations
  std::string type = "Opaque";                 // a Secret's type; empty for a ConfigMap
  std::map<std::string, std::string> data;     // key -> value (decoded)
  std::string creation_timestamp;              // RFC 3339; set by Put when empty
};

// "Secret" / "ConfigMap"; "secrets" / "configmaps" as kubectl names the resource.
const char* KindName(ConfigKind kind);
const char* ResourceName(ConfigKind kind);

// A `kind: Secret` (data: base64 values, stringData: plain, over data) or `kind: ConfigMap`
// (data, binaryData base64) manifest. Errors name `source` and the field; any other field is
// refused rather than dropped.
StatusOr<ConfigObject> ConfigObjectFromManifest(const Json& manifest, const std::string& source);
// The object as Kubernetes serves it (a Secret's data base64).
Json ConfigObjectToManifest(const ConfigObject& object);

// RFC 1123 subdomain (what Kubernetes requires of both kinds' names), and a config key
// ([-._a-zA-Z0-9]+, not "." or ".."). Errors are Kubernetes' wording after `field`.
Status ValidateObjectName(const std::string& name, const std::string& field);
Status ValidateConfigKey(const std::string& key, const std::string& field);
// RFC 1123 label (a namespace's name).
Status ValidateNamespace(const std::string& ns, const std::string& field);

class ConfigStore {
 public:
  // `dir`: where the objects go (LoomHome()/objects); created on the first Put. `ns`: the
  // namespace this store reads and writes (an invalid one reads as empty and refuses writes).
  explicit ConfigStore(std::string dir, std::string ns = "default") : dir_(std::move(dir)), ns_(std::move(ns)) {}

  const std::string& namespace_name() const { return ns_; }

  // AlreadyExists (`secrets "x" already exists`, kubectl's words) unless `replace`. The object
  // goes into this store's namespace; one that names another is refused.
  Status Put(const ConfigObject& object, bool replace);
  // NotFound: `secret "x" not found`.
  StatusOr<ConfigObject> Get(ConfigKind kind, const std::string& name) const;
  StatusOr<std::vector<ConfigObject>> List(ConfigKind kind) const;
  Status Delete(ConfigKind kind, const std::string& name);

 private:
  std::string KindDir(ConfigKind kind) const;
  std::string Path(ConfigKind kind, const std::string& name) const;
  std::string dir_;
  std::string ns_;
};

}  // namespace loom::container
