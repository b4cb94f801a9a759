// A TFJob (kubeflow.org/v1, as the Kubeflow training operator defines it) read from YAML or
// JSON into what the local job controller needs: per replica type its count, restart policy
// and the `tensorflow` container's image, command, args and env; the run policy and the
// success policy. Errors name the field: `spec.tfReplicaSpecs.Worker.replicas: -1 is negative`.
// The defaults are the operator's: restartPolicy Never, cleanPodPolicy None, replicas 1.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/json.h"
#include "core/status.h"
#include "train/tf_config.h"

namespace loom::job {

enum class RestartPolicy { kNever, kOnFailure, kAlways, kExitCode };
const char* RestartPolicyName(RestartPolicy policy);

struct ReplicaSpec {
  std::string type;                 // as written: "Chief", "Master", "Worker", "PS", "Evaluator"
  train::TaskType task_type = train::TaskType::kWorker;
  int replicas = 1;
  RestartPolicy restart_policy = RestartPolicy::kNever;
  std::string image;                // run with --pod-runtime container or auto (replica.h)
  std::string image_pull_policy;    // "", IfNotPresent or Never; Always is refused (no registry)
  std::vector<std::string> command; // the container's command (may be empty: args alone run)
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;  // on top of the caller's environment
  std::string working_dir;
};

struct RunPolicy {
  int backoff_limit = -1;            // restarts allowed in all (-1: unlimited)
  int64_t active_deadline_seconds = 0;  // 0: none
  std::string clean_pod_policy = "None";  // None, Running or All
  int64_t ttl_seconds_after_finished = -1;  // -1: unset
};

// A job of the kinds the local controller runs (TFJob, PyTorchJob, and a TrainJob resolved
// against its runtime): what differs between them is the environment each replica gets
// (TF_CONFIG; MASTER_ADDR, RANK, ... for PyTorch; PET_* for a TrainJob on the torch runtime).
struct TfJob {
  std::string kind = "TFJob";         // "TFJob", "PyTorchJob" or "TrainJob"
  std::string name;
  std::string namespace_name = "default";
  std::vector<ReplicaSpec> replicas;  // Chief/Master first, then PS, Worker, Evaluator
  RunPolicy run_policy;
  std::string success_policy;         // "" or "AllWorkers" (TFJob)
  std::string nproc_per_node;         // PyTorchJob: "auto", "cpu" or a number; TrainJob on the
                                      // torch runtime: a number; "" otherwise
  int master_port = 0;                // PyTorchJob: the Master's pytorchjob-port (0: a free port)
  std::string runtime;                // TrainJob: its resolved runtime, "<kind>/<name>"
  bool tf_config = false;             // TrainJob on a runtime with Loom's tensorflow policy:
                                      // TF_CONFIG for each node and ps task (job/trainjob.h)
  std::string dataset_uri;            // TrainJob: its dataset initializer's STORAGE_URI, fetched
                                      // into the dataset cache before any pod starts
  std::vector<std::pair<std::string, std::string>> dataset_env;  // the initializer's S3 settings
  std::string dataset_secret;         // its secretRef.name (`loom secret`): more settings
  bool suspend = false;               // TrainJob: spec.suspend (nothing runs)
  Json manifest;                      // the document as read

  // The replica spec of a task type, or nullptr.
  const ReplicaSpec* Find(train::TaskType type) const;
  // A stable multi-line description, for tests.
  std::string DebugString() const;
};

// kubectl's name of a kind's resource: "tfjob.kubeflow.org", "pytorchjob.kubeflow.org",
// "trainjob.trainer.kubeflow.org".
std::string KubectlResource(const std::string& kind);

// What each kind's parser shares. Errors read "<source>: <field>: <message>".
Status FieldError(const std::string& source, const std::string& field, const std::string& message);
// apiVersion (kubeflow.org/v1), kind, metadata.name and .namespace, and that spec is an object.
Status ParseHeader(const Json& document, const std::string& source, const std::string& kind, TfJob* out);
// One replica spec at `field`: replicas, restartPolicy and the container named `container`.
Status ParseReplica(const std::string& type, const Json& spec, const std::string& field, const std::string& source,
                    const std::string& container, ReplicaSpec* out);
// A container's image, command, args, workingDir and env (at `field`), into `out`.
Status ParseContainer(const Json& container, const std::string& field, const std::string& source, ReplicaSpec* out);
// A container's env list (at `field`: name and value; valueFrom is refused), appended to `out`.
Status ParseEnv(const Json& container, const std::string& field, const std::string& source,
                std::vector<std::pair<std::string, std::string>>* out);
// spec.runPolicy (absent: the defaults).
Status ParseRunPolicy(const Json& spec, const std::string& source, RunPolicy* out);

// Every key of `object` (at `field`; "" for the document) is one of `allowed`, or refused:
// "<field>.<key>: not supported on one machine: <reasons[key]>" for a key `reasons` explains,
// else "unknown field; a <kind> has no such field". Not an object: OK (the parsers say what it
// should be).
Status OnlyKnownFields(const Json& object, const std::string& field, const std::set<std::string>& allowed,
                       const std::map<std::string, std::string>& reasons, const std::string& kind,
                       const std::string& source);

// Why a field Kubernetes or the training operator knows is refused by the local controller, by
// its key (what OnlyKnownFields says for a TFJob's or PyTorchJob's fields).
const std::map<std::string, std::string>& KubeflowJobReasons();
// The document's top level, metadata, spec (its keys: `spec_keys`) and spec.runPolicy: each key
// acts or is refused (OnlyKnownFields with KubeflowJobReasons).
Status CheckJobFields(const Json& document, const std::string& kind, const std::set<std::string>& spec_keys,
                      const std::string& source);
// One replica spec's fields at `field`: replicas, restartPolicy and template.spec.containers,
// every container named `container` with the fields that act. Ports: a PyTorchJob's Master's
// port named pytorchjob-port sets *master_port; any other port is refused (master_port null:
// every port is; a TFJob's replicas get ports chosen on 127.0.0.1 in TF_CONFIG).
Status CheckReplicaFields(const std::string& kind, const std::string& container, const std::string& type,
                          const Json& spec, const std::string& field, const std::string& source, int* master_port);

// Validates a parsed document; `source` names it in errors (the file's path).
StatusOr<TfJob> ParseTfJob(const Json& document, const std::string& source);
// Reads and validates a TFJob file (YAML or JSON).
StatusOr<TfJob> ReadTfJob(const std::string& path);

}  // namespace loom::job
