// The parts of a Kubernetes container that Loom's runtimes act on, read once from the
// template's JSON into types: the environment (env, envFrom, valueFrom resolved against the
// ConfigStore, never against this process's environment), securityContext (the pod's, then the
// container's over it, as Kubernetes merges them) and resources.
//
// Every field is either understood or refused with its place (`container.securityContext.
// seLinuxOptions: not supported on one machine`); what a given runtime cannot enforce of what
// is understood is its own decision (process_pod.cc, podman.h).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "container/config_store.h"
#include "core/json.h"
#include "core/status.h"

namespace loom::container {

struct EnvVar {
  std::string name;
  std::string value;
};

// Values of `fieldRef.fieldPath` (the Downward API): metadata.name, metadata.namespace,
// status.podIP... A path not in the map is refused.
using FieldRefs = std::map<std::string, std::string>;

// Kubernetes' order: envFrom (each source in turn, with its prefix), then env (a later entry
// of the same name wins). `store` may be null only when nothing refers to it. Errors name
// `field` and say what kubelet says: `env[0].valueFrom.secretKeyRef: secret "s3" not found`,
// `couldn't find key password in Secret s3`. optional: true leaves a missing one out.
StatusOr<std::vector<EnvVar>> ResolveEnv(const Json& container, const ConfigStore* store, const FieldRefs& fields,
                                         const std::string& field);

// The variables a process on the host (a pod or a job's replica of the process runtime) gets
// besides its spec's, as a container gets its image's: PATH (this process's own, the host's
// programs being a process pod's image; the standard one when it has none), HOME (of `uid`), HOSTNAME,
// LOOM_HOME (`home`: they run loom commands on the engine's state) and LOOM_MNIST_DIR when this
// process's environment names one (where this machine keeps MNIST, as loom:latest names its
// copy). Nothing else of this process's environment: its secrets stay in it.
std::map<std::string, std::string> HostProcessEnvironment(const std::string& home, uid_t uid);
// Puts `dir` first on env's PATH (where the loom binary running the engine is, so that `loom`
// in a process means it, as loom:latest has it on PATH); nothing when it is there already.
void PutFirstOnPath(const std::string& dir, std::map<std::string, std::string>* env);

// The value a secretKeyRef / configMapKeyRef names (`ref`: name, key, optional); nullopt when an
// optional one is missing. Errors name `field`: `...configMapKeyRef: configmap "x" not found`,
// `couldn't find key k in ConfigMap x`.
StatusOr<std::optional<std::string>> ResolveKeyRef(const ConfigStore& store, ConfigKind kind, const Json& ref,
                                                   const std::string& field);

struct SecurityContext {
  std::optional<int64_t> run_as_user;
  std::optional<int64_t> run_as_group;
  bool run_as_non_root = false;
  std::vector<int64_t> supplemental_groups;     // the pod's
  bool read_only_root_filesystem = false;
  bool privileged = false;
  std::optional<bool> allow_privilege_escalation;
  std::vector<std::string> capabilities_add;    // as written: "NET_ADMIN" (no CAP_ prefix)
  std::vector<std::string> capabilities_drop;   // "ALL" drops every one
  // Which fields were set, for a runtime's refusal: "container.securityContext.capabilities".
  std::vector<std::string> set_fields;
};

// `pod`: the template's securityContext (a PodSecurityContext), `container`: the container's.
StatusOr<SecurityContext> ParseSecurityContext(const Json& pod, const Json& container, const std::string& pod_field,
                                               const std::string& container_field);

struct Resources {
  int64_t memory_limit = 0;    // bytes; 0: none
  int64_t memory_request = 0;  // bytes; 0: none
  double cpu_limit = 0;        // cores; 0: none
  double cpu_request = 0;      // cores; 0: none
  bool empty() const { return memory_limit == 0 && memory_request == 0 && cpu_limit == 0 && cpu_request == 0; }
};

// limits and requests of cpu and memory; any other resource (nvidia.com/gpu, ephemeral-storage)
// is refused: there is nothing on one machine to give it.
StatusOr<Resources> ParseResources(const Json& resources, const std::string& field);

// Kubernetes quantities: "128Mi", "1G", "500m", "0.5", "1e3". Memory in bytes (rounded up),
// cpu in cores.
StatusOr<int64_t> ParseMemoryQuantity(const Json& value, const std::string& field);
StatusOr<double> ParseCpuQuantity(const Json& value, const std::string& field);

}  // namespace loom::container
