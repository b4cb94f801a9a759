#include "job/tfjob.h"

#include <algorithm>
#include <map>

namespace loom::job {
namespace {

std::string Field(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : JoinField(parent, key);
}

Status Err(const std::string& source, const std::string& field, const std::string& message) {
  return FieldError(source, field, message);
}

// A list of strings at `field` (absent: empty).
Status ReadStrings(const Json& parent, const std::string& key, const std::string& field, const std::string& source,
                   std::vector<std::string>* out) {
  if (!parent.contains(key)) return OkStatus();
  const Json& list = parent[key];
  if (!list.is_array()) return Err(source, field, "must be a list of strings");
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i].is_string()) out->push_back(list[i].get<std::string>());
    else if (list[i].is_number() || list[i].is_boolean()) out->push_back(list[i].dump());
    else return Err(source, JoinField(field, i), "must be a string, not " + list[i].dump());
  }
  return OkStatus();
}

StatusOr<int64_t> ReadInt(const Json& parent, const std::string& key, const std::string& field,
                          const std::string& source, int64_t fallback) {
  if (!parent.contains(key)) return fallback;
  const Json& v = parent[key];
  if (!v.is_number_integer()) return Err(source, field, "must be an integer, not " + v.dump());
  return v.get<int64_t>();
}

StatusOr<RestartPolicy> ParseRestartPolicy(const Json& v, const std::string& field, const std::string& source) {
  if (!v.is_string()) return Err(source, field, "must be a string");
  const std::string s = v.get<std::string>();
  if (s == "Never") return RestartPolicy::kNever;
  if (s == "OnFailure") return RestartPolicy::kOnFailure;
  if (s == "Always") return RestartPolicy::kAlways;
  if (s == "ExitCode") return RestartPolicy::kExitCode;
  return Err(source, field, "\"" + s + "\" is not Never, OnFailure, Always or ExitCode");
}

}  // namespace

Status ParseReplica(const std::string& type, const Json& spec, const std::string& field, const std::string& source,
                    const std::string& container, ReplicaSpec* out) {
  out->type = type;
  if (!spec.is_object()) return Err(source, field, "must be an object");
  LOOM_ASSIGN_OR_RETURN(int64_t replicas, ReadInt(spec, "replicas", Field(field, "replicas"), source, 1));
  if (replicas < 0) return Err(source, Field(field, "replicas"), std::to_string(replicas) + " is negative");
  if (replicas > 64) return Err(source, Field(field, "replicas"), std::to_string(replicas) + " is more than 64 on one machine");
  out->replicas = static_cast<int>(replicas);
  if (spec.contains("restartPolicy")) {
    LOOM_ASSIGN_OR_RETURN(out->restart_policy,
                          ParseRestartPolicy(spec["restartPolicy"], Field(field, "restartPolicy"), source));
  }
  const std::string containers_field = Field(field, "template.spec.containers");
  if (!spec.contains("template") || !spec["template"].is_object() || !spec["template"].contains("spec") ||
      !spec["template"]["spec"].is_object() || !spec["template"]["spec"].contains("containers"))
    return Err(source, containers_field, "missing; the replica needs a container named " + container);
  const Json& containers = spec["template"]["spec"]["containers"];
  if (!containers.is_array()) return Err(source, containers_field, "must be a list");
  for (size_t i = 0; i < containers.size(); ++i) {
    const Json& c = containers[i];
    if (!c.is_object() || !c.contains("name") || c["name"] != container) continue;
    const std::string cf = JoinField(containers_field, i);
    LOOM_RETURN_IF_ERROR(ParseContainer(c, cf, source, out));
    if (out->command.empty() && out->args.empty())
      return Err(source, cf, "has neither command nor args: nothing to run (the image is not pulled)");
    return OkStatus();
  }
  return Err(source, containers_field, "no container named " + container);
}

Status ParseContainer(const Json& c, const std::string& cf, const std::string& source, ReplicaSpec* out) {
  if (c.contains("image")) {
    if (!c["image"].is_string()) return Err(source, Field(cf, "image"), "must be a string");
    out->image = c["image"].get<std::string>();
  }
  if (c.contains("imagePullPolicy")) {
    const Json& p = c["imagePullPolicy"];
    if (!p.is_string() || (p != "Always" && p != "IfNotPresent" && p != "Never"))
      return Err(source, Field(cf, "imagePullPolicy"), p.dump() + " is not Always, IfNotPresent or Never");
    out->image_pull_policy = p.get<std::string>();
  }
  LOOM_RETURN_IF_ERROR(ReadStrings(c, "command", Field(cf, "command"), source, &out->command));
  LOOM_RETURN_IF_ERROR(ReadStrings(c, "args", Field(cf, "args"), source, &out->args));
  if (c.contains("workingDir")) {
    if (!c["workingDir"].is_string()) return Err(source, Field(cf, "workingDir"), "must be a string");
    out->working_dir = c["workingDir"].get<std::string>();
  }
  return ParseEnv(c, Field(cf, "env"), source, &out->env);
}

Status ParseEnv(const Json& container, const std::string& field, const std::string& source,
                std::vector<std::pair<std::string, std::string>>* out) {
  if (!container.contains("env")) return OkStatus();
  const Json& env = container["env"];
  if (!env.is_array()) return Err(source, field, "must be a list of {name, value}");
  for (size_t k = 0; k < env.size(); ++k) {
    const std::string ef = JoinField(field, k);
    if (!env[k].is_object() || !env[k].contains("name") || !env[k]["name"].is_string())
      return Err(source, ef, "must have a name");
    if (env[k].contains("valueFrom")) return Err(source, Field(ef, "valueFrom"), "is not supported locally; give value");
    std::string value;
    if (env[k].contains("value")) {
      const Json& v = env[k]["value"];
      value = v.is_string() ? v.get<std::string>() : v.dump();
    }
    out->emplace_back(env[k]["name"].get<std::string>(), value);
  }
  return OkStatus();
}

Status FieldError(const std::string& source, const std::string& field, const std::string& message) {
  return InvalidArgument(source + ": " + field + ": " + message);
}

Status OnlyKnownFields(const Json& object, const std::string& field, const std::set<std::string>& allowed,
                       const std::map<std::string, std::string>& reasons, const std::string& kind,
                       const std::string& source) {
  if (!object.is_object()) return OkStatus();
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (allowed.count(it.key())) continue;
    auto reason = reasons.find(it.key());
    if (reason != reasons.end()) return Err(source, Field(field, it.key()), "not supported on one machine: " + reason->second);
    return Err(source, Field(field, it.key()),
               "unknown field; a " + kind + " has no such field" + (field.empty() ? "" : " here"));
  }
  return OkStatus();
}

std::string KubectlResource(const std::string& kind) {
  std::string out;
  for (char c : kind) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out + (kind == "TrainJob" ? ".trainer.kubeflow.org" : ".kubeflow.org");
}

const std::map<std::string, std::string>& KubeflowJobReasons() {
  static const auto* reasons = new std::map<std::string, std::string>{
      {"elasticPolicy", "elastic training (torchrun rendezvous, scaling between minReplicas and maxReplicas) is "
                        "not run locally; give fixed replicas"},
      {"enableDynamicWorker", "the workers are fixed: TF_CONFIG is written once, when a replica starts"},
      {"schedulingPolicy", "there is no gang scheduler; every replica starts at once"},
      {"suspend", "a job runs when `loom job run` starts it"},
      {"managedBy", "the local controller manages every job it runs"},
      {"metadata", "a replica is a process, which has no labels or annotations"},
      {"resources", "a replica is a process; no requests or limits are enforced"},
      {"volumeMounts", "a replica is a process that sees the machine's files; there are no volumes"},
      {"volumes", "a replica is a process that sees the machine's files; there are no volumes"},
      {"nodeSelector", "there is one node"},
      {"affinity", "there is one node"},
      {"tolerations", "there is one node"},
      {"initContainers", "only the job's own container runs"},
      {"securityContext", "a replica runs as the user running the job"},
      {"serviceAccountName", "there is no API server to call"},
      {"status", "the status is written by the controller, not read from the file"},
  };
  return *reasons;
}

Status CheckJobFields(const Json& doc, const std::string& kind, const std::set<std::string>& spec_keys,
                      const std::string& source) {
  const auto& reasons = KubeflowJobReasons();
  LOOM_RETURN_IF_ERROR(OnlyKnownFields(doc, "", {"apiVersion", "kind", "metadata", "spec"}, reasons, kind, source));
  LOOM_RETURN_IF_ERROR(
      OnlyKnownFields(doc["metadata"], "metadata", {"name", "namespace", "labels", "annotations"}, reasons, kind, source));
  const Json& spec = doc["spec"];
  LOOM_RETURN_IF_ERROR(OnlyKnownFields(spec, "spec", spec_keys, reasons, kind, source));
  if (spec.contains("runPolicy"))
    LOOM_RETURN_IF_ERROR(OnlyKnownFields(spec["runPolicy"], "spec.runPolicy",
                                         {"backoffLimit", "activeDeadlineSeconds", "cleanPodPolicy", "ttlSecondsAfterFinished"},
                                         reasons, kind, source));
  return OkStatus();
}

Status CheckReplicaFields(const std::string& kind, const std::string& container, const std::string& type,
                          const Json& spec, const std::string& field, const std::string& source, int* master_port) {
  auto only = [&](const Json& object, const std::string& at, const std::set<std::string>& allowed) {
    return OnlyKnownFields(object, at, allowed, KubeflowJobReasons(), kind, source);
  };
  LOOM_RETURN_IF_ERROR(only(spec, field, {"replicas", "restartPolicy", "template"}));
  if (!spec.is_object() || !spec.contains("template")) return OkStatus();
  const std::string template_field = JoinField(field, "template");
  LOOM_RETURN_IF_ERROR(only(spec["template"], template_field, {"spec"}));
  if (!spec["template"].is_object() || !spec["template"].contains("spec")) return OkStatus();
  const std::string pod_field = JoinField(template_field, "spec");
  const Json& pod = spec["template"]["spec"];
  LOOM_RETURN_IF_ERROR(only(pod, pod_field, {"containers"}));
  if (!pod.is_object() || !pod.contains("containers") || !pod["containers"].is_array()) return OkStatus();
  const Json& containers = pod["containers"];
  for (size_t i = 0; i < containers.size(); ++i) {
    const std::string cf = JoinField(JoinField(pod_field, "containers"), i);
    const Json& c = containers[i];
    if (!c.is_object() || !c.contains("name") || c["name"] != container)
      return FieldError(source, JoinField(cf, "name"),
                        (c.is_object() && c.contains("name") ? c["name"].dump() : "missing") +
                            ": not supported on one machine: only the container named " + container + " runs");
    LOOM_RETURN_IF_ERROR(only(c, cf, {"name", "image", "imagePullPolicy", "command", "args", "env", "workingDir", "ports"}));
    if (!c.contains("ports")) continue;
    const Json& ports = c["ports"];
    if (!ports.is_array()) return FieldError(source, JoinField(cf, "ports"), "must be a list");
    for (size_t k = 0; k < ports.size(); ++k) {
      const std::string pf = JoinField(JoinField(cf, "ports"), k);
      const Json& p = ports[k];
      if (master_port == nullptr)
        return FieldError(source, pf, "not supported on one machine: each replica's port is chosen on 127.0.0.1 "
                                      "and named in TF_CONFIG");
      // The operator's MASTER_PORT is the Master's port named pytorchjob-port; locally it is
      // what that port says, else a free one.
      if (!p.is_object() || p.value("name", Json()) != "pytorchjob-port" || type != "Master")
        return FieldError(source, pf, "not supported on one machine: only the Master's port named pytorchjob-port "
                                      "acts (it is MASTER_PORT)");
      LOOM_RETURN_IF_ERROR(only(p, pf, {"name", "containerPort", "protocol"}));
      if (p.contains("protocol") && p["protocol"] != "TCP")
        return FieldError(source, JoinField(pf, "protocol"), p["protocol"].dump() + "; the rendezvous is TCP");
      if (!p.contains("containerPort") || !p["containerPort"].is_number_integer() ||
          p["containerPort"].get<int64_t>() < 1 || p["containerPort"].get<int64_t>() > 65535)
        return FieldError(source, JoinField(pf, "containerPort"), "must be a port number, 1-65535");
      *master_port = static_cast<int>(p["containerPort"].get<int64_t>());
    }
  }
  return OkStatus();
}

const char* RestartPolicyName(RestartPolicy policy) {
  switch (policy) {
    case RestartPolicy::kNever: return "Never";
    case RestartPolicy::kOnFailure: return "OnFailure";
    case RestartPolicy::kAlways: return "Always";
    case RestartPolicy::kExitCode: return "ExitCode";
  }
  return "?";
}

const ReplicaSpec* TfJob::Find(train::TaskType type) const {
  for (const ReplicaSpec& r : replicas)
    if (r.task_type == type) return &r;
  return nullptr;
}

std::string TfJob::DebugString() const {
  std::string out = (kind == "TFJob" ? "" : "kind: " + kind + "\n") + "name: " + name + "\nnamespace: " + namespace_name + "\n";
  for (const ReplicaSpec& r : replicas) {
    out += r.type + ": " + std::to_string(r.replicas) + " x " + train::TaskTypeName(r.task_type) +
           ", restartPolicy " + RestartPolicyName(r.restart_policy) + ", image " + (r.image.empty() ? "-" : r.image) + "\n";
    std::string cmd;
    for (const auto& c : r.command) cmd += (cmd.empty() ? "" : " ") + c;
    for (const auto& a : r.args) cmd += (cmd.empty() ? "" : " ") + a;
    out += "  run: " + cmd + "\n";
    for (const auto& [k, v] : r.env) out += "  env: " + k + "=" + v + "\n";
  }
  out += "runPolicy: backoffLimit " + std::to_string(run_policy.backoff_limit) + ", activeDeadlineSeconds " +
         std::to_string(run_policy.active_deadline_seconds) + ", cleanPodPolicy " + run_policy.clean_pod_policy +
         ", ttlSecondsAfterFinished " + std::to_string(run_policy.ttl_seconds_after_finished) + "\n";
  if (kind == "TFJob") out += "successPolicy: \"" + success_policy + "\"\n";
  if (!nproc_per_node.empty()) out += "nprocPerNode: " + nproc_per_node + "\n";
  if (master_port != 0) out += "masterPort: " + std::to_string(master_port) + "\n";
  if (!runtime.empty()) out += "runtime: " + runtime + "\n";
  if (!dataset_uri.empty()) {
    out += "dataset: " + dataset_uri;  // the settings by name only: they may hold credentials
    for (const auto& [k, v] : dataset_env) out += " " + k;
    out += dataset_secret.empty() ? "\n" : " secretRef " + dataset_secret + "\n";
  }
  if (suspend) out += "suspend: true\n";
  return out;
}

Status ParseRunPolicy(const Json& spec, const std::string& source, RunPolicy* out) {
  if (spec.contains("runPolicy")) {
    const Json& rp = spec["runPolicy"];
    if (!rp.is_object()) return Err(source, "spec.runPolicy", "must be an object");
    LOOM_ASSIGN_OR_RETURN(int64_t backoff, ReadInt(rp, "backoffLimit", "spec.runPolicy.backoffLimit", source, -1));
    if (rp.contains("backoffLimit") && backoff < 0)
      return Err(source, "spec.runPolicy.backoffLimit", std::to_string(backoff) + " is negative");
    out->backoff_limit = static_cast<int>(backoff);
    LOOM_ASSIGN_OR_RETURN(out->active_deadline_seconds,
                          ReadInt(rp, "activeDeadlineSeconds", "spec.runPolicy.activeDeadlineSeconds", source, 0));
    if (rp.contains("activeDeadlineSeconds") && out->active_deadline_seconds <= 0)
      return Err(source, "spec.runPolicy.activeDeadlineSeconds",
                 std::to_string(out->active_deadline_seconds) + " is not positive");
    LOOM_ASSIGN_OR_RETURN(out->ttl_seconds_after_finished,
                          ReadInt(rp, "ttlSecondsAfterFinished", "spec.runPolicy.ttlSecondsAfterFinished", source, -1));
    if (rp.contains("cleanPodPolicy")) {
      const Json& c = rp["cleanPodPolicy"];
      if (!c.is_string() || (c != "None" && c != "Running" && c != "All"))
        return Err(source, "spec.runPolicy.cleanPodPolicy", c.dump() + " is not None, Running or All");
      out->clean_pod_policy = c.get<std::string>();
    }
  }
  return OkStatus();
}

Status ParseHeader(const Json& doc, const std::string& source, const std::string& kind, TfJob* out) {
  TfJob& job = *out;
  if (!doc.is_object()) return InvalidArgument(source + ": must be a " + kind + " object");
  job.kind = kind;
  job.manifest = doc;
  if (!doc.contains("apiVersion") || doc["apiVersion"] != "kubeflow.org/v1")
    return Err(source, "apiVersion", (doc.contains("apiVersion") ? doc["apiVersion"].dump() : "missing") +
                                         "; expected kubeflow.org/v1");
  if (!doc.contains("kind") || doc["kind"] != kind)
    return Err(source, "kind", (doc.contains("kind") ? doc["kind"].dump() : "missing") + "; expected " + kind);
  if (!doc.contains("metadata") || !doc["metadata"].is_object() || !doc["metadata"].contains("name") ||
      !doc["metadata"]["name"].is_string() || doc["metadata"]["name"].get<std::string>().empty())
    return Err(source, "metadata.name", "missing");
  job.name = doc["metadata"]["name"].get<std::string>();
  if (job.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-.") != std::string::npos)
    return Err(source, "metadata.name", "\"" + job.name + "\" is not a DNS-1123 name (lower case, digits, '-', '.')");
  if (doc["metadata"].contains("namespace") && doc["metadata"]["namespace"].is_string())
    job.namespace_name = doc["metadata"]["namespace"].get<std::string>();
  if (!doc.contains("spec") || !doc["spec"].is_object()) return Err(source, "spec", "missing");
  return OkStatus();
}

StatusOr<TfJob> ParseTfJob(const Json& doc, const std::string& source) {
  TfJob job;
  LOOM_RETURN_IF_ERROR(ParseHeader(doc, source, "TFJob", &job));
  LOOM_RETURN_IF_ERROR(CheckJobFields(doc, "TFJob", {"tfReplicaSpecs", "runPolicy", "successPolicy"}, source));
  const Json& spec = doc["spec"];
  if (!spec.contains("tfReplicaSpecs") || !spec["tfReplicaSpecs"].is_object() || spec["tfReplicaSpecs"].empty())
    return Err(source, "spec.tfReplicaSpecs", "missing or empty: the job has no replicas");
  const Json& replicas = spec["tfReplicaSpecs"];
  const std::map<std::string, train::TaskType> kTypes = {{"Chief", train::TaskType::kChief},
                                                         {"Master", train::TaskType::kChief},
                                                         {"Worker", train::TaskType::kWorker},
                                                         {"PS", train::TaskType::kPs},
                                                         {"Evaluator", train::TaskType::kEvaluator}};
  for (auto it = replicas.begin(); it != replicas.end(); ++it) {
    const std::string field = "spec.tfReplicaSpecs." + it.key();
    auto type = kTypes.find(it.key());
    if (type == kTypes.end()) return Err(source, field, "unknown replica type (Chief, Master, Worker, PS, Evaluator)");
    ReplicaSpec r;
    r.task_type = type->second;
    LOOM_RETURN_IF_ERROR(CheckReplicaFields("TFJob", "tensorflow", it.key(), it.value(), field, source, nullptr));
    LOOM_RETURN_IF_ERROR(ParseReplica(it.key(), it.value(), field, source, "tensorflow", &r));
    job.replicas.push_back(std::move(r));
  }
  if (replicas.contains("Chief") && replicas.contains("Master"))
    return Err(source, "spec.tfReplicaSpecs.Master", "given with Chief; Master is the old name of Chief, give one");
  for (const ReplicaSpec& r : job.replicas)
    if ((r.task_type == train::TaskType::kChief || r.task_type == train::TaskType::kEvaluator) && r.replicas > 1)
      return Err(source, "spec.tfReplicaSpecs." + r.type + ".replicas", std::to_string(r.replicas) + "; at most 1");
  int total = 0;
  for (const ReplicaSpec& r : job.replicas) total += r.replicas;
  if (total == 0) return Err(source, "spec.tfReplicaSpecs", "every replica type has 0 replicas: nothing to run");
  auto order = [](const ReplicaSpec& r) {
    switch (r.task_type) {
      case train::TaskType::kChief: return 0;
      case train::TaskType::kPs: return 1;
      case train::TaskType::kWorker: return 2;
      case train::TaskType::kEvaluator: return 3;
    }
    return 4;
  };
  std::stable_sort(job.replicas.begin(), job.replicas.end(),
                   [&](const ReplicaSpec& a, const ReplicaSpec& b) { return order(a) < order(b); });

  LOOM_RETURN_IF_ERROR(ParseRunPolicy(spec, source, &job.run_policy));
  if (spec.contains("successPolicy")) {
    const Json& s = spec["successPolicy"];
    if (!s.is_string() || (s != "" && s != "AllWorkers"))
      return Err(source, "spec.successPolicy", s.dump() + " is not \"\" or AllWorkers");
    job.success_policy = s.get<std::string>();
  }
  return job;
}

StatusOr<TfJob> ReadTfJob(const std::string& path) {
  LOOM_ASSIGN_OR_RETURN(Json doc, ReadJsonOrYamlFile(path));
  return ParseTfJob(doc, path);
}

}  // namespace loom::job
