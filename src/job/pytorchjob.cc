#include "job/pytorchjob.h"

#include <map>
#include <set>

#include "core/file.h"
#include "core/yaml_lines.h"
#include "job/trainjob.h"

namespace loom::job {

StatusOr<TfJob> ParsePyTorchJob(const Json& doc, const std::string& source) {
  TfJob job;
  LOOM_RETURN_IF_ERROR(ParseHeader(doc, source, "PyTorchJob", &job));
  LOOM_RETURN_IF_ERROR(CheckJobFields(doc, "PyTorchJob", {"pytorchReplicaSpecs", "runPolicy", "nprocPerNode"}, source));
  const Json& spec = doc["spec"];
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
    LOOM_RETURN_IF_ERROR(CheckReplicaFields("PyTorchJob", "pytorch", type, replicas[type], field, source, &job.master_port));
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
  // "<path>: <field>: why" becomes "<path>:<line>: <field>: why".
  auto text = ReadFile(path);
  if (!text.ok()) return job;
  return WithFieldLine(job.status(), path, *text);
}

}  // namespace loom::job
