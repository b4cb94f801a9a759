#include "job/pytorchjob.h"

#include <map>
#include <set>

#include "core/file.h"
#include "core/yaml_lines.h"
#include "job/trainjob.h"

namespace loom::job {
namespace {

// Why a field Kubernetes knows is refused here, by its key; any key not listed (and not allowed
// where it stands) is refused as unknown.
const std::map<std::string, std::string>& Reasons() {
  static const auto* reasons = new std::map<std::string, std::string>{
      {"elasticPolicy", "elastic training (torchrun rendezvous, scaling between minReplicas and maxReplicas) is "
                        "not run locally; give fixed replicas"},
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
      {"initContainers", "only the pytorch container runs"},
      {"securityContext", "a replica runs as the user running the job"},
      {"serviceAccountName", "there is no API server to call"},
      {"status", "the status is written by the controller, not read from the file"},
  };
  return *reasons;
}

// Every key of `object` (at `field`; "" for the document) is one of `allowed`, or refused.
Status OnlyKnown(const Json& object, const std::string& field, const std::set<std::string>& allowed,
                 const std::string& source) {
  return OnlyKnownFields(object, field, allowed, Reasons(), "PyTorchJob", source);
}

// The fields of one replica spec that act; the parser reads them.
Status CheckReplicaFields(const std::string& type, const Json& spec, const std::string& field, const std::string& source,
                          int* master_port) {
  LOOM_RETURN_IF_ERROR(OnlyKnown(spec, field, {"replicas", "restartPolicy", "template"}, source));
  if (!spec.is_object() || !spec.contains("template")) return OkStatus();
  const std::string template_field = JoinField(field, "template");
  LOOM_RETURN_IF_ERROR(OnlyKnown(spec["template"], template_field, {"spec"}, source));
  if (!spec["template"].is_object() || !spec["template"].contains("spec")) return OkStatus();
  const std::string pod_field = JoinField(template_field, "spec");
  const Json& pod = spec["template"]["spec"];
  LOOM_RETURN_IF_ERROR(OnlyKnown(pod, pod_field, {"containers"}, source));
  if (!pod.is_object() || !pod.contains("containers") || !pod["containers"].is_array()) return OkStatus();
  const Json& containers = pod["containers"];
  for (size_t i = 0; i < containers.size(); ++i) {
    const std::string cf = JoinField(JoinField(pod_field, "containers"), i);
    const Json& c = containers[i];
    if (!c.is_object() || !c.contains("name") || c["name"] != "pytorch")
      return FieldError(source, JoinField(cf, "name"),
                        (c.is_object() && c.contains("name") ? c["name"].dump() : "missing") +
                            ": not supported on one machine: only the container named pytorch runs");
    LOOM_RETURN_IF_ERROR(
        OnlyKnown(c, cf, {"name", "image", "imagePullPolicy", "command", "args", "env", "workingDir", "ports"}, source));
    if (!c.contains("ports")) continue;
    // The operator's MASTER_PORT is the Master's port named pytorchjob-port; locally it is what
    // that port says, else a free one.
    const Json& ports = c["ports"];
    if (!ports.is_array()) return FieldError(source, JoinField(cf, "ports"), "must be a list");
    for (size_t k = 0; k < ports.size(); ++k) {
      const std::string pf = JoinField(JoinField(cf, "ports"), k);
      const Json& p = ports[k];
      if (!p.is_object() || p.value("name", Json()) != "pytorchjob-port" || type != "Master")
        return FieldError(source, pf, "not supported on one machine: only the Master's port named pytorchjob-port "
                                      "acts (it is MASTER_PORT)");
      LOOM_RETURN_IF_ERROR(OnlyKnown(p, pf, {"name", "containerPort", "protocol"}, source));
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

}  // namespace

StatusOr<TfJob> ParsePyTorchJob(const Json& doc, const std::string& source) {
  TfJob job;
  LOOM_RETURN_IF_ERROR(ParseHeader(doc, source, "PyTorchJob", &job));
  LOOM_RETURN_IF_ERROR(OnlyKnown(doc, "", {"apiVersion", "kind", "metadata", "spec"}, source));
  LOOM_RETURN_IF_ERROR(OnlyKnown(doc["metadata"], "metadata", {"name", "namespace", "labels", "annotations"}, source));
  const Json& spec = doc["spec"];
  LOOM_RETURN_IF_ERROR(OnlyKnown(spec, "spec", {"pytorchReplicaSpecs", "runPolicy", "nprocPerNode"}, source));
  if (spec.contains("runPolicy"))
    LOOM_RETURN_IF_ERROR(OnlyKnown(spec["runPolicy"], "spec.runPolicy",
                                   {"backoffLimit", "activeDeadlineSeconds", "cleanPodPolicy", "ttlSecondsAfterFinished"},
                                   source));
  if (!spec.contains("pytorchReplicaSpecs") || !spec["pytorchReplicaSpecs"].is_object() ||
      spec["pytorchReplicaSpecs"].empty())
    return FieldError(source, "spec.pytorchReplicaSpecs", "missing or empty: the job has no replicas");
  const Json& replicas = spec["pytorchReplicaSpecs"];
  for (auto it = replicas.begin(); it != replicas.end(); ++it)
    if (it.key() != "Master" && it.key() != "Worker")
      return FieldError(source, "spec.pytorchReplicaSpecs." + it.key(), "unknown replica type (Master, Worker)");
  if (!replicas.contains("Master"))
    return FieldError(source, "spec.pytorchReplicaSpecs.Master",
                      "missing; a PyTorchJob needs one Master (rank 0, whose exit decides the job)");
  for (const char* type : {"Master", "Worker"}) {
    if (!replicas.contains(type)) continue;
    const std::string field = std::string("spec.pytorchReplicaSpecs.") + type;
    LOOM_RETURN_IF_ERROR(CheckReplicaFields(type, replicas[type], field, source, &job.master_port));
    ReplicaSpec r;
    r.task_type = std::string(type) == "Master" ? train::TaskType::kChief : train::TaskType::kWorker;
    LOOM_RETURN_IF_ERROR(ParseReplica(type, replicas[type], field, source, "pytorch", &r));
    if (r.task_type == train::TaskType::kChief && r.replicas != 1)
      return FieldError(source, field + ".replicas", std::to_string(r.replicas) + "; a PyTorchJob has exactly 1 Master");
    job.replicas.push_back(std::move(r));
  }
  LOOM_RETURN_IF_ERROR(ParseRunPolicy(spec, source, &job.run_policy));
  job.nproc_per_node = "auto";
  if (spec.contains("nprocPerNode")) {
    const Json& n = spec["nprocPerNode"];
    const std::string value = n.is_string() ? n.get<std::string>() : "";
    const bool number = !value.empty() && value.size() <= 3 &&
                        value.find_first_not_of("0123456789") == std::string::npos && std::stoi(value) > 0;
    if (value != "auto" && value != "cpu" && !number)
      return FieldError(source, "spec.nprocPerNode",
                        n.dump() + " is not \"auto\", \"cpu\" or a positive number (as a string); \"gpu\" is not "
                                   "supported on one machine without GPUs");
    job.nproc_per_node = value;
  }
  return job;
}

StatusOr<TfJob> ParseJob(const Json& doc, const std::string& source) {
  const std::string kind = doc.is_object() && doc.contains("kind") && doc["kind"].is_string() ? doc["kind"].get<std::string>() : "";
  if (kind == "TFJob") return ParseTfJob(doc, source);
  if (kind == "PyTorchJob") return ParsePyTorchJob(doc, source);
  if (kind == "TrainJob") return ParseTrainJob(doc, source, RuntimeStore(RuntimeStore::DefaultDir()));
  if (!doc.is_object()) return InvalidArgument(source + ": must be a TFJob, PyTorchJob or TrainJob object");
  return FieldError(source, "kind",
                    (doc.contains("kind") ? doc["kind"].dump() : "missing") + "; expected TFJob, PyTorchJob or TrainJob");
}

StatusOr<TfJob> ReadJob(const std::string& path) {
  LOOM_ASSIGN_OR_RETURN(Json doc, ReadJsonOrYamlFile(path));
  StatusOr<TfJob> job = ParseJob(doc, path);
  if (job.ok()) return job;
  // "<path>: <field>: why" becomes "<path>:<line>: <field>: why", the line of the field or of
  // its nearest parent in the file.
  const std::string message = job.status().message();
  const std::string prefix = path + ": ";
  auto text = ReadFile(path);
  if (message.compare(0, prefix.size(), prefix) != 0 || !text.ok()) return job;
  auto lines = YamlFieldLines(*text);
  if (!lines.ok()) return job;
  const std::string rest = message.substr(prefix.size());
  for (std::string field = rest.substr(0, rest.find(": ")); !field.empty();) {
    if (auto it = lines->find(field); it != lines->end())
      return InvalidArgument(path + ":" + std::to_string(it->second) + ": " + rest);
    const size_t cut = field.find_last_of(".[");
    field = cut == std::string::npos ? "" : field.substr(0, cut);
  }
  return job;
}

}  // namespace loom::job
