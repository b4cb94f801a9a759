#include "job/trainjob.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/file.h"

namespace loom::job {
namespace {

constexpr char kAncestorLabel[] = "trainer.kubeflow.org/trainjob-ancestor-step";
constexpr char kFrameworkLabel[] = "trainer.kubeflow.org/framework";
constexpr char kManagedBy[] = "trainer.kubeflow.org/trainjob-controller";

// Trainer's torch-distributed ClusterTrainingRuntime (v2.3.0), as published.
constexpr char kTorchDistributed[] = R"(apiVersion: trainer.kubeflow.org/v1alpha1
kind: ClusterTrainingRuntime
metadata:
  name: torch-distributed
  labels:
    trainer.kubeflow.org/framework: torch
spec:
  mlPolicy:
    numNodes: 1
    torch: {}
  template:
    spec:
      replicatedJobs:
        - name: node
          template:
            metadata:
              labels:
                trainer.kubeflow.org/trainjob-ancestor-step: trainer
            spec:
              template:
                spec:
                  containers:
                    - name: node
                      image: pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime
)";

constexpr char kMlPolicyAnnotation[] = "trainer.loom.dev/ml-policy";

// Loom's runtime for its own trainer: `loom train` in every pod, node-0 the chief, the other
// nodes workers, two ps tasks; TF_CONFIG from Loom's tensorflow policy (the annotation).
constexpr char kLoomDistributed[] = R"(apiVersion: trainer.kubeflow.org/v1alpha1
kind: ClusterTrainingRuntime
metadata:
  name: loom-distributed
  labels:
    trainer.kubeflow.org/framework: loom
  annotations:
    trainer.loom.dev/ml-policy: tensorflow
spec:
  mlPolicy:
    numNodes: 3
  template:
    spec:
      replicatedJobs:
        - name: ps
          replicas: 2
          template:
            spec:
              template:
                spec:
                  containers:
                    - name: node
                      image: loom:latest
                      command: [loom, train]
        - name: node
          template:
            metadata:
              labels:
                trainer.kubeflow.org/trainjob-ancestor-step: trainer
            spec:
              template:
                spec:
                  containers:
                    - name: node
                      image: loom:latest
                      command: [loom, train]
)";

// The runtimes built in, by name (each a ClusterTrainingRuntime).
const std::map<std::string, const char*>& BuiltIn() {
  static const auto* runtimes =
      new std::map<std::string, const char*>{{"torch-distributed", kTorchDistributed}, {"loom-distributed", kLoomDistributed}};
  return *runtimes;
}

// Why a field Trainer or Kubernetes knows is refused here, by its key.
const std::map<std::string, std::string>& Reasons() {
  static const auto* reasons = new std::map<std::string, std::string>{
      {"model", "the model initializer is not run; give the trainer its model's path (e.g. a directory from "
                "`loom data cache`)"},
      {"runtimePatches", "runtime patches are not applied; write a TrainingRuntime with what the patch would change"},
      {"podGroupPolicy", "there is no gang scheduler; every node starts at once"},
      {"mpi", "only the torch and plain runtimes run on one machine (no MPI launcher)"},
      {"jax", "only the torch and plain runtimes run on one machine"},
      {"xgboost", "only the torch and plain runtimes run on one machine"},
      {"flux", "only the torch and plain runtimes run on one machine"},
      {"envInjection", "only the node container runs, and it always gets the PET_* variables"},
      {"failurePolicy", "a node's failure fails the job after the trainer Job's backoffLimit, as JobSet's default does"},
      {"successPolicy", "the job succeeds when every node has exited 0, as JobSet's default does"},
      {"network", "every node is a process on 127.0.0.1; there is no subdomain"},
      {"coordinator", "node-0 is the coordinator (PET_MASTER_ADDR)"},
      {"startupPolicy", "every node starts at once"},
      {"suspend", "suspend a TrainJob with its spec.suspend"},
      {"ttlSecondsAfterFinished", "a finished job is kept until `loom job delete`"},
      {"volumeClaimPolicies", "a node is a process that sees the machine's files; there are no volumes"},
      {"managedBy", "the local controller manages every job it runs"},
      {"dependsOn", "the trainer's and ps jobs start once the dataset initializer (if any) is Complete"},
      {"groupName", "only the trainer's replicated job runs"},
      {"parallelism", "Trainer sets it from numNodes"},
      {"completions", "Trainer sets it from numNodes"},
      {"metadata", "a node is a process, which has no labels or annotations"},
      {"claims", "there are no dynamic resources on one machine"},
      {"initContainers", "only the node container runs"},
      {"nodeSelector", "there is one node"},
      {"affinity", "there is one node"},
      {"tolerations", "there is one node"},
      {"securityContext", "a node runs as the user running the job"},
      {"serviceAccountName", "there is no API server to call"},
      {"ports", "node-0's port is chosen on 127.0.0.1 and given as PET_MASTER_PORT"},
      {"activeDeadlineSeconds", "give the TrainJob's spec.activeDeadlineSeconds"},
      {"status", "the status is written by the controller, not read from the file"},
  };
  return *reasons;
}

Status OnlyKnown(const Json& object, const std::string& field, const std::set<std::string>& allowed,
                 const std::string& kind, const std::string& source) {
  return OnlyKnownFields(object, field, allowed, Reasons(), kind, source);
}

bool IsDnsName(const std::string& name) {
  return !name.empty() && name.size() <= 253 && name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-.") == std::string::npos;
}

// apiVersion, kind (one of `kinds`), metadata (name, namespace, labels, annotations).
Status ParseObjectHeader(const Json& doc, const std::string& source, const std::set<std::string>& kinds,
                         std::string* kind, std::string* name, std::string* namespace_name) {
  if (!doc.is_object()) return InvalidArgument(source + ": must be a " + *kinds.begin() + " object");
  if (!doc.contains("apiVersion") || doc["apiVersion"] != kTrainerApiVersion)
    return FieldError(source, "apiVersion", (doc.contains("apiVersion") ? doc["apiVersion"].dump() : "missing") +
                                                "; expected " + kTrainerApiVersion);
  *kind = doc.contains("kind") && doc["kind"].is_string() ? doc["kind"].get<std::string>() : "";
  if (!kinds.count(*kind)) {
    std::string expected;
    for (const std::string& k : kinds) expected += (expected.empty() ? "" : " or ") + k;
    return FieldError(source, "kind", (doc.contains("kind") ? doc["kind"].dump() : "missing") + "; expected " + expected);
  }
  LOOM_RETURN_IF_ERROR(OnlyKnown(doc, "", {"apiVersion", "kind", "metadata", "spec"}, *kind, source));
  const Json& meta = doc.contains("metadata") ? doc["metadata"] : Json();
  if (!meta.is_object() || !meta.contains("name") || !meta["name"].is_string())
    return FieldError(source, "metadata.name", "missing");
  LOOM_RETURN_IF_ERROR(OnlyKnown(meta, "metadata", {"name", "namespace", "labels", "annotations"}, *kind, source));
  *name = meta["name"].get<std::string>();
  if (!IsDnsName(*name))
    return FieldError(source, "metadata.name", "\"" + *name + "\" is not a DNS-1123 name (lower case, digits, '-', '.')");
  for (const char* key : {"labels", "annotations"}) {
    if (!meta.contains(key)) continue;
    if (!meta[key].is_object()) return FieldError(source, JoinField("metadata", key), "must be a map of strings");
    for (auto it = meta[key].begin(); it != meta[key].end(); ++it)
      if (!it.value().is_string())
        return FieldError(source, JoinField(JoinField("metadata", key), it.key()), "must be a string");
  }
  if (meta.contains("namespace")) {
    if (*kind == "ClusterTrainingRuntime")
      return FieldError(source, "metadata.namespace", "a ClusterTrainingRuntime is cluster-scoped; it has no namespace");
    if (!meta["namespace"].is_string() || !IsDnsName(meta["namespace"].get<std::string>()))
      return FieldError(source, "metadata.namespace", meta["namespace"].dump() + " is not a DNS-1123 name");
    *namespace_name = meta["namespace"].get<std::string>();
  } else {
    *namespace_name = *kind == "ClusterTrainingRuntime" ? "" : "default";
  }
  if (!doc.contains("spec") || !doc["spec"].is_object()) return FieldError(source, "spec", "missing");
  return OkStatus();
}

StatusOr<int64_t> ReadCount(const Json& parent, const std::string& key, const std::string& field,
                            const std::string& source, int64_t low, int64_t high) {
  const Json& v = parent[key];
  if (!v.is_number_integer()) return FieldError(source, field, "must be an integer, not " + v.dump());
  const int64_t n = v.get<int64_t>();
  if (n < low) return FieldError(source, field, std::to_string(n) + " is less than " + std::to_string(low));
  if (n > high)
    return FieldError(source, field, std::to_string(n) + " is more than " + std::to_string(high) + " on one machine");
  return n;
}

// A container's resources (or a TrainJob's resourcesPerNode): only cpu acts (it decides
// numProcPerNode "auto"); memory and devices are not enforced on a process.
Status CheckResources(const Json& resources, const std::string& field, const std::string& kind, const std::string& source) {
  if (!resources.is_object()) return FieldError(source, field, "must be an object");
  LOOM_RETURN_IF_ERROR(OnlyKnown(resources, field, {"requests", "limits"}, kind, source));
  for (const char* key : {"requests", "limits"}) {
    if (!resources.contains(key)) continue;
    const std::string f = JoinField(field, key);
    const Json& list = resources[key];
    if (!list.is_object()) return FieldError(source, f, "must be a map of quantities");
    for (auto it = list.begin(); it != list.end(); ++it) {
      const std::string rf = JoinField(f, it.key());
      if (it.key() != "cpu")
        return FieldError(source, rf,
                          "not supported on one machine: a node is a process; only cpu acts (it sets numProcPerNode "
                          "\"auto\"), nothing is reserved or limited");
      const Json& q = it.value();
      const std::string text = q.is_string() ? q.get<std::string>() : q.is_number() ? q.dump() : "";
      const std::string digits = !text.empty() && text.back() == 'm' ? text.substr(0, text.size() - 1) : text;
      const bool number = !digits.empty() && digits.find_first_not_of("0123456789.") == std::string::npos &&
                          std::count(digits.begin(), digits.end(), '.') <= 1 && digits != ".";
      if (!number) return FieldError(source, rf, q.dump() + " is not a CPU quantity (\"2\", \"1.5\", \"500m\")");
    }
  }
  return OkStatus();
}

// Kubernetes' Quantity.Value() of a cpu quantity CheckResources accepted: rounded up.
int CpuCount(const Json& q) {
  std::string text = q.is_string() ? q.get<std::string>() : q.dump();
  double scale = 1;
  if (!text.empty() && text.back() == 'm') {
    text.pop_back();
    scale = 1000;
  }
  return static_cast<int>(std::ceil(std::stod(text) / scale - 1e-9));
}

// The torch plugin's numProcPerNode "auto" without GPUs: requests.cpu, else limits.cpu, at least 1.
int ProcsFromResources(const Json& resources) {
  for (const char* key : {"requests", "limits"})
    if (resources.contains(key) && resources[key].contains("cpu")) return std::max(1, CpuCount(resources[key]["cpu"]));
  return 1;
}

// Sets `*into`'s variables from `from` (by name: replaced where it stands, else appended), as
// Trainer's apply.UpsertEnvVars does.
void UpsertEnv(const std::vector<std::pair<std::string, std::string>>& from,
               std::vector<std::pair<std::string, std::string>>* into) {
  for (const auto& entry : from) {
    auto it = std::find_if(into->begin(), into->end(), [&](const auto& e) { return e.first == entry.first; });
    if (it != into->end()) it->second = entry.second;
    else into->push_back(entry);
  }
}

// A dataset initializer's env at `field`, each name STORAGE_URI or a setting, appended to `out`.
Status ParseInitializerEnv(const Json& container, const std::string& field, const std::string& source,
                           std::vector<std::pair<std::string, std::string>>* out) {
  std::vector<std::pair<std::string, std::string>> env;
  LOOM_RETURN_IF_ERROR(ParseEnv(container, field, source, &env));
  for (size_t i = 0; i < env.size(); ++i)
    if (env[i].first != "STORAGE_URI" && !DatasetInitializerSettings().count(env[i].first))
      return FieldError(source, JoinField(JoinField(field, i), "name"),
                        env[i].first + ": not supported on one machine: Loom's dataset initializer reads STORAGE_URI, "
                                       "ENDPOINT, ACCESS_KEY_ID, SECRET_ACCESS_KEY and REGION, as Trainer's S3 one does");
  out->insert(out->end(), env.begin(), env.end());
  return OkStatus();
}

// A replicated job's dependsOn: only [{name: <the dataset initializer's job>, status: Complete}],
// which is when Loom starts the other jobs anyway.
Status CheckDependsOn(const Json& rjob, const std::string& field, const std::string& initializer,
                      const std::string& source) {
  if (!rjob.contains("dependsOn")) return OkStatus();
  const std::string f = JoinField(field, "dependsOn");
  const Json& d = rjob["dependsOn"];
  const bool ok = !initializer.empty() && d.is_array() && d.size() == 1 && d[0].is_object() && d[0].size() == 2 &&
                  d[0].value("name", Json()) == initializer && d[0].value("status", Json()) == "Complete";
  if (!ok)
    return FieldError(source, f,
                      "not supported on one machine: only [{name: <the dataset initializer's job>, status: Complete}] "
                      "(the jobs start once the dataset initializer is Complete, and together)");
  return OkStatus();
}

constexpr char kDatasetPath[] = "/workspace/dataset";

// A pod's volumes at `field`, where the runtime has a dataset initializer: only
// PersistentVolumeClaims, the volume a cluster shares between the initializer and the other pods
// (here the dataset cache is that volume). Their names go into *names.
Status CheckDatasetVolumes(const Json& pod, const std::string& field, bool initializer, const std::string& kind,
                           const std::string& source, std::set<std::string>* names) {
  if (!pod.contains("volumes")) return OkStatus();
  const std::string f = JoinField(field, "volumes");
  if (!initializer)
    return FieldError(source, f, "not supported on one machine: a pod is a process that sees the machine's files; only a "
                                 "runtime with a dataset initializer shares its volume (the dataset cache)");
  const Json& volumes = pod["volumes"];
  if (!volumes.is_array()) return FieldError(source, f, "must be a list");
  for (size_t i = 0; i < volumes.size(); ++i) {
    const std::string vf = JoinField(f, i);
    const Json& v = volumes[i];
    LOOM_RETURN_IF_ERROR(OnlyKnown(v, vf, {"name", "persistentVolumeClaim"}, kind, source));
    if (!v.is_object() || !v.contains("name") || !v["name"].is_string()) return FieldError(source, JoinField(vf, "name"), "missing");
    if (!v.contains("persistentVolumeClaim"))
      return FieldError(source, vf, "not supported on one machine: only a persistentVolumeClaim (the dataset initializer's "
                                    "volume, which is the dataset cache here)");
    LOOM_RETURN_IF_ERROR(OnlyKnown(v["persistentVolumeClaim"], JoinField(vf, "persistentVolumeClaim"), {"claimName"}, kind, source));
    names->insert(v["name"].get<std::string>());
  }
  return OkStatus();
}

// A container's volumeMounts at `field`: a volume of its pod (`names`) at /workspace/dataset,
// where Trainer's dataset initializer writes and the trainer reads; LOOM_DATASET_DIR names the
// cache directory that stands for it here.
Status CheckDatasetMounts(const Json& container, const std::string& field, const std::set<std::string>& names,
                          const std::string& kind, const std::string& source) {
  if (!container.contains("volumeMounts")) return OkStatus();
  const std::string f = JoinField(field, "volumeMounts");
  const Json& mounts = container["volumeMounts"];
  if (!mounts.is_array()) return FieldError(source, f, "must be a list");
  for (size_t i = 0; i < mounts.size(); ++i) {
    const std::string mf = JoinField(f, i);
    const Json& m = mounts[i];
    LOOM_RETURN_IF_ERROR(OnlyKnown(m, mf, {"name", "mountPath"}, kind, source));
    if (!m.is_object() || !m.contains("name") || !m["name"].is_string() || !names.count(m["name"].get<std::string>()))
      return FieldError(source, JoinField(mf, "name"), "names no volume of the pod");
    if (m.value("mountPath", Json()) != kDatasetPath)
      return FieldError(source, JoinField(mf, "mountPath"),
                        "not supported on one machine: only the dataset initializer's volume at " + std::string(kDatasetPath) +
                            " (LOOM_DATASET_DIR names the dataset cache that stands for it)");
  }
  return OkStatus();
}

// The replicated job at `field` (spec.template.spec.replicatedJobs[i]) labelled
// dataset-initializer: one pod of a container named dataset-initializer; its env.
Status ParseInitializerJob(const Json& rjob, const std::string& field, const std::string& kind, const std::string& source,
                           TrainingRuntime* out) {
  LOOM_RETURN_IF_ERROR(OnlyKnown(rjob, field, {"name", "replicas", "template"}, kind, source));
  if (rjob.contains("replicas")) {
    LOOM_ASSIGN_OR_RETURN(int64_t replicas, ReadCount(rjob, "replicas", JoinField(field, "replicas"), source, 1, 1));
    (void)replicas;
  }
  const Json& jt = rjob["template"];
  const std::string tf = JoinField(field, "template");
  LOOM_RETURN_IF_ERROR(OnlyKnown(jt, tf, {"metadata", "spec"}, kind, source));
  const std::string pod_field = JoinField(tf, "spec.template.spec");
  const Json* pod = &jt;
  for (const char* key : {"spec", "template", "spec"})
    pod = pod != nullptr && pod->is_object() && pod->contains(key) ? &(*pod)[key] : nullptr;
  if (pod == nullptr || !pod->is_object()) return FieldError(source, pod_field, "missing");
  LOOM_RETURN_IF_ERROR(OnlyKnown(jt["spec"], JoinField(tf, "spec"), {"template"}, kind, source));
  LOOM_RETURN_IF_ERROR(OnlyKnown(jt["spec"]["template"], JoinField(tf, "spec.template"), {"spec"}, kind, source));
  LOOM_RETURN_IF_ERROR(OnlyKnown(*pod, pod_field, {"containers", "volumes"}, kind, source));
  std::set<std::string> volumes;
  LOOM_RETURN_IF_ERROR(CheckDatasetVolumes(*pod, pod_field, true, kind, source, &volumes));
  const std::string cs_field = JoinField(pod_field, "containers");
  const Json& cs = pod->contains("containers") ? (*pod)["containers"] : Json();
  if (!cs.is_array() || cs.size() != 1 || !cs[0].is_object() || cs[0].value("name", Json()) != "dataset-initializer")
    return FieldError(source, cs_field, "must be one container named dataset-initializer");
  const std::string cf = JoinField(cs_field, 0);
  LOOM_RETURN_IF_ERROR(OnlyKnown(cs[0], cf, {"name", "image", "env", "volumeMounts"}, kind, source));
  LOOM_RETURN_IF_ERROR(CheckDatasetMounts(cs[0], cf, volumes, kind, source));
  if (cs[0].contains("image") && !cs[0]["image"].is_string()) return FieldError(source, JoinField(cf, "image"), "must be a string");
  LOOM_RETURN_IF_ERROR(ParseInitializerEnv(cs[0], JoinField(cf, "env"), source, &out->initializer_env));
  out->dataset_initializer = true;
  out->initializer_job = rjob["name"].get<std::string>();
  return OkStatus();
}

// The replicated job at `field` (spec.template.spec.replicatedJobs[i]): the trainer's (`ps`
// null) or the tensorflow policy's ps job, whose replicas are its pods.
Status ParseTrainerJob(const Json& rjob, const std::string& field, const std::string& kind, const std::string& source,
                       TrainingRuntime* out, ReplicaSpec* ps) {
  LOOM_RETURN_IF_ERROR(OnlyKnown(rjob, field, {"name", "replicas", "template", "dependsOn"}, kind, source));
  LOOM_RETURN_IF_ERROR(CheckDependsOn(rjob, field, out->initializer_job, source));
  ReplicaSpec* spec = ps != nullptr ? ps : &out->node;
  spec->replicas = 1;
  if (rjob.contains("replicas")) {
    LOOM_ASSIGN_OR_RETURN(int64_t replicas,
                          ReadCount(rjob, "replicas", JoinField(field, "replicas"), source, 1, ps != nullptr ? 64 : 1));
    spec->replicas = static_cast<int>(replicas);
  }
  const std::string tf = JoinField(field, "template");
  if (!rjob.contains("template") || !rjob["template"].is_object()) return FieldError(source, tf, "missing");
  const Json& jt = rjob["template"];
  LOOM_RETURN_IF_ERROR(OnlyKnown(jt, tf, {"metadata", "spec"}, kind, source));
  if (jt.contains("metadata"))
    LOOM_RETURN_IF_ERROR(OnlyKnown(jt["metadata"], JoinField(tf, "metadata"), {"labels"}, kind, source));
  const std::string js_field = JoinField(tf, "spec");
  if (!jt.contains("spec") || !jt["spec"].is_object()) return FieldError(source, js_field, "missing");
  const Json& job_spec = jt["spec"];
  LOOM_RETURN_IF_ERROR(OnlyKnown(job_spec, js_field, {"template", "backoffLimit"}, kind, source));
  if (job_spec.contains("backoffLimit")) {
    if (ps != nullptr)
      return FieldError(source, JoinField(js_field, "backoffLimit"),
                        "not supported on one machine: every restart counts against the trainer Job's backoffLimit");
    LOOM_ASSIGN_OR_RETURN(int64_t limit,
                          ReadCount(job_spec, "backoffLimit", JoinField(js_field, "backoffLimit"), source, 0, 1000000));
    out->backoff_limit = static_cast<int>(limit);
  }
  const std::string pt_field = JoinField(js_field, "template");
  if (!job_spec.contains("template") || !job_spec["template"].is_object()) return FieldError(source, pt_field, "missing");
  LOOM_RETURN_IF_ERROR(OnlyKnown(job_spec["template"], pt_field, {"spec"}, kind, source));
  const std::string pod_field = JoinField(pt_field, "spec");
  const Json& pod = job_spec["template"].contains("spec") ? job_spec["template"]["spec"] : Json();
  if (!pod.is_object()) return FieldError(source, pod_field, "missing");
  LOOM_RETURN_IF_ERROR(OnlyKnown(pod, pod_field, {"containers", "restartPolicy", "volumes"}, kind, source));
  std::set<std::string> volumes;
  LOOM_RETURN_IF_ERROR(CheckDatasetVolumes(pod, pod_field, out->dataset_initializer, kind, source, &volumes));
  // JobSet's default for a Job's pods is OnFailure; a Job allows OnFailure or Never.
  spec->restart_policy = RestartPolicy::kOnFailure;
  if (pod.contains("restartPolicy")) {
    const Json& policy = pod["restartPolicy"];
    if (policy != "OnFailure" && policy != "Never")
      return FieldError(source, JoinField(pod_field, "restartPolicy"), policy.dump() + " is not OnFailure or Never (a Job's pods)");
    spec->restart_policy = policy == "Never" ? RestartPolicy::kNever : RestartPolicy::kOnFailure;
  }
  const std::string cs_field = JoinField(pod_field, "containers");
  if (!pod.contains("containers") || !pod["containers"].is_array())
    return FieldError(source, cs_field, "missing; the trainer's Job needs a container named node");
  bool found = false;
  for (size_t i = 0; i < pod["containers"].size(); ++i) {
    const Json& c = pod["containers"][i];
    const std::string cf = JoinField(cs_field, i);
    if (!c.is_object() || !c.contains("name") || c["name"] != "node")
      return FieldError(source, JoinField(cf, "name"),
                        (c.is_object() && c.contains("name") ? c["name"].dump() : "missing") +
                            ": not supported on one machine: only the trainer's container named node runs");
    LOOM_RETURN_IF_ERROR(
        OnlyKnown(c, cf, {"name", "image", "imagePullPolicy", "command", "args", "env", "workingDir", "resources", "volumeMounts"},
                  kind, source));
    LOOM_RETURN_IF_ERROR(CheckDatasetMounts(c, cf, volumes, kind, source));
    LOOM_RETURN_IF_ERROR(ParseContainer(c, cf, source, spec));
    if (c.contains("resources")) {
      if (ps != nullptr)
        return FieldError(source, JoinField(cf, "resources"),
                          "not supported on one machine: a ps task is a process; nothing is reserved or limited");
      LOOM_RETURN_IF_ERROR(CheckResources(c["resources"], JoinField(cf, "resources"), kind, source));
      out->resources = c["resources"];
    }
    found = true;
  }
  if (!found) return FieldError(source, cs_field, "has no container named node");
  return OkStatus();
}

}  // namespace

const std::set<std::string>& DatasetInitializerSettings() {
  static const auto* names = new std::set<std::string>{"ENDPOINT", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "REGION"};
  return *names;
}

std::string TrainingRuntime::Ref() const {
  return kind + "/" + (namespace_name.empty() ? "" : namespace_name + "/") + name;
}

StatusOr<TrainingRuntime> ParseTrainingRuntime(const Json& doc, const std::string& source) {
  TrainingRuntime rt;
  rt.ps.replicas = 0;  // no ps job unless the runtime has one
  LOOM_RETURN_IF_ERROR(ParseObjectHeader(doc, source, {"ClusterTrainingRuntime", "TrainingRuntime"}, &rt.kind, &rt.name,
                                         &rt.namespace_name));
  rt.manifest = doc;
  const Json& meta = doc["metadata"];
  if (meta.contains("labels") && meta["labels"].contains(kFrameworkLabel))
    rt.framework = meta["labels"][kFrameworkLabel].get<std::string>();
  if (meta.contains("annotations") && meta["annotations"].contains(kMlPolicyAnnotation)) {
    const Json& policy = meta["annotations"][kMlPolicyAnnotation];
    if (policy != "tensorflow")
      return FieldError(source, JoinField("metadata.annotations", kMlPolicyAnnotation),
                        policy.dump() + " is not a policy of Loom's (tensorflow: TF_CONFIG for `loom train`)");
    rt.tensorflow = true;
  }
  const Json& spec = doc["spec"];
  LOOM_RETURN_IF_ERROR(OnlyKnown(spec, "spec", {"mlPolicy", "template"}, rt.kind, source));
  if (spec.contains("mlPolicy")) {
    const Json& ml = spec["mlPolicy"];
    if (!ml.is_object()) return FieldError(source, "spec.mlPolicy", "must be an object");
    LOOM_RETURN_IF_ERROR(OnlyKnown(ml, "spec.mlPolicy", {"numNodes", "torch"}, rt.kind, source));
    if (ml.contains("numNodes")) {
      LOOM_ASSIGN_OR_RETURN(int64_t n, ReadCount(ml, "numNodes", "spec.mlPolicy.numNodes", source, 1, 64));
      rt.num_nodes = static_cast<int>(n);
    }
    if (ml.contains("torch")) {
      if (!ml["torch"].is_object()) return FieldError(source, "spec.mlPolicy.torch", "must be an object");
      LOOM_RETURN_IF_ERROR(OnlyKnown(ml["torch"], "spec.mlPolicy.torch", {}, rt.kind, source));
      if (rt.tensorflow)
        return FieldError(source, "spec.mlPolicy.torch",
                          std::string("a runtime annotated ") + kMlPolicyAnnotation + ": tensorflow gets TF_CONFIG, not the torch plugin's PET_*");
      rt.torch = true;
    }
  }
  const Json& tmpl = spec.contains("template") ? spec["template"] : Json();
  if (!tmpl.is_object()) return FieldError(source, "spec.template", "missing; a runtime's JobSet template gives its trainer");
  LOOM_RETURN_IF_ERROR(OnlyKnown(tmpl, "spec.template", {"spec"}, rt.kind, source));
  const Json& js = tmpl.contains("spec") ? tmpl["spec"] : Json();
  if (!js.is_object()) return FieldError(source, "spec.template.spec", "missing");
  LOOM_RETURN_IF_ERROR(OnlyKnown(js, "spec.template.spec", {"replicatedJobs"}, rt.kind, source));
  const std::string rj_field = "spec.template.spec.replicatedJobs";
  if (!js.contains("replicatedJobs") || !js["replicatedJobs"].is_array() || js["replicatedJobs"].empty())
    return FieldError(source, rj_field, "missing or empty");
  bool found = false;
  for (size_t i = 0; i < js["replicatedJobs"].size(); ++i) {
    const Json& rjob = js["replicatedJobs"][i];
    const std::string field = JoinField(rj_field, i);
    if (!rjob.is_object() || !rjob.contains("name") || !rjob["name"].is_string())
      return FieldError(source, JoinField(field, "name"), "missing");
    const Json* labels = &rjob;
    for (const char* key : {"template", "metadata", "labels"})
      labels = labels != nullptr && labels->is_object() && labels->contains(key) ? &(*labels)[key] : nullptr;
    const std::string labels_field = JoinField(field, "template.metadata.labels");
    if (labels != nullptr) {
      if (!labels->is_object()) return FieldError(source, labels_field, "must be a map of strings");
      for (auto it = labels->begin(); it != labels->end(); ++it)
        if (it.key() != kAncestorLabel)
          return FieldError(source, JoinField(labels_field, it.key()),
                            "not supported on one machine: a node is a process, which has no labels; only " +
                                std::string(kAncestorLabel) + " acts");
    }
    const std::string ancestor =
        labels != nullptr && labels->contains(kAncestorLabel) && (*labels)[kAncestorLabel].is_string()
            ? (*labels)[kAncestorLabel].get<std::string>()
            : "";
    if (ancestor == "dataset-initializer") {
      if (rt.dataset_initializer) return FieldError(source, field, "a second dataset initializer; a runtime has one");
      if (found || rt.ps.replicas > 0)
        return FieldError(source, field, "the dataset initializer comes before the jobs that depend on it");
      LOOM_RETURN_IF_ERROR(ParseInitializerJob(rjob, field, rt.kind, source, &rt));
      continue;
    }
    if (rt.tensorflow && ancestor.empty() && rjob["name"] == "ps") {
      if (rt.ps.replicas > 0) return FieldError(source, JoinField(field, "name"), "a second replicated job named ps");
      LOOM_RETURN_IF_ERROR(ParseTrainerJob(rjob, field, rt.kind, source, &rt, &rt.ps));
      continue;
    }
    if (ancestor != "trainer")
      return FieldError(source, JoinField(labels_field, kAncestorLabel),
                        (ancestor.empty() ? std::string("missing") : "\"" + ancestor + "\"") +
                            ": not supported on one machine: only the trainer's replicated job and the dataset initializer "
                            "run (model initializers, launchers and other steps do not; under " + kMlPolicyAnnotation +
                            ": tensorflow, a job named ps runs too)");
    if (found) return FieldError(source, field, "a second trainer replicated job; a runtime has one");
    LOOM_RETURN_IF_ERROR(ParseTrainerJob(rjob, field, rt.kind, source, &rt, nullptr));
    found = true;
  }
  if (!found)
    return FieldError(source, rj_field,
                      std::string("has no trainer replicated job (labelled ") + kAncestorLabel + ": trainer)");
  rt.node.type = "node";
  rt.node.task_type = train::TaskType::kWorker;
  rt.ps.type = "ps";
  rt.ps.task_type = train::TaskType::kPs;
  return rt;
}

RuntimeStore::RuntimeStore(std::string dir) : dir_(std::move(dir)) {}

std::string RuntimeStore::DefaultDir() { return JoinPath(LoomHome(), "runtimes"); }

std::string RuntimeStore::Path(const std::string& kind, const std::string& namespace_name, const std::string& name) const {
  std::string path = JoinPath(dir_, kind);
  if (kind == "TrainingRuntime") path = JoinPath(path, namespace_name.empty() ? "default" : namespace_name);
  return JoinPath(path, name + ".json");
}

StatusOr<TrainingRuntime> RuntimeStore::Apply(const Json& document, const std::string& source) {
  LOOM_ASSIGN_OR_RETURN(TrainingRuntime rt, ParseTrainingRuntime(document, source));
  const std::string path = Path(rt.kind, rt.namespace_name, rt.name);
  LOOM_RETURN_IF_ERROR(MakeDirs(path.substr(0, path.rfind('/'))));
  LOOM_RETURN_IF_ERROR(WriteFileAtomic(path, document.dump(2) + "\n"));
  return rt;
}

StatusOr<TrainingRuntime> RuntimeStore::Get(const std::string& kind, const std::string& namespace_name,
                                            const std::string& name) const {
  const std::string path = Path(kind, namespace_name, name);
  if (PathExists(path)) {
    LOOM_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
    LOOM_ASSIGN_OR_RETURN(Json doc, ParseJson(text, path));
    return ParseTrainingRuntime(doc, path);
  }
  if (kind == "ClusterTrainingRuntime" && BuiltIn().count(name)) {
    LOOM_ASSIGN_OR_RETURN(Json doc, ParseYaml(BuiltIn().at(name), name + " (built in)"));
    LOOM_ASSIGN_OR_RETURN(TrainingRuntime rt, ParseTrainingRuntime(doc, name + " (built in)"));
    rt.built_in = true;
    return rt;
  }
  return NotFound("no " + kind + " named \"" + name + "\"" +
                  (kind == "TrainingRuntime" ? " in namespace " + (namespace_name.empty() ? "default" : namespace_name) : "") +
                  " (`loom runtime list` shows what is installed; `loom runtime apply -f` installs one)");
}

StatusOr<std::vector<TrainingRuntime>> RuntimeStore::List() const {
  std::vector<TrainingRuntime> out;
  auto add_dir = [&](const std::string& kind, const std::string& namespace_name, const std::string& dir) -> Status {
    if (!IsDirectory(dir)) return OkStatus();
    LOOM_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) {
      if (n.size() <= 5 || n.substr(n.size() - 5) != ".json") continue;
      LOOM_ASSIGN_OR_RETURN(TrainingRuntime rt, Get(kind, namespace_name, n.substr(0, n.size() - 5)));
      out.push_back(std::move(rt));
    }
    return OkStatus();
  };
  LOOM_RETURN_IF_ERROR(add_dir("ClusterTrainingRuntime", "", JoinPath(dir_, "ClusterTrainingRuntime")));
  for (const auto& [name, manifest] : BuiltIn()) {
    if (PathExists(Path("ClusterTrainingRuntime", "", name))) continue;
    LOOM_ASSIGN_OR_RETURN(TrainingRuntime rt, Get("ClusterTrainingRuntime", "", name));
    out.push_back(std::move(rt));
  }
  std::sort(out.begin(), out.end(), [](const TrainingRuntime& a, const TrainingRuntime& b) { return a.name < b.name; });
  const std::string namespaced = JoinPath(dir_, "TrainingRuntime");
  if (IsDirectory(namespaced)) {
    LOOM_ASSIGN_OR_RETURN(std::vector<std::string> namespaces, ListDir(namespaced));
    std::sort(namespaces.begin(), namespaces.end());
    for (const std::string& ns : namespaces) LOOM_RETURN_IF_ERROR(add_dir("TrainingRuntime", ns, JoinPath(namespaced, ns)));
  }
  return out;
}

Status RuntimeStore::Delete(const std::string& kind, const std::string& namespace_name, const std::string& name) {
  const std::string path = Path(kind, namespace_name, name);
  if (!PathExists(path)) {
    if (kind == "ClusterTrainingRuntime" && BuiltIn().count(name))
      return FailedPrecondition("ClusterTrainingRuntime " + name + " is built in; it cannot be deleted");
    return Get(kind, namespace_name, name).status();
  }
  return RemoveAll(path);
}

StatusOr<TfJob> ParseTrainJob(const Json& doc, const std::string& source, const RuntimeStore& runtimes) {
  TfJob job;
  std::string kind;
  LOOM_RETURN_IF_ERROR(ParseObjectHeader(doc, source, {"TrainJob"}, &kind, &job.name, &job.namespace_name));
  job.kind = "TrainJob";
  job.manifest = doc;
  const Json& spec = doc["spec"];
  LOOM_RETURN_IF_ERROR(
      OnlyKnown(spec, "spec", {"runtimeRef", "trainer", "suspend", "activeDeadlineSeconds", "managedBy", "initializer"},
                kind, source));
  if (spec.contains("managedBy") && spec["managedBy"] != kManagedBy)
    return FieldError(source, "spec.managedBy",
                      spec["managedBy"].dump() + ": not supported on one machine: the local controller manages every "
                                                 "job it runs (" + kManagedBy + ")");
  if (spec.contains("suspend")) {
    if (!spec["suspend"].is_boolean()) return FieldError(source, "spec.suspend", "must be true or false");
    job.suspend = spec["suspend"].get<bool>();
  }
  if (spec.contains("activeDeadlineSeconds")) {
    LOOM_ASSIGN_OR_RETURN(job.run_policy.active_deadline_seconds,
                          ReadCount(spec, "activeDeadlineSeconds", "spec.activeDeadlineSeconds", source, 1, INT64_MAX));
  }

  // spec.runtimeRef: kind defaults to ClusterTrainingRuntime, apiGroup to trainer.kubeflow.org.
  if (!spec.contains("runtimeRef") || !spec["runtimeRef"].is_object())
    return FieldError(source, "spec.runtimeRef", "missing; a TrainJob names its runtime (e.g. torch-distributed)");
  const Json& ref = spec["runtimeRef"];
  LOOM_RETURN_IF_ERROR(OnlyKnown(ref, "spec.runtimeRef", {"name", "kind", "apiGroup"}, kind, source));
  if (ref.contains("apiGroup") && ref["apiGroup"] != "trainer.kubeflow.org")
    return FieldError(source, "spec.runtimeRef.apiGroup", ref["apiGroup"].dump() + "; expected trainer.kubeflow.org");
  const std::string ref_kind = ref.contains("kind") && ref["kind"].is_string() ? ref["kind"].get<std::string>() : "ClusterTrainingRuntime";
  if (ref_kind != "ClusterTrainingRuntime" && ref_kind != "TrainingRuntime")
    return FieldError(source, "spec.runtimeRef.kind", ref["kind"].dump() + "; expected ClusterTrainingRuntime or TrainingRuntime");
  if (!ref.contains("name") || !ref["name"].is_string() || ref["name"].get<std::string>().empty())
    return FieldError(source, "spec.runtimeRef.name", "missing");
  auto runtime = runtimes.Get(ref_kind, job.namespace_name, ref["name"].get<std::string>());
  if (!runtime.ok()) return FieldError(source, "spec.runtimeRef.name", runtime.status().message());
  job.runtime = runtime->Ref();

  // spec.initializer.dataset over the runtime's dataset initializer, as Trainer's jobset plugin
  // applies it: STORAGE_URI, then the env upserted; secretRef as the container's envFrom.
  if (spec.contains("initializer")) {
    const Json& init = spec["initializer"];
    if (!init.is_object()) return FieldError(source, "spec.initializer", "must be an object");
    LOOM_RETURN_IF_ERROR(OnlyKnown(init, "spec.initializer", {"dataset"}, kind, source));
  }
  if (spec.contains("initializer") && spec["initializer"].contains("dataset") && !runtime->dataset_initializer)
    return FieldError(source, "spec.initializer.dataset",
                      "runtime " + job.runtime + " has no dataset initializer (a replicated job labelled " + kAncestorLabel +
                          ": dataset-initializer), so Trainer would not fetch it either");
  if (runtime->dataset_initializer) {
    std::vector<std::pair<std::string, std::string>> env = runtime->initializer_env;
    std::string uri_field = "spec.initializer.dataset.storageUri";
    if (spec.contains("initializer") && spec["initializer"].contains("dataset")) {
      const Json& ds = spec["initializer"]["dataset"];
      const std::string f = "spec.initializer.dataset";
      if (!ds.is_object()) return FieldError(source, f, "must be an object");
      LOOM_RETURN_IF_ERROR(OnlyKnown(ds, f, {"storageUri", "env", "secretRef"}, kind, source));
      if (ds.contains("storageUri")) {
        if (!ds["storageUri"].is_string()) return FieldError(source, uri_field, "must be a string");
        UpsertEnv({{"STORAGE_URI", ds["storageUri"].get<std::string>()}}, &env);
      }
      std::vector<std::pair<std::string, std::string>> given;
      LOOM_RETURN_IF_ERROR(ParseInitializerEnv(ds, JoinField(f, "env"), source, &given));
      UpsertEnv(given, &env);
      if (ds.contains("secretRef")) {
        const Json& ref = ds["secretRef"];
        LOOM_RETURN_IF_ERROR(OnlyKnown(ref, JoinField(f, "secretRef"), {"name"}, kind, source));
        if (!ref.is_object() || !ref.contains("name") || !ref["name"].is_string() || ref["name"].get<std::string>().empty())
          return FieldError(source, JoinField(f, "secretRef.name"), "missing");
        job.dataset_secret = ref["name"].get<std::string>();
      }
    } else {
      uri_field = "spec.initializer.dataset";
    }
    for (const auto& [name, value] : env) {
      if (name == "STORAGE_URI") job.dataset_uri = value;
      else job.dataset_env.emplace_back(name, value);
    }
    if (job.dataset_uri.empty())
      return FieldError(source, uri_field, "missing, and runtime " + job.runtime + "'s dataset initializer has no STORAGE_URI");
    if (job.dataset_uri.rfind("s3://", 0) != 0 && job.dataset_uri.rfind("file:///", 0) != 0)
      return FieldError(source, uri_field,
                        "\"" + job.dataset_uri + "\": not supported on one machine: Loom's dataset initializer fetches "
                        "s3:// (with its own S3 client) and file:/// URIs");
  }

  // The trainer's overrides of the runtime's node.
  ReplicaSpec node = runtime->node, ps = runtime->ps;
  int num_nodes = runtime->num_nodes;
  Json resources = runtime->resources;
  std::string procs;
  if (spec.contains("trainer")) {
    const Json& t = spec["trainer"];
    if (!t.is_object()) return FieldError(source, "spec.trainer", "must be an object");
    LOOM_RETURN_IF_ERROR(OnlyKnown(
        t, "spec.trainer", {"image", "command", "args", "env", "numNodes", "numProcPerNode", "resourcesPerNode"}, kind, source));
    ReplicaSpec given;
    LOOM_RETURN_IF_ERROR(ParseContainer(t, "spec.trainer", source, &given));
    for (size_t i = 0; i < given.env.size(); ++i) {
      const std::string& name = given.env[i].first;
      const bool torch_env =
          std::set<std::string>{"PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK", "PET_MASTER_ADDR", "PET_MASTER_PORT"}.count(name);
      if ((runtime->torch && torch_env) || (runtime->tensorflow && name == "TF_CONFIG"))
        return FieldError(source, JoinField(JoinField("spec.trainer.env", i), "name"),
                          name + ": must not have reserved envs (the " + (runtime->torch ? "torch plugin" : "tensorflow policy") +
                              " sets it)");
    }
    // As Trainer's jobset plugin: every container named node takes the trainer's overrides.
    for (ReplicaSpec* target : {&node, &ps}) {
      if (t.contains("image")) target->image = given.image;
      if (t.contains("command")) target->command = given.command;
      if (t.contains("args")) target->args = given.args;
      UpsertEnv(given.env, &target->env);
    }
    if (t.contains("numNodes")) {
      LOOM_ASSIGN_OR_RETURN(int64_t n, ReadCount(t, "numNodes", "spec.trainer.numNodes", source, 1, 64));
      num_nodes = static_cast<int>(n);
    }
    if (t.contains("numProcPerNode")) {
      LOOM_ASSIGN_OR_RETURN(int64_t n, ReadCount(t, "numProcPerNode", "spec.trainer.numProcPerNode", source, 1, 64));
      if (!runtime->torch)
        return FieldError(source, "spec.trainer.numProcPerNode",
                          "not supported on one machine: only the torch runtime starts processes per node, and " +
                              job.runtime + " has no mlPolicy.torch");
      procs = std::to_string(n);
    }
    if (t.contains("resourcesPerNode")) {
      LOOM_RETURN_IF_ERROR(CheckResources(t["resourcesPerNode"], "spec.trainer.resourcesPerNode", kind, source));
      resources = t["resourcesPerNode"];
    }
  }
  if (node.command.empty() && node.args.empty())
    return FieldError(source, "spec.trainer.command",
                      "missing, and runtime " + job.runtime + " gives none: nothing to run (the image is not pulled)");
  if (runtime->torch && procs.empty()) procs = std::to_string(ProcsFromResources(resources));
  node.replicas = num_nodes;
  job.nproc_per_node = runtime->torch ? procs : "";
  job.replicas.push_back(node);
  if (ps.replicas > 0) job.replicas.push_back(ps);
  job.tf_config = runtime->tensorflow;
  // JobSet's defaults: the job succeeds when every node's pod has succeeded, and fails when the
  // trainer Job has used its backoffLimit. The ps tasks end when the chief tells them to.
  job.success_policy = "AllWorkers";
  job.run_policy.backoff_limit = runtime->backoff_limit;
  job.run_policy.clean_pod_policy = job.tf_config ? "None" : "All";
  return job;
}

std::vector<std::pair<std::string, std::string>> TrainJobPodEnv(const TfJob& job, const std::vector<TrainJobPod>& pods,
                                                                 size_t which, const std::string& dataset_dir) {
  const TrainJobPod& pod = pods[which];
  std::vector<std::pair<std::string, std::string>> env;
  if (pod.job == "node") env.emplace_back("JOB_COMPLETION_INDEX", std::to_string(pod.index));
  int nodes = 0;
  for (const TrainJobPod& p : pods) nodes += p.job == "node";
  if (!job.nproc_per_node.empty()) {
    const std::string& master = pods.front().address;
    const size_t colon = master.rfind(':');
    env.insert(env.end(), {{"PET_NNODES", std::to_string(nodes)},
                           {"PET_NPROC_PER_NODE", job.nproc_per_node},
                           {"PET_NODE_RANK", std::to_string(pod.index)},
                           {"PET_MASTER_ADDR", master.substr(0, colon)},
                           {"PET_MASTER_PORT", master.substr(colon + 1)}});
  }
  if (job.tf_config) {
    // node-0 is the chief, node-i worker i-1, ps-j ps j.
    auto role = [](const TrainJobPod& p) -> std::pair<std::string, int> {
      if (p.job == "ps") return {"ps", p.index};
      return p.index == 0 ? std::make_pair(std::string("chief"), 0) : std::make_pair(std::string("worker"), p.index - 1);
    };
    Json cluster = Json::object();
    for (const TrainJobPod& p : pods) cluster[role(p).first].push_back(p.address);
    const auto [type, index] = role(pod);
    env.emplace_back("TF_CONFIG",
                     Json({{"cluster", cluster}, {"task", {{"type", type}, {"index", index}}}, {"environment", "cloud"}}).dump());
  }
  if (!dataset_dir.empty()) env.emplace_back("LOOM_DATASET_DIR", dataset_dir);
  return env;
}

void ToTrainJobStatus(Json* status) {
  Json& s = *status;
  Json conditions = Json::array();
  // As meta.SetStatusCondition: a condition of the same type is replaced where it stands.
  auto set = [&](const std::string& type, const std::string& value, const std::string& reason, const std::string& message,
                 const Json& from) {
    Json condition = {{"type", type}, {"status", value}, {"reason", reason}, {"message", message},
                      {"lastTransitionTime", from.value("lastTransitionTime", "")}};
    for (Json& c : conditions)
      if (c["type"] == type) {
        c = std::move(condition);
        return;
      }
    conditions.push_back(std::move(condition));
  };
  bool finished = false, suspended = false, failed = false;
  for (const Json& c : s.value("conditions", Json::array())) {
    const std::string type = c.value("type", "");
    if (type == "Suspended") {
      set("Suspended", "True", "Suspended", "TrainJob is suspended", c);
      suspended = true;
    } else if (type == "Resumed") {
      set("Suspended", "False", "Resumed", "TrainJob is resumed", c);
    } else if (type == "Succeeded") {
      set("Complete", "True", "AllJobsCompleted", "jobset completed successfully", c);
      finished = true;
    } else if (type == "Failed") {
      set("Failed", "True", c.value("reason", "") == "DeadlineExceeded" ? "DeadlineExceeded" : "FailedJobs",
          c.value("message", ""), c);
      finished = failed = true;
    }
  }
  // Each replicated job ("node", and "ps" under the tensorflow policy) is one child Job of
  // its pods, listed in the order the controller keeps them (the trainer's first).
  Json jobs = Json::array();
  std::vector<std::string> names;
  for (const Json& pod : s.contains("local") ? s["local"].value("replicas", Json::array()) : Json::array()) {
    const std::string name = pod.value("name", "");
    const std::string job = name.substr(0, name.rfind('-'));
    if (std::find(names.begin(), names.end(), job) == names.end()) names.push_back(job);
  }
  if (names.empty()) names.push_back("node");
  // The dataset initializer's Job: one pod, which ran in the controller.
  if (s.contains("replicaStatuses") && s["replicaStatuses"].contains("dataset-initializer")) {
    const Json& c = s["replicaStatuses"]["dataset-initializer"];
    jobs.push_back({{"name", "dataset-initializer"}, {"active", c.value("active", 0)}, {"ready", c.value("active", 0)},
                    {"succeeded", c.value("succeeded", 0)}, {"failed", c.value("failed", 0)}, {"suspended", suspended ? 1 : 0}});
  }
  for (const std::string& name : names) {
    int pods = 0;
    for (const Json& pod : s.contains("local") ? s["local"].value("replicas", Json::array()) : Json::array())
      pods += pod.value("name", "").rfind(name + "-", 0) == 0;
    const Json counts =
        s.contains("replicaStatuses") && s["replicaStatuses"].contains(name) ? s["replicaStatuses"][name] : Json::object();
    const int active = counts.value("active", 0), succeeded = counts.value("succeeded", 0);
    const bool running = !finished && !suspended && active > 0;
    jobs.push_back({{"name", name},
                    {"active", running ? 1 : 0},
                    {"ready", running && active + succeeded >= pods ? 1 : 0},
                    {"succeeded", finished && !failed ? 1 : 0},
                    {"failed", failed ? 1 : 0},
                    {"suspended", suspended ? 1 : 0}});
  }
  s["conditions"] = conditions;
  s["jobsStatus"] = jobs;
  s.erase("replicaStatuses");
}

std::string TrainJobPhase(const Json& status) {
  for (const Json& c : status.value("conditions", Json::array())) {
    if (c.value("status", "") != "True") continue;
    if (c.value("type", "") == "Failed") return "Failed";
    if (c.value("type", "") == "Complete") return "Succeeded";
    if (c.value("type", "") == "Suspended") return "Suspended";
  }
  for (const Json& j : status.value("jobsStatus", Json::array()))
    if (j.value("active", 0) > 0) return "Running";
  return "Created";
}

}  // namespace loom::job
