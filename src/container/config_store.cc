#include "container/config_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <ctime>
#include <set>

#include "core/file.h"
#include "core/time.h"
#include "storage/hash.h"

namespace loom::container {
namespace {

Status MakePrivateDir(const std::string& dir) {
  LOOM_RETURN_IF_ERROR(MakeDirs(dir));
  if (chmod(dir.c_str(), 0700) != 0) return ErrnoStatus(dir, "chmod", errno);
  return OkStatus();
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

StatusOr<std::map<std::string, std::string>> ReadData(const Json& manifest, const char* key, bool base64,
                                                      const std::string& source) {
  std::map<std::string, std::string> out;
  if (!manifest.contains(key) || manifest[key].is_null()) return out;
  const std::string field = source + ": " + key;
  if (!manifest[key].is_object()) return InvalidArgument(field + ": expected a map of strings");
  for (const auto& [k, v] : manifest[key].items()) {
    LOOM_RETURN_IF_ERROR(ValidateConfigKey(k, JoinField(field, k)));
    if (!v.is_string()) return InvalidArgument(JoinField(field, k) + ": expected a string");
    if (base64) {
      LOOM_ASSIGN_OR_RETURN(out[k], storage::Base64Decode(v.get<std::string>(), JoinField(field, k)));
    } else {
      out[k] = v.get<std::string>();
    }
  }
  return out;
}

// metadata.labels / metadata.annotations: a map of strings.
StatusOr<std::map<std::string, std::string>> ReadStringMap(const Json& metadata, const char* key,
                                                           const std::string& source) {
  std::map<std::string, std::string> out;
  if (!metadata.contains(key) || metadata[key].is_null()) return out;
  const std::string field = source + ": metadata." + key;
  if (!metadata[key].is_object()) return InvalidArgument(field + ": expected a map of strings");
  for (const auto& [k, v] : metadata[key].items()) {
    if (k.empty()) return InvalidArgument(field + ": a key must not be empty");
    if (!v.is_string()) return InvalidArgument(JoinField(field, k) + ": expected a string");
    out[k] = v.get<std::string>();
  }
  return out;
}

Json StringMapJson(const std::map<std::string, std::string>& m) {
  Json out = Json::object();
  for (const auto& [k, v] : m) out[k] = v;
  return out;
}

}  // namespace

const char* KindName(ConfigKind kind) { return kind == ConfigKind::kSecret ? "Secret" : "ConfigMap"; }
const char* ResourceName(ConfigKind kind) { return kind == ConfigKind::kSecret ? "secrets" : "configmaps"; }

Status ValidateObjectName(const std::string& name, const std::string& field) {
  const std::string why =
      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
      "start and end with an alphanumeric character";
  if (name.empty()) return InvalidArgument(field + ": Required value: name is required");
  if (name.size() > 253) return InvalidArgument(field + ": Invalid value: \"" + name + "\": must be no more than 253 characters");
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    const bool edge = i == 0 || i + 1 == name.size();
    if (!alnum && (edge || (c != '-' && c != '.'))) return InvalidArgument(field + ": Invalid value: \"" + name + "\": " + why);
  }
  return OkStatus();
}

Status ValidateNamespace(const std::string& ns, const std::string& field) {
  bool ok = !ns.empty() && ns.size() <= 63;
  for (size_t i = 0; ok && i < ns.size(); ++i) {
    const char c = ns[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || i + 1 == ns.size() || c != '-')) ok = false;
  }
  if (!ok) {
    return InvalidArgument(field + ": Invalid value: \"" + ns +
                           "\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                           "and must start and end with an alphanumeric character");
  }
  return OkStatus();
}

Status ValidateConfigKey(const std::string& key, const std::string& field) {
  bool ok = !key.empty() && key.size() <= 253 && key != "." && key != "..";
  for (char c : key) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_')) ok = false;
  }
  if (!ok) {
    return InvalidArgument(field + ": Invalid value: \"" + key +
                           "\": a valid config key must consist of alphanumeric characters, '-', '_' or '.'");
  }
  return OkStatus();
}

StatusOr<ConfigObject> ConfigObjectFromManifest(const Json& manifest, const std::string& source) {
  if (!manifest.is_object()) return InvalidArgument(source + ": expected a Kubernetes object");
  ConfigObject o;
  const std::string kind = manifest.value("kind", "");
  if (kind == "Secret") {
    o.kind = ConfigKind::kSecret;
  } else if (kind == "ConfigMap") {
    o.kind = ConfigKind::kConfigMap;
    o.type.clear();
  } else {
    return InvalidArgument(source + ": kind: expected Secret or ConfigMap, not \"" + kind + "\"");
  }
  if (manifest.value("apiVersion", "") != "v1") return InvalidArgument(source + ": apiVersion: expected v1");
  const bool secret = o.kind == ConfigKind::kSecret;
  static const std::set<std::string> kSecretFields = {"apiVersion", "kind", "metadata", "type", "data", "stringData"};
  static const std::set<std::string> kConfigMapFields = {"apiVersion", "kind", "metadata", "data", "binaryData"};
  for (const auto& [k, v] : manifest.items()) {
    if (!(secret ? kSecretFields : kConfigMapFields).count(k)) {
      return InvalidArgument(source + ": " + k + ": not supported on one machine (a " + kind + " has " +
                             (secret ? "metadata, type, data, stringData" : "metadata, data, binaryData") + ")");
    }
  }
  const Json metadata = manifest.value("metadata", Json::object());
  for (const auto& [k, v] : metadata.items()) {
    if (k != "name" && k != "namespace" && k != "labels" && k != "annotations" && k != "creationTimestamp") {
      return InvalidArgument(source + ": metadata." + k + ": not supported on one machine");
    }
  }
  for (const char* f : {"name", "namespace", "creationTimestamp"}) {
    if (metadata.contains(f) && !metadata[f].is_string()) return InvalidArgument(source + ": metadata." + f + ": expected a string");
  }
  o.name = metadata.value("name", "");
  LOOM_RETURN_IF_ERROR(ValidateObjectName(o.name, source + ": metadata.name"));
  o.namespace_name = metadata.value("namespace", "default");
  LOOM_RETURN_IF_ERROR(ValidateNamespace(o.namespace_name, source + ": metadata.namespace"));
  LOOM_ASSIGN_OR_RETURN(o.labels, ReadStringMap(metadata, "labels", source));
  LOOM_ASSIGN_OR_RETURN(o.annotations, ReadStringMap(metadata, "annotations", source));
  o.creation_timestamp = metadata.value("creationTimestamp", "");
  if (secret) {
    o.type = manifest.value("type", "Opaque");
    LOOM_ASSIGN_OR_RETURN(o.data, ReadData(manifest, "data", true, source));
    LOOM_ASSIGN_OR_RETURN(auto plain, ReadData(manifest, "stringData", false, source));
    for (auto& [k, v] : plain) o.data[k] = std::move(v);  // stringData wins, as in Kubernetes
  } else {
    LOOM_ASSIGN_OR_RETURN(o.data, ReadData(manifest, "data", false, source));
    LOOM_ASSIGN_OR_RETURN(auto binary, ReadData(manifest, "binaryData", true, source));
    for (auto& [k, v] : binary) {
      if (o.data.count(k)) return InvalidArgument(source + ": binaryData." + k + ": duplicate of data." + k);
      o.data[k] = std::move(v);
    }
  }
  return o;
}

Json ConfigObjectToManifest(const ConfigObject& o) {
  Json meta = {{"name", o.name}, {"namespace", o.namespace_name}, {"creationTimestamp", o.creation_timestamp}};
  if (!o.labels.empty()) meta["labels"] = StringMapJson(o.labels);
  if (!o.annotations.empty()) meta["annotations"] = StringMapJson(o.annotations);
  Json m = {{"apiVersion", "v1"}, {"kind", KindName(o.kind)}, {"metadata", std::move(meta)}};
  Json data = Json::object();
  for (const auto& [k, v] : o.data) data[k] = o.kind == ConfigKind::kSecret ? storage::Base64Encode(v) : v;
  m["data"] = std::move(data);
  if (o.kind == ConfigKind::kSecret) m["type"] = o.type;
  return m;
}

std::string ConfigStore::KindDir(ConfigKind kind) const {
  const std::string dir = JoinPath(dir_, ResourceName(kind));
  return ns_ == "default" ? dir : JoinPath(dir, ns_);
}

std::string ConfigStore::Path(ConfigKind kind, const std::string& name) const {
  return JoinPath(KindDir(kind), name + ".json");
}

Status ConfigStore::Put(const ConfigObject& object, bool replace) {
  LOOM_RETURN_IF_ERROR(ValidateObjectName(object.name, "metadata.name"));
  LOOM_RETURN_IF_ERROR(ValidateNamespace(ns_, "metadata.namespace"));
  if (object.namespace_name != ns_) {
    return InvalidArgument("metadata.namespace: the object is in \"" + object.namespace_name + "\", the store in \"" + ns_ + "\"");
  }
  for (const auto& [k, v] : object.data) LOOM_RETURN_IF_ERROR(ValidateConfigKey(k, "data." + k));
  LOOM_RETURN_IF_ERROR(MakePrivateDir(dir_));
  LOOM_RETURN_IF_ERROR(MakePrivateDir(JoinPath(dir_, ResourceName(object.kind))));
  LOOM_RETURN_IF_ERROR(MakePrivateDir(KindDir(object.kind)));
  const std::string path = Path(object.kind, object.name);
  if (!replace && PathExists(path)) {
    return AlreadyExists(std::string(ResourceName(object.kind)) + " \"" + object.name + "\" already exists");
  }
  ConfigObject o = object;
  if (o.creation_timestamp.empty()) o.creation_timestamp = Rfc3339(static_cast<double>(std::time(nullptr)));
  // Written whole into a 0700 directory nobody else can enter, then made 0600 itself.
  LOOM_RETURN_IF_ERROR(WriteFileAtomic(path, ConfigObjectToManifest(o).dump(2) + "\n"));
  if (chmod(path.c_str(), 0600) != 0) return ErrnoStatus(path, "chmod", errno);
  return OkStatus();
}

StatusOr<ConfigObject> ConfigStore::Get(ConfigKind kind, const std::string& name) const {
  const std::string path = Path(kind, name);
  if (!ValidateObjectName(name, "name").ok() || !ValidateNamespace(ns_, "namespace").ok() || !PathExists(path)) {
    return NotFound(Lower(KindName(kind)) + " \"" + name + "\" not found");
  }
  LOOM_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  LOOM_ASSIGN_OR_RETURN(Json manifest, ParseJson(text, path));
  return ConfigObjectFromManifest(manifest, path);
}

StatusOr<std::vector<ConfigObject>> ConfigStore::List(ConfigKind kind) const {
  std::vector<ConfigObject> out;
  const std::string dir = KindDir(kind);
  if (!ValidateNamespace(ns_, "namespace").ok() || !IsDirectory(dir)) return out;
  LOOM_ASSIGN_OR_RETURN(auto names, ListDir(dir));
  for (const std::string& n : names) {
    if (n.size() <= 5 || n.compare(n.size() - 5, 5, ".json") != 0) continue;  // a write under way
    LOOM_ASSIGN_OR_RETURN(ConfigObject o, Get(kind, n.substr(0, n.size() - 5)));
    out.push_back(std::move(o));
  }
  return out;
}

Status ConfigStore::Delete(ConfigKind kind, const std::string& name) {
  const std::string path = Path(kind, name);
  const Status not_found = NotFound(std::string(ResourceName(kind)) + " \"" + name + "\" not found");
  if (!ValidateObjectName(name, "name").ok() || !ValidateNamespace(ns_, "namespace").ok()) return not_found;
  if (unlink(path.c_str()) != 0) return errno == ENOENT ? not_found : ErrnoStatus(path, "unlink", errno);
  return OkStatus();
}

}  // namespace loom::container
