// A job replica's launch: the one place the local job controller (local_job.h) starts a replica,
// whatever its kind (TFJob, PyTorchJob, ...), as a process on the host or as a podman container
// of its image (`--pod-runtime`, container/pod_runtime.h), and watches and stops it.
//
// Environment: LOOM_HOME (LoomHome()), the container's env, the operator's; $(VAR) in command and
// args expanded from it as Kubernetes does; never the caller's own environment (the engine's S3
// keys stay in it). A process replica gets under that what the host gives a process as an image
// gives a container (container::HostProcessEnvironment: PATH with the loom binary's directory
// first, HOME, HOSTNAME, LOOM_MNIST_DIR) and runs its command (a command "loom" is
// ReplicaLauncherOptions::loom_binary). A container replica runs in its image with Kubernetes'
// command/args over the image's ENTRYPOINT/CMD, the image's environment under that one, the
// host's network (addresses in TF_CONFIG and MASTER_ADDR are 127.0.0.1) and LoomHome() at its
// own path (replicas write checkpoints and models there).
// The container replicas of one job join one sandbox (container::Podman::StartSandbox, made with
// the job's first container replica and removed with the launcher): one IPC and PID namespace,
// so a ps task and its workers share /dev/shm and see each other's pids, and their steps go
// through shared memory as processes' do (train/ps_shm.h); another job's replicas have their
// own. Where no sandbox can be made (no catatonit), each replica has its own namespaces and
// the ps traffic goes through gRPC, as the controller's log says.
// Either way stdout and stderr are appended to the replica's log file.
//
// Thread-safety: a ReplicaLauncher may start replicas from many threads at once; one
// RunningReplica is used by one thread.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "container/pod_runtime.h"
#include "core/status.h"

namespace loom::job {

// One start of one replica, as its job's spec and its kind's operator say.
struct ReplicaLaunch {
  std::string job;                  // the job's name
  std::string replica;              // "worker-1"
  std::string image;                // the container's image
  std::string pull_policy;          // its imagePullPolicy ("" when unset)
  std::vector<std::string> command;  // as written; may be empty (the image's ENTRYPOINT)
  std::vector<std::string> args;     // as written
  // The container's env as written (each $(VAR) expanded against what comes before it), then
  // what the kind's operator adds (TF_CONFIG; MASTER_ADDR, RANK, ...), set as they are.
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<std::pair<std::string, std::string>> operator_env;
  std::string working_dir;          // empty: the caller's (process) or the image's (container)
  std::string log_path;             // stdout and stderr are appended here
  std::string job_dir;              // the job's state directory: it names the job's containers,
                                    // and the runtime's own files go there
};

// A replica that started.
class RunningReplica {
 public:
  virtual ~RunningReplica() = default;
  // The process to show and signal (`loom job delete`, kill -9 from a shell); -1 for a container.
  virtual pid_t pid() const = 0;
  // The container's name; empty for a process.
  virtual std::string container() const = 0;
  // Its exit code once it ended (128 + the signal that ended it), else nullopt. What it left
  // running (its process group) is killed when it is seen to end.
  virtual std::optional<int> Poll() = 0;
  // SIGTERM (a container: stopped with the launcher's grace, then SIGKILL).
  virtual void Terminate() = 0;
  // SIGKILL now; Poll answers soon after.
  virtual void Kill() = 0;
};

struct ReplicaLauncherOptions {
  container::PodRuntime runtime = container::PodRuntime::kProcess;
  std::string loom_binary;        // a process replica's command "loom" runs this ("": PATH)
  std::string home;               // LoomHome(), mounted at its path in containers
  double kill_grace_secs = 5;     // a container's stop: SIGTERM, then SIGKILL this much later
  // podman, shared with the caller's other containers (a workflow's pods); null: made here on
  // first use.
  std::shared_ptr<container::SharedPodman> podman;
};

// Kubernetes' expansion of command and args: $(NAME) becomes env's value of NAME, a name env
// does not hold stays as written, and $$ is a literal $.
std::string ExpandVariables(const std::string& text, const std::map<std::string, std::string>& env);

class ReplicaLauncher {
 public:
  explicit ReplicaLauncher(ReplicaLauncherOptions options);
  // Removes the sandboxes of the jobs it started containers for (their replicas end with them).
  ~ReplicaLauncher();

  // Whether `launch` runs as a container (true) or a process (false) under the options'
  // runtime; an error naming the replica when --pod-runtime container cannot be honoured.
  StatusOr<bool> InContainer(const ReplicaLaunch& launch);
  // Starts it in the runtime InContainer chose.
  StatusOr<std::unique_ptr<RunningReplica>> Start(const ReplicaLaunch& launch);
  // Removes (killing) the containers of the job whose state is in `job_dir` (what a controller
  // that died left running), its sandbox too. Nothing to do without podman.
  Status RemoveContainers(const std::string& job_dir);

  const ReplicaLauncherOptions& options() const { return options_; }

 private:
  // The name of the sandbox of the job in `job_dir`, started on first use; "" where none can be.
  std::string Sandbox(const std::string& job_dir, container::Podman& podman);

  ReplicaLauncherOptions options_;
  std::mutex mu_;
  std::map<std::string, std::string> sandboxes_;  // by job_dir; "": could not be made
};

}  // namespace loom::job
