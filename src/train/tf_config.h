// Who is who in a distributed training job: the cluster (chief, workers, ps tasks, evaluator)
// and this process's task, from TF_CONFIG (as the TFJob operator sets it; docs/formats.md) or
// from mnist_replica.py's flags (--job_name --task_index --ps_hosts --worker_hosts
// [--master_hosts]). Both end in one ClusterSpec, so the rest of training sees one shape.
// `master` is an alias of `chief`; without a chief, worker 0 is the chief. Errors name the
// field or flag: `TF_CONFIG.task.index: 3 is out of range for 2 workers`.
//
// Only tools/ read the environment: these functions take the text and the flag values.
#pragma once

#include <string>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace loom::train {

enum class TaskType { kChief, kWorker, kPs, kEvaluator };

// "chief", "worker", "ps", "evaluator".
const char* TaskTypeName(TaskType type);

struct ClusterSpec {
  std::vector<std::string> chief;      // "host:port"; at most one
  std::vector<std::string> worker;
  std::vector<std::string> ps;
  std::vector<std::string> evaluator;  // at most one; may be empty even for an evaluator task
  TaskType task_type = TaskType::kWorker;
  int task_index = 0;
  std::string environment;             // TF_CONFIG.environment ("cloud"), informational

  // The chief: the chief task, or worker 0 when the cluster has no chief.
  bool IsChief() const;
  // The tasks that compute gradients, in order: the chief (when there is one), then the workers.
  int NumReplicas() const;
  // This task's place among NumReplicas() (its data shard); -1 for ps and evaluator tasks.
  int ReplicaIndex() const;
  // The address this task serves on (a ps task listens here), or "" when the cluster does not
  // list it (an evaluator).
  std::string TaskAddress() const;
  // The TF_CONFIG that names this cluster and task (chief as "chief").
  Json ToTfConfig() const;
  // A stable multi-line description, for tests and `loom train` logs.
  std::string DebugString() const;
};

// Parses TF_CONFIG's text. `source` names it in errors ("TF_CONFIG").
// The cluster must have at least one ps task and one chief or worker (parameter-server
// training); a task's index must be in range; every address must be host:port and unique.
StatusOr<ClusterSpec> ParseTfConfig(const std::string& text, const std::string& source = "TF_CONFIG");

// mnist_replica.py's flags. Host lists are comma-separated host:port.
struct ReplicaFlags {
  std::string job_name;      // "ps", "worker", "master"/"chief", "evaluator"
  int task_index = 0;
  std::string ps_hosts;
  std::string worker_hosts;
  std::string master_hosts;  // optional: a separate chief
};

// The same checks as ParseTfConfig; errors name the flag (`--task_index: ...`).
StatusOr<ClusterSpec> ClusterSpecFromFlags(const ReplicaFlags& flags);

}  // namespace loom::train
