#include "container/pod_spec.h"

#include <pwd.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <set>

namespace loom::container {
namespace {

Status CheckKeys(const Json& object, const std::set<std::string>& known, const std::string& field) {
  if (!object.is_object()) return InvalidArgument(field + ": expected a map");
  for (const auto& [k, v] : object.items()) {
    if (!known.count(k)) return InvalidArgument(JoinField(field, k) + ": not supported on one machine");
  }
  return OkStatus();
}

std::string Scalar(const Json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// The object a secretKeyRef / configMapKeyRef / secretRef / configMapRef names; nullopt for
// a missing optional one.
StatusOr<std::optional<ConfigObject>> Lookup(const ConfigStore* store, ConfigKind kind, const Json& ref,
                                             const std::string& field) {
  const std::string name = ref.value("name", "");
  if (name.empty()) return InvalidArgument(field + ".name: Required value");
  if (store == nullptr) return FailedPrecondition(field + ": no Secret or ConfigMap store here");
  auto got = store->Get(kind, name);
  if (got.ok()) return std::optional<ConfigObject>(std::move(*got));
  if (got.status().code() == StatusCode::kNotFound && ref.value("optional", false)) return std::optional<ConfigObject>();
  return Status(got.status().code(), field + ": " + got.status().message());
}

StatusOr<std::optional<std::string>> KeyRef(const ConfigStore* store, ConfigKind kind, const Json& ref,
                                            const std::string& field) {
  LOOM_RETURN_IF_ERROR(CheckKeys(ref, {"name", "key", "optional"}, field));
  LOOM_ASSIGN_OR_RETURN(auto object, Lookup(store, kind, ref, field));
  if (!object) return std::optional<std::string>();
  const std::string key = ref.value("key", "");
  auto it = object->data.find(key);
  if (it != object->data.end()) return std::optional<std::string>(it->second);
  if (ref.value("optional", false)) return std::optional<std::string>();
  return NotFound(field + ": couldn't find key " + key + " in " + KindName(kind) + " " + object->name);
}

void Set(std::vector<EnvVar>& env, std::string name, std::string value) {
  for (EnvVar& e : env) {
    if (e.name == name) {
      e.value = std::move(value);
      return;
    }
  }
  env.push_back({std::move(name), std::move(value)});
}

// "<number><suffix>" as Kubernetes' resource.Quantity: binary (Ki..Ei), decimal (k..E), milli
// (m) and exponent (e3) suffixes. Returns the value in base units.
StatusOr<double> ParseQuantity(const Json& value, const std::string& field) {
  const std::string text = Scalar(value);
  auto bad = [&] { return InvalidArgument(field + ": quantities must match the regular expression "
                                          "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' (got \"" + text + "\")"); };
  if (!value.is_string() && !value.is_number()) return bad();
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.' || text[i] == '+')) ++i;
  if (i == 0) return bad();
  char* end = nullptr;
  const std::string number = text.substr(0, i);
  const double n = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || !std::isfinite(n)) return bad();
  const std::string suffix = text.substr(i);
  static const std::map<std::string, double> kSuffixes = {
      {"", 1},     {"m", 1e-3}, {"k", 1e3},  {"M", 1e6},  {"G", 1e9},  {"T", 1e12}, {"P", 1e15}, {"E", 1e18},
      {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
      {"Pi", 1125899906842624.0}, {"Ei", 1152921504606846976.0}};
  if (auto it = kSuffixes.find(suffix); it != kSuffixes.end()) return n * it->second;
  if (suffix.size() >= 2 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    char* e_end = nullptr;
    const long exponent = std::strtol(suffix.c_str() + 1, &e_end, 10);
    if (*e_end == '\0' && exponent >= -3 && exponent <= 18) return n * std::pow(10.0, static_cast<double>(exponent));
  }
  return bad();
}

}  // namespace

StatusOr<std::vector<EnvVar>> ResolveEnv(const Json& container, const ConfigStore* store, const FieldRefs& fields,
                                         const std::string& field) {
  std::vector<EnvVar> env;
  if (container.contains("envFrom")) {
    const Json& list = container["envFrom"];
    if (!list.is_array()) return InvalidArgument(field + ".envFrom: expected a list");
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string f = JoinField(field + ".envFrom", i);
      LOOM_RETURN_IF_ERROR(CheckKeys(list[i], {"prefix", "secretRef", "configMapRef"}, f));
      const bool secret = list[i].contains("secretRef");
      if (secret == list[i].contains("configMapRef")) {
        return InvalidArgument(f + ": exactly one of secretRef and configMapRef");
      }
      const char* key = secret ? "secretRef" : "configMapRef";
      LOOM_RETURN_IF_ERROR(CheckKeys(list[i][key], {"name", "optional"}, f + "." + key));
      LOOM_ASSIGN_OR_RETURN(auto object, Lookup(store, secret ? ConfigKind::kSecret : ConfigKind::kConfigMap,
                                                list[i][key], f + "." + key));
      if (!object) continue;
      const std::string prefix = list[i].value("prefix", "");
      for (const auto& [k, v] : object->data) Set(env, prefix + k, v);
    }
  }
  if (container.contains("env")) {
    const Json& list = container["env"];
    if (!list.is_array()) return InvalidArgument(field + ".env: expected a list");
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string f = JoinField(field + ".env", i);
      LOOM_RETURN_IF_ERROR(CheckKeys(list[i], {"name", "value", "valueFrom"}, f));
      const std::string name = list[i].value("name", "");
      if (name.empty()) return InvalidArgument(f + ".name: Required value");
      if (!list[i].contains("valueFrom")) {
        Set(env, name, list[i].contains("value") ? Scalar(list[i]["value"]) : "");
        continue;
      }
      const Json& from = list[i]["valueFrom"];
      const std::string ff = f + ".valueFrom";
      LOOM_RETURN_IF_ERROR(CheckKeys(from, {"secretKeyRef", "configMapKeyRef", "fieldRef"}, ff));
      if (from.size() != 1) return InvalidArgument(ff + ": exactly one of secretKeyRef, configMapKeyRef, fieldRef");
      std::optional<std::string> value;
      if (from.contains("fieldRef")) {
        LOOM_RETURN_IF_ERROR(CheckKeys(from["fieldRef"], {"fieldPath", "apiVersion"}, ff + ".fieldRef"));
        const std::string path = from["fieldRef"].value("fieldPath", "");
        auto it = fields.find(path);
        if (it == fields.end()) {
          return InvalidArgument(ff + ".fieldRef.fieldPath: \"" + path + "\": not supported on one machine");
        }
        value = it->second;
      } else {
        const bool secret = from.contains("secretKeyRef");
        const char* key = secret ? "secretKeyRef" : "configMapKeyRef";
        LOOM_ASSIGN_OR_RETURN(value, KeyRef(store, secret ? ConfigKind::kSecret : ConfigKind::kConfigMap, from[key],
                                            ff + "." + key));
      }
      if (value) Set(env, name, std::move(*value));
    }
  }
  return env;
}

StatusOr<SecurityContext> ParseSecurityContext(const Json& pod, const Json& container, const std::string& pod_field,
                                               const std::string& container_field) {
  SecurityContext sc;
  auto integer = [](const Json& v, const std::string& f) -> StatusOr<int64_t> {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 2147483647) {
      return InvalidArgument(f + ": expected an integer from 0 to 2147483647");
    }
    return v.get<int64_t>();
  };
  auto boolean = [](const Json& v, const std::string& f) -> StatusOr<bool> {
    if (!v.is_boolean()) return InvalidArgument(f + ": expected true or false");
    return v.get<bool>();
  };
  // The fields both levels have, the container's over the pod's.
  auto common = [&](const Json& c, const std::string& f) -> Status {
    if (c.contains("runAsUser")) {
      LOOM_ASSIGN_OR_RETURN(sc.run_as_user, integer(c["runAsUser"], f + ".runAsUser"));
      sc.set_fields.push_back(f + ".runAsUser");
    }
    if (c.contains("runAsGroup")) {
      LOOM_ASSIGN_OR_RETURN(sc.run_as_group, integer(c["runAsGroup"], f + ".runAsGroup"));
      sc.set_fields.push_back(f + ".runAsGroup");
    }
    if (c.contains("runAsNonRoot")) {
      LOOM_ASSIGN_OR_RETURN(sc.run_as_non_root, boolean(c["runAsNonRoot"], f + ".runAsNonRoot"));
      sc.set_fields.push_back(f + ".runAsNonRoot");
    }
    return OkStatus();
  };
  if (!pod.is_null()) {
    LOOM_RETURN_IF_ERROR(CheckKeys(pod, {"runAsUser", "runAsGroup", "runAsNonRoot", "supplementalGroups"}, pod_field));
    LOOM_RETURN_IF_ERROR(common(pod, pod_field));
    if (pod.contains("supplementalGroups")) {
      const std::string f = pod_field + ".supplementalGroups";
      if (!pod["supplementalGroups"].is_array()) return InvalidArgument(f + ": expected a list of integers");
      for (size_t i = 0; i < pod["supplementalGroups"].size(); ++i) {
        LOOM_ASSIGN_OR_RETURN(int64_t g, integer(pod["supplementalGroups"][i], JoinField(f, i)));
        sc.supplemental_groups.push_back(g);
      }
      sc.set_fields.push_back(f);
    }
  }
  if (!container.is_null()) {
    const std::string& f = container_field;
    LOOM_RETURN_IF_ERROR(CheckKeys(container, {"runAsUser", "runAsGroup", "runAsNonRoot", "readOnlyRootFilesystem",
                                               "privileged", "allowPrivilegeEscalation", "capabilities"}, f));
    LOOM_RETURN_IF_ERROR(common(container, f));
    if (container.contains("readOnlyRootFilesystem")) {
      LOOM_ASSIGN_OR_RETURN(sc.read_only_root_filesystem,
                            boolean(container["readOnlyRootFilesystem"], f + ".readOnlyRootFilesystem"));
      sc.set_fields.push_back(f + ".readOnlyRootFilesystem");
    }
    if (container.contains("privileged")) {
      LOOM_ASSIGN_OR_RETURN(sc.privileged, boolean(container["privileged"], f + ".privileged"));
      sc.set_fields.push_back(f + ".privileged");
    }
    if (container.contains("allowPrivilegeEscalation")) {
      LOOM_ASSIGN_OR_RETURN(sc.allow_privilege_escalation,
                            boolean(container["allowPrivilegeEscalation"], f + ".allowPrivilegeEscalation"));
      sc.set_fields.push_back(f + ".allowPrivilegeEscalation");
    }
    if (container.contains("capabilities")) {
      const Json& caps = container["capabilities"];
      LOOM_RETURN_IF_ERROR(CheckKeys(caps, {"add", "drop"}, f + ".capabilities"));
      for (const char* which : {"add", "drop"}) {
        if (!caps.contains(which)) continue;
        const std::string cf = f + ".capabilities." + which;
        if (!caps[which].is_array()) return InvalidArgument(cf + ": expected a list of capability names");
        for (size_t i = 0; i < caps[which].size(); ++i) {
          const Json& c = caps[which][i];
          std::string name = c.is_string() ? c.get<std::string>() : "";
          if (name.rfind("CAP_", 0) == 0) name = name.substr(4);
          if (name.empty() || name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ_") != std::string::npos) {
            return InvalidArgument(JoinField(cf, i) + ": expected a capability name such as NET_ADMIN");
          }
          (std::string(which) == "add" ? sc.capabilities_add : sc.capabilities_drop).push_back(name);
        }
      }
      sc.set_fields.push_back(f + ".capabilities");
    }
    if (sc.privileged && sc.allow_privilege_escalation == false) {
      return InvalidArgument(f + ".allowPrivilegeEscalation: Invalid value: false: cannot set "
                                 "`allowPrivilegeEscalation` to false and `privileged` to true");
    }
  }
  return sc;
}

StatusOr<int64_t> ParseMemoryQuantity(const Json& value, const std::string& field) {
  LOOM_ASSIGN_OR_RETURN(double bytes, ParseQuantity(value, field));
  if (bytes < 0 || bytes > 9.2e18) return InvalidArgument(field + ": must be a non-negative number of bytes");
  return static_cast<int64_t>(std::ceil(bytes));
}

StatusOr<double> ParseCpuQuantity(const Json& value, const std::string& field) {
  LOOM_ASSIGN_OR_RETURN(double cores, ParseQuantity(value, field));
  if (cores < 0) return InvalidArgument(field + ": must be non-negative");
  return cores;
}

StatusOr<Resources> ParseResources(const Json& resources, const std::string& field) {
  Resources r;
  if (resources.is_null()) return r;
  LOOM_RETURN_IF_ERROR(CheckKeys(resources, {"limits", "requests"}, field));
  for (const char* which : {"limits", "requests"}) {
    if (!resources.contains(which)) continue;
    const std::string f = field + "." + which;
    const Json& m = resources[which];
    if (!m.is_object()) return InvalidArgument(f + ": expected a map");
    for (const auto& [k, v] : m.items()) {
      if (k != "cpu" && k != "memory") {
        return InvalidArgument(JoinField(f, k) + ": only cpu and memory can be given on one machine");
      }
    }
    const bool limits = std::string(which) == "limits";
    if (m.contains("memory")) {
      LOOM_ASSIGN_OR_RETURN((limits ? r.memory_limit : r.memory_request), ParseMemoryQuantity(m["memory"], f + ".memory"));
    }
    if (m.contains("cpu")) {
      LOOM_ASSIGN_OR_RETURN((limits ? r.cpu_limit : r.cpu_request), ParseCpuQuantity(m["cpu"], f + ".cpu"));
    }
  }
  if (r.memory_limit > 0 && r.memory_request > r.memory_limit) {
    return InvalidArgument(field + ".requests.memory: must be less than or equal to memory limit");
  }
  if (r.cpu_limit > 0 && r.cpu_request > r.cpu_limit) {
    return InvalidArgument(field + ".requests.cpu: must be less than or equal to cpu limit");
  }
  return r;
}

StatusOr<std::optional<std::string>> ResolveKeyRef(const ConfigStore& store, ConfigKind kind, const Json& ref,
                                                   const std::string& field) {
  if (!ref.is_object()) return InvalidArgument(field + ": must be an object with name and key");
  return KeyRef(&store, kind, ref, field);
}

std::map<std::string, std::string> HostProcessEnvironment(const std::string& home, uid_t uid) {
  std::map<std::string, std::string> env;
  const char* path = std::getenv("PATH");
  env["PATH"] = path != nullptr && *path != '\0' ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  struct passwd pw, *found = nullptr;
  char buf[4096];
  env["HOME"] = getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found != nullptr ? pw.pw_dir : "/";
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) == 0) env["HOSTNAME"] = host;
  env["LOOM_HOME"] = home;
  if (const char* mnist = std::getenv("LOOM_MNIST_DIR"); mnist != nullptr && *mnist != '\0') env["LOOM_MNIST_DIR"] = mnist;
  return env;
}

void PutFirstOnPath(const std::string& dir, std::map<std::string, std::string>* env) {
  std::string& path = (*env)["PATH"];
  if (dir.empty() || path.rfind(dir + ":", 0) == 0 || path == dir) return;
  path = dir + (path.empty() ? "" : ":" + path);
}

}  // namespace loom::container
