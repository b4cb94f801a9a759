#include "train/tf_config.h"

#include <array>
#include <cstdlib>
#include <map>
#include <sstream>

namespace loom::train {
namespace {

constexpr std::array<TaskType, 4> kTaskTypes = {TaskType::kChief, TaskType::kWorker, TaskType::kPs,
                                                TaskType::kEvaluator};

// How one source names its fields in errors.
struct FieldNames {
  std::string type;                  // "TF_CONFIG.task.type" or "--job_name"
  std::string index;                 // "TF_CONFIG.task.index" or "--task_index"
  std::map<TaskType, std::string> list;  // "TF_CONFIG.cluster.worker" or "--worker_hosts"
};

std::vector<std::string>* List(ClusterSpec& spec, TaskType type) {
  switch (type) {
    case TaskType::kChief: return &spec.chief;
    case TaskType::kWorker: return &spec.worker;
    case TaskType::kPs: return &spec.ps;
    case TaskType::kEvaluator: return &spec.evaluator;
  }
  return nullptr;
}
const std::vector<std::string>& List(const ClusterSpec& spec, TaskType type) {
  return *List(const_cast<ClusterSpec&>(spec), type);
}

// "2 workers", "1 chief", "2 ps tasks", "0 evaluators".
std::string CountOf(size_t n, TaskType type) {
  std::string noun = type == TaskType::kPs ? "ps task" : TaskTypeName(type);
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

StatusOr<TaskType> ParseTaskType(const std::string& name, const std::string& field) {
  if (name == "chief" || name == "master") return TaskType::kChief;
  if (name == "worker") return TaskType::kWorker;
  if (name == "ps") return TaskType::kPs;
  if (name == "evaluator") return TaskType::kEvaluator;
  return InvalidArgument(field + ": \"" + name + "\" is not chief, master, worker, ps or evaluator");
}

// host:port with a non-empty host (a bracketed IPv6 literal allowed) and a port in 1..65535.
Status CheckAddress(const std::string& address, const std::string& field) {
  const size_t colon = address.rfind(':');
  const std::string bad = field + ": \"" + address + "\" is not host:port";
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) return InvalidArgument(bad);
  const std::string host = address.substr(0, colon), port = address.substr(colon + 1);
  if (host.find(':') != std::string::npos && (host.front() != '[' || host.back() != ']'))
    return InvalidArgument(bad + " (write an IPv6 host in brackets)");
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return InvalidArgument(bad);
  const int value = std::atoi(port.c_str());
  if (value < 1 || value > 65535)
    return InvalidArgument(field + ": port " + port + " of \"" + address + "\" is not in 1..65535");
  return OkStatus();
}

// The checks both sources share, on a spec whose lists and task are filled in.
Status Validate(const ClusterSpec& spec, const FieldNames& names) {
  std::map<std::string, std::string> seen;  // address -> the field that named it first
  for (TaskType type : kTaskTypes) {
    const auto& list = List(spec, type);
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string field = JoinField(names.list.at(type), i);
      LOOM_RETURN_IF_ERROR(CheckAddress(list[i], field));
      auto [it, inserted] = seen.emplace(list[i], field);
      if (!inserted) return InvalidArgument(field + ": \"" + list[i] + "\" is also " + it->second);
    }
  }
  if (spec.chief.size() > 1)
    return InvalidArgument(names.list.at(TaskType::kChief) + ": " + CountOf(spec.chief.size(), TaskType::kChief) +
                           "; a cluster has at most one");
  if (spec.evaluator.size() > 1)
    return InvalidArgument(names.list.at(TaskType::kEvaluator) + ": " +
                           CountOf(spec.evaluator.size(), TaskType::kEvaluator) + "; a cluster has at most one");
  if (spec.ps.empty())
    return InvalidArgument(names.list.at(TaskType::kPs) +
                           ": missing; parameter-server training needs at least one ps task");
  if (spec.chief.empty() && spec.worker.empty())
    return InvalidArgument(names.list.at(TaskType::kWorker) +
                           ": missing; training needs a chief or at least one worker");
  if (spec.task_index < 0)
    return InvalidArgument(names.index + ": " + std::to_string(spec.task_index) + " is negative");
  const auto& own = List(spec, spec.task_type);
  // An evaluator need not be listed in the cluster (TF's convention); then it is evaluator 0.
  const size_t count = spec.task_type == TaskType::kEvaluator && own.empty() ? 1 : own.size();
  if (own.empty() && spec.task_type != TaskType::kEvaluator)
    return InvalidArgument(names.type + ": " + TaskTypeName(spec.task_type) + ", but " +
                           names.list.at(spec.task_type) + " is empty");
  if (static_cast<size_t>(spec.task_index) >= count)
    return InvalidArgument(names.index + ": " + std::to_string(spec.task_index) +
                           " is out of range for " + CountOf(count, spec.task_type));
  return OkStatus();
}

// A JSON list of "host:port" strings.
Status ReadHostList(const Json& value, const std::string& field, std::vector<std::string>* out) {
  if (!value.is_array()) return InvalidArgument(field + ": must be a list of \"host:port\" strings");
  for (size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_string())
      return InvalidArgument(JoinField(field, i) + ": must be a \"host:port\" string, not " +
                             value[i].dump());
    out->push_back(value[i].get<std::string>());
  }
  return OkStatus();
}

std::vector<std::string> SplitHosts(const std::string& text) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(item);
  if (text.back() == ',') out.push_back("");
  return out;
}

std::string JoinHosts(const std::vector<std::string>& hosts) {
  std::string out;
  for (const auto& h : hosts) out += (out.empty() ? "" : ", ") + h;
  return out;
}

}  // namespace

const char* TaskTypeName(TaskType type) {
  switch (type) {
    case TaskType::kChief: return "chief";
    case TaskType::kWorker: return "worker";
    case TaskType::kPs: return "ps";
    case TaskType::kEvaluator: return "evaluator";
  }
  return "?";
}

bool ClusterSpec::IsChief() const {
  if (task_type == TaskType::kChief) return true;
  return chief.empty() && task_type == TaskType::kWorker && task_index == 0;
}

int ClusterSpec::NumReplicas() const { return static_cast<int>(chief.size() + worker.size()); }

int ClusterSpec::ReplicaIndex() const {
  if (task_type == TaskType::kChief) return 0;
  if (task_type == TaskType::kWorker) return static_cast<int>(chief.size()) + task_index;
  return -1;
}

std::string ClusterSpec::TaskAddress() const {
  const auto& own = List(*this, task_type);
  return static_cast<size_t>(task_index) < own.size() ? own[static_cast<size_t>(task_index)] : "";
}

Json ClusterSpec::ToTfConfig() const {
  Json cluster = Json::object();
  for (TaskType type : kTaskTypes)
    if (!List(*this, type).empty()) cluster[TaskTypeName(type)] = List(*this, type);
  Json config = {{"cluster", cluster}, {"task", {{"type", TaskTypeName(task_type)}, {"index", task_index}}}};
  if (!environment.empty()) config["environment"] = environment;
  return config;
}

std::string ClusterSpec::DebugString() const {
  std::string out = std::string("task: ") + TaskTypeName(task_type) + " " + std::to_string(task_index);
  out += IsChief() ? " (the chief)" : "";
  if (ReplicaIndex() >= 0)
    out += ", replica " + std::to_string(ReplicaIndex()) + " of " + std::to_string(NumReplicas());
  out += "\n";
  for (TaskType type : kTaskTypes)
    if (!List(*this, type).empty()) out += std::string(TaskTypeName(type)) + ": " + JoinHosts(List(*this, type)) + "\n";
  if (!environment.empty()) out += "environment: " + environment + "\n";
  return out;
}

StatusOr<ClusterSpec> ParseTfConfig(const std::string& text, const std::string& source) {
  LOOM_ASSIGN_OR_RETURN(Json config, ParseJson(text, source));
  if (!config.is_object()) return InvalidArgument(source + ": must be a JSON object");
  FieldNames names;
  names.type = source + ".task.type";
  names.index = source + ".task.index";
  ClusterSpec spec;
  for (auto it = config.begin(); it != config.end(); ++it) {
    const std::string key = it.key();
    if (key != "cluster" && key != "task" && key != "environment" && key != "rpc_layer")
      return InvalidArgument(JoinField(source, key) + ": unknown field (cluster, task, environment, rpc_layer)");
  }
  if (!config.contains("cluster")) return InvalidArgument(source + ".cluster: missing");
  const Json& cluster = config["cluster"];
  const std::string cluster_field = source + ".cluster";
  if (!cluster.is_object()) return InvalidArgument(cluster_field + ": must be an object of job name to hosts");
  for (TaskType type : kTaskTypes) names.list[type] = JoinField(cluster_field, TaskTypeName(type));
  for (auto it = cluster.begin(); it != cluster.end(); ++it) {
    const std::string job = it.key(), field = JoinField(cluster_field, job);
    auto type = ParseTaskType(job, field);
    if (!type.ok())
      return InvalidArgument(field + ": unknown job (chief, master, worker, ps, evaluator)");
    if (job == "master") {
      if (cluster.contains("chief"))
        return InvalidArgument(field + ": given with " + names.list[TaskType::kChief] +
                               "; master is an alias of chief, give one");
      names.list[TaskType::kChief] = field;
    }
    LOOM_RETURN_IF_ERROR(ReadHostList(it.value(), field, List(spec, *type)));
  }
  if (!config.contains("task")) return InvalidArgument(source + ".task: missing");
  const Json& task = config["task"];
  if (!task.is_object()) return InvalidArgument(source + ".task: must be an object with type and index");
  for (auto it = task.begin(); it != task.end(); ++it)
    if (it.key() != "type" && it.key() != "index" && it.key() != "trial")
      return InvalidArgument(JoinField(source + ".task", it.key()) + ": unknown field (type, index)");
  if (!task.contains("type")) return InvalidArgument(names.type + ": missing");
  if (!task["type"].is_string()) return InvalidArgument(names.type + ": must be a string, not " + task["type"].dump());
  LOOM_ASSIGN_OR_RETURN(spec.task_type, ParseTaskType(task["type"].get<std::string>(), names.type));
  if (task.contains("index")) {
    const Json& index = task["index"];
    if (!index.is_number_integer())
      return InvalidArgument(names.index + ": must be an integer, not " + index.dump());
    if (index.get<int64_t>() > 1 << 20 || index.get<int64_t>() < -(1 << 20))
      return InvalidArgument(names.index + ": " + index.dump() + " is out of range");
    spec.task_index = index.get<int>();
  }
  if (config.contains("environment")) {
    if (!config["environment"].is_string())
      return InvalidArgument(source + ".environment: must be a string, not " + config["environment"].dump());
    spec.environment = config["environment"].get<std::string>();
  }
  if (config.contains("rpc_layer") &&
      (!config["rpc_layer"].is_string() || config["rpc_layer"].get<std::string>() != "grpc"))
    return InvalidArgument(source + ".rpc_layer: " + config["rpc_layer"].dump() + " is not \"grpc\"");
  LOOM_RETURN_IF_ERROR(Validate(spec, names));
  return spec;
}

StatusOr<ClusterSpec> ClusterSpecFromFlags(const ReplicaFlags& flags) {
  FieldNames names;
  names.type = "--job_name";
  names.index = "--task_index";
  names.list = {{TaskType::kChief, "--master_hosts"},
                {TaskType::kWorker, "--worker_hosts"},
                {TaskType::kPs, "--ps_hosts"},
                {TaskType::kEvaluator, "--evaluator_hosts"}};
  if (flags.job_name.empty()) return InvalidArgument("--job_name: must be given (ps, worker, master or evaluator)");
  ClusterSpec spec;
  LOOM_ASSIGN_OR_RETURN(spec.task_type, ParseTaskType(flags.job_name, names.type));
  spec.task_index = flags.task_index;
  spec.ps = SplitHosts(flags.ps_hosts);
  spec.worker = SplitHosts(flags.worker_hosts);
  spec.chief = SplitHosts(flags.master_hosts);
  LOOM_RETURN_IF_ERROR(Validate(spec, names));
  return spec;
}

}  // namespace loom::train
