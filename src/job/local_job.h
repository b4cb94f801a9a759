// The local controller of TFJobs, PyTorchJobs and TrainJobs (what the Kubeflow training operator
// and Trainer v2 do, on one machine; a TrainJob comes resolved, job/trainjob.h): each replica of
// a job is a process running its container's command and args, or a container of its image
// (LocalJobOptions::runtime; replica.h starts both), with the container's env and what the
// operator adds for the kind: a TFJob replica's TF_CONFIG naming ports allocated on 127.0.0.1; a
// PyTorchJob replica's MASTER_ADDR/MASTER_PORT (the Master's address), WORLD_SIZE, RANK,
// PYTHONUNBUFFERED and the PET_* variables torchrun reads; a TrainJob node's
// JOB_COMPLETION_INDEX and, on the torch runtime, Trainer's PET_* variables. $(VAR) in command
// and args is expanded from that environment as Kubernetes does, and LOOM_HOME is set to the
// controller's LoomHome() unless the container's env sets it. It restarts replicas as their
// restartPolicy says (Never; OnFailure; ExitCode: exit codes >= 128 — killed by a signal —
// restart, 1-127 fail the job; Always: restarts whatever the exit code, as kubelet does, except
// a replica whose exit 0 is the job's success — the chief, worker 0 without one, every worker
// under AllWorkers — which Kubernetes would restart forever), counts restarts against
// runPolicy.backoffLimit, enforces activeDeadlineSeconds, decides success by successPolicy
// ("": the chief (a PyTorchJob's Master), or worker 0 without one; AllWorkers: every worker
// too) and applies cleanPodPolicy to what still runs at the end. Conditions carry the kind's
// reasons (TFJobRunning, PyTorchJobSucceeded, ...); a TrainJob's are Trainer's (Complete,
// Failed, Suspended) with jobsStatus. A suspended TrainJob starts nothing. A TrainJob with a
// dataset initializer has its dataset fetched into the cache first (logs/dataset-initializer.log;
// a failure fails the job before any pod starts).
//
// State lives in <jobs_dir>/<name>/: tfjob.json (the manifest, whatever its kind), status.json
// (conditions and replicaStatuses as the operator writes them, plus each local replica's pid or
// container),
// and logs/<replica>.log per replica (e.g. logs/worker-1.log, appended across restarts), so
// `loom job get/list/logs/delete` work from another shell while the job runs and after.
#pragma once

#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/file.h"
#include "core/json.h"
#include "core/status.h"
#include "job/replica.h"
#include "job/tfjob.h"
#include "storage/s3_store.h"

namespace loom::job {

struct LocalJobOptions {
  std::string jobs_dir = JoinPath(LoomHome(), "jobs");  // where each job's state directory goes
  std::string loom_binary;                  // a process replica's command "loom" runs this
                                            // executable (the controller's own); empty: PATH
  // Whether replicas run as processes or containers of their image (replica.h).
  container::PodRuntime runtime = container::PodRuntime::kProcess;
  std::shared_ptr<container::SharedPodman> podman;  // shared with the caller's pods; null: own
  std::string host = "127.0.0.1";           // replicas' addresses in TF_CONFIG
  double poll_secs = 0.05;                  // how often replicas are checked
  double kill_grace_secs = 5;               // SIGTERM, then SIGKILL after this long
  double finish_grace_secs = 30;            // cleanPodPolicy None: how long to let the rest
                                            // end by themselves after the job succeeded
  std::function<bool()> should_stop;        // true: kill every replica, job Failed (Stopped)
  storage::S3Options s3;                    // a TrainJob's dataset initializer's defaults (the
                                            // CLI: its AWS_* environment)
};

class LocalJob {
 public:
  // Creates the job's state directory (an existing one of a finished job is replaced; one of
  // a running job is an error) and allocates ports. Starts nothing yet.
  static StatusOr<std::unique_ptr<LocalJob>> Create(const TfJob& job, const LocalJobOptions& options);
  // Kills replicas still running (their process groups).
  ~LocalJob();

  // Starts every replica and supervises them until the job Succeeded or Failed; returns the
  // final status (as in status.json).
  StatusOr<Json> Run();
  const std::string& dir() const;

 private:
  struct Impl;
  explicit LocalJob(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "Succeeded", "Failed", "Running", "Restarting", "Created": the type of the last condition
// (a TrainJob's status: TrainJobPhase, which adds "Suspended").
std::string JobPhase(const Json& status);
// status.json of a job, as the controller last wrote it.
StatusOr<Json> ReadJobStatus(const std::string& jobs_dir, const std::string& name);
// The names of the jobs in jobs_dir, sorted.
StatusOr<std::vector<std::string>> ListJobs(const std::string& jobs_dir);
// runPolicy.ttlSecondsAfterFinished, done lazily (no controller stays behind to wait): deletes
// each finished job whose completionTime is that many seconds before `now` or more; returns the
// names deleted. `loom job list` and `loom job run` call it.
StatusOr<std::vector<std::string>> DeleteExpiredJobs(const std::string& jobs_dir, std::time_t now);

// Stops a running job's controller (which kills its replicas; SIGKILL if it does not end
// within 20 s), kills any replica group still running, and removes the job's state.
Status DeleteJob(const std::string& jobs_dir, const std::string& name);

}  // namespace loom::job
