// Kubeflow Trainer v2 (trainer.kubeflow.org/v1alpha1) on one machine: a TrainJob resolved
// against its TrainingRuntime or ClusterTrainingRuntime into the job the local controller runs,
// as Trainer's plugins resolve it. The runtime's JobSet template gives the trainer's "node"
// container (the replicated job labelled trainer.kubeflow.org/trainjob-ancestor-step: trainer);
// the TrainJob's trainer overrides its image, command and args and upserts its env;
// numNodes (the TrainJob's, else mlPolicy.numNodes) nodes run, node-0 .. node-<N-1>, each with
// JOB_COMPLETION_INDEX (an Indexed Job's) and, under mlPolicy.torch, the torch plugin's
// PET_NNODES, PET_NPROC_PER_NODE (numProcPerNode, else "auto": the CPUs of resourcesPerNode,
// at least 1), PET_NODE_RANK, PET_MASTER_ADDR and PET_MASTER_PORT (node-0's address; a free
// port on 127.0.0.1 where a cluster has 29500 on node-0's own IP). A command of `torchrun`
// reads them and starts numProcPerNode processes per node.
//
// The status is Trainer's: conditions Suspended, Complete and Failed (reasons as JobSet's and
// Trainer's: AllJobsCompleted, FailedJobs, DeadlineExceeded, Suspended, Resumed) and jobsStatus
// for each replicated job ("node"; "ps" below). Every field either acts or is refused with its path and why.
//
// Loom's own trainer (`loom train`, which takes its role from TF_CONFIG) has no plugin in
// Trainer; a runtime annotated trainer.loom.dev/ml-policy: tensorflow gets Loom's: node-0 is the
// chief, node-1 .. node-<N-1> the workers, and a replicated job named "ps" (no ancestor label;
// its replicas, one pod each) the parameter servers, each given the TF_CONFIG a TFJob's replicas
// get. Containers named node in any replicated job take the TrainJob's trainer overrides, as
// Trainer's jobset plugin applies them. The job is Complete when every node has exited 0 (the
// chief tells the ps tasks to exit). loom-distributed is that runtime, built in.
//
// Trainer's dataset initializer: a runtime with a replicated job labelled dataset-initializer (a
// container named dataset-initializer; the trainer's and ps jobs depend on it) runs it before
// the nodes; Loom does its work itself: spec.initializer.dataset.storageUri (s3:// or file://)
// is copied into the dataset cache ($LOOM_HOME/datasets/<bucket>/<prefix>, verified, what `loom
// data cache` keeps) with the S3 settings of the initializer's env (ENDPOINT, ACCESS_KEY_ID,
// SECRET_ACCESS_KEY, REGION, as Trainer's S3 initializer reads them; secretRef's keys from `loom
// secret`; unset: the controller's AWS_* environment). Where a cluster mounts the initializer's
// volume at /workspace/dataset, each pod gets LOOM_DATASET_DIR naming the cache directory
// (dataset_initializer.h does the fetching; the initializer's image is not run).
//
// Runtimes are kept in a RuntimeStore (a directory; `loom runtime apply|list|get|delete`);
// Trainer's torch-distributed ClusterTrainingRuntime and Loom's loom-distributed are built in.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/status.h"
#include "job/tfjob.h"

namespace loom::job {

inline constexpr char kTrainerApiVersion[] = "trainer.kubeflow.org/v1alpha1";

// A TrainingRuntime or ClusterTrainingRuntime, checked.
struct TrainingRuntime {
  std::string kind;                     // "ClusterTrainingRuntime" or "TrainingRuntime"
  std::string name;
  std::string namespace_name;           // a TrainingRuntime's ("default" unless given); "" for a cluster one
  std::string framework;                // its trainer.kubeflow.org/framework label, for listing
  int num_nodes = 1;                    // mlPolicy.numNodes
  bool torch = false;                   // mlPolicy.torch: the torch plugin's PET_* environment
  bool tensorflow = false;              // trainer.loom.dev/ml-policy: tensorflow: TF_CONFIG
  ReplicaSpec node;                     // the trainer's "node" container and the pod's restartPolicy
  ReplicaSpec ps;                       // tensorflow: the "ps" job's node container; ps.replicas 0: none
  bool dataset_initializer = false;     // a replicated job labelled dataset-initializer
  std::string initializer_job;          // its name (what the other jobs' dependsOn names)
  std::vector<std::pair<std::string, std::string>> initializer_env;  // its container's env
  int backoff_limit = 6;                // the trainer Job's backoffLimit (Kubernetes' default 6)
  Json resources = Json::object();      // the node container's resources (requests, limits)
  bool built_in = false;                // torch-distributed or loom-distributed, not read from the store
  Json manifest;                        // the document as read

  // "<kind>/<name>", or "<kind>/<namespace>/<name>" for a TrainingRuntime.
  std::string Ref() const;
};

// Validates a runtime document; `source` names it in errors.
StatusOr<TrainingRuntime> ParseTrainingRuntime(const Json& document, const std::string& source);

// The runtimes installed on this machine: <dir>/ClusterTrainingRuntime/<name>.json and
// <dir>/TrainingRuntime/<namespace>/<name>.json, each the manifest as applied. torch-distributed
// and loom-distributed are built in; applying one of such a name replaces it until it is
// deleted. Not thread-safe against another process applying the same name (the last write wins,
// as with kubectl apply).
class RuntimeStore {
 public:
  explicit RuntimeStore(std::string dir);
  // $LOOM_HOME/runtimes.
  static std::string DefaultDir();

  // Checks the document and stores it (replacing one of the same kind, namespace and name).
  StatusOr<TrainingRuntime> Apply(const Json& document, const std::string& source);
  // NotFound names what was looked for.
  StatusOr<TrainingRuntime> Get(const std::string& kind, const std::string& namespace_name,
                                const std::string& name) const;
  // Every runtime, the built-in one included unless replaced, sorted by kind, namespace, name.
  StatusOr<std::vector<TrainingRuntime>> List() const;
  // Removes an applied runtime; the built-in one cannot be deleted.
  Status Delete(const std::string& kind, const std::string& namespace_name, const std::string& name);

 private:
  std::string Path(const std::string& kind, const std::string& namespace_name, const std::string& name) const;
  std::string dir_;
};

// What Trainer's S3 dataset initializer reads from its container's env besides STORAGE_URI:
// ENDPOINT, ACCESS_KEY_ID, SECRET_ACCESS_KEY, REGION.
const std::set<std::string>& DatasetInitializerSettings();

// Validates a TrainJob and resolves it against its runtime from `runtimes`.
StatusOr<TfJob> ParseTrainJob(const Json& document, const std::string& source, const RuntimeStore& runtimes);

// One of a TrainJob's local pods: its replicated job ("node" or "ps"), index and host:port.
struct TrainJobPod {
  std::string job;
  int index = 0;
  std::string address;
};

// What the controller adds to the environment of pods[which] (pods: every pod of the job, the
// nodes first): JOB_COMPLETION_INDEX for a node; the torch plugin's PET_* (node-0 the master) or
// Loom's TF_CONFIG; LOOM_DATASET_DIR when the dataset initializer filled `dataset_dir`.
std::vector<std::pair<std::string, std::string>> TrainJobPodEnv(const TfJob& job, const std::vector<TrainJobPod>& pods,
                                                                 size_t which, const std::string& dataset_dir);

// The local controller's status (its operator-style conditions Created, Running, Restarting,
// Succeeded, Failed, Suspended, Resumed and replicaStatuses) rewritten as Trainer reports a
// TrainJob's: conditions Suspended/Complete/Failed and jobsStatus.
void ToTrainJobStatus(Json* status);
// "Succeeded", "Failed", "Suspended", "Running" or "Created" of a TrainJob's status.
std::string TrainJobPhase(const Json& status);

}  // namespace loom::job
