// LocalPodRunner: runs the pods of a workflow as processes on this machine (what a kubelet and
// Argo's executor do together).
//
// A container or script template becomes one process: command + args (a script's source is
// written to a file in the pod's directory and passed to the command, as Argo does) and
// workingDir (default: the pod's directory). The image is recorded in the log, not pulled.
// stdout and stderr go to the store's log for the
// node as they arrive; `outputs.result` is stdout; `outputs.exitCode` the exit code; output
// parameters are read from valueFrom.path and output artifacts saved (artifacts.h) after the
// process ends. Input artifacts are fetched before it starts. A resource template runs through
// resource.h.
//
// Runtimes (PodRunnerOptions::runtime). kProcess runs every container or script template as a
// process (below). kContainer runs it in a podman container (container/podman.h) of its image
// from the local image store: Kubernetes' command/args over the image's ENTRYPOINT/CMD, env,
// workingDir, /tmp of its own, LoomHome() at its path (without the Secrets kept there),
// volumes and input artifacts at their paths, resources and securityContext enforced (a memory
// limit ends "OOMKilled (exit code 137)"), initContainers one after the other first, sidecars
// beside main and stopped when it ends, outputs read back as for a process. kAuto takes the
// container runtime when podman works here and the image is in the store, else the process
// runtime.
//
// Environment: only what the spec sets (env, envFrom; secretKeyRef/configMapKeyRef read from
// the container::ConfigStore at objects_dir, never from this process's environment), plus what
// the host gives a process (container::HostProcessEnvironment: PATH with bin_dir first, HOME,
// HOSTNAME, LOOM_HOME, LOOM_MNIST_DIR) and Argo's ARGO_WORKFLOW_NAME / ARGO_NODE_ID.
//
// Security: securityContext runAsUser / runAsGroup / supplementalGroups are honoured (the
// process becomes that user), runAsNonRoot refuses a pod that would run as root with kubelet's
// words, and every pod runs with no_new_privs unless allowPrivilegeEscalation is true. What a
// host process cannot have (resources, readOnlyRootFilesystem, privileged, added capabilities,
// dropped ones or privileged: false for a root pod) fails the pod with the field
// named, never ignored.
//
// Isolation. Where the kernel allows it (root, unshare(CLONE_NEWNS)), each pod gets its own mount
// namespace: mounts made private, the pod's own directory bind-mounted at /tmp, volumes
// (emptyDir: per pod; hostPath: the host's path; persistentVolumeClaim and volumeClaimTemplates:
// one directory per claim, shared by the workflow's steps) and input artifacts bind-mounted at
// the paths the YAML names; LoomHome() stays visible at its own path even when it is under /tmp,
// without what is not the pod's (MaskHome in pod_common.h: the server's token, the state store,
// Secrets, the artifact repository, volumes, every other pod's directory), before the volumes
// are mounted, so a hostPath holding the home shows it masked too; the container runtime masks
// the same.
// With pid_namespace it also gets a PID namespace (its /proc remounted): its first process is a
// small init that keeps the container's process as its child (the group gets the signals) and
// exits with its status, as Argo's executor stands first in a pod; what the pod started ends
// with it.
// Where the kernel does not allow it, Isolation::kAuto refuses process pods (in the host's view,
// as the engine's user, a pod would read the token, the state and every other pod's files);
// only an explicit Isolation::kNone runs them there, with TMPDIR set to its own directory, and
// a pod with volumes or input artifacts at a path fails: no pod could have that path to itself.
//
// Cancellation (PodRequest::cancel): SIGTERM to the pod's process group, SIGKILL after
// kill_grace_secs. When the main process ends, what is left in its process group is killed (a
// pod ends with its main container); a process that must outlive its step starts its own
// session (setsid), as a server the exit handler stops does.
//
// Daemons (`daemon: true`). The process or container starts as any pod's; once its
// readinessProbe (probe.h; in a container httpGet or tcpSocket, on the host's network) passes,
// or as soon as it has started when there is none, PodRequest::on_ready is
// called and the pod runs on until the engine cancels it (its scope ended: SIGTERM, SIGKILL after
// kill_grace_secs). A daemon that exits on its own, before or after it was ready, fails (Argo: a
// daemon should run until it is stopped); one whose probe fails failureThreshold times in a row
// before it was ready is stopped and fails with the probe's last error.
//
// Reclaim finds the processes of earlier attempts by the ARGO_WORKFLOW_NAME and ARGO_NODE_ID every
// pod's processes inherit (/proc/<pid>/environ) and kills them.
//
// Thread-safety: Run may be called from many threads at once.
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "container/pod_runtime.h"
#include "container/podman.h"
#include "core/status.h"
#include "workflow/artifacts.h"
#include "workflow/pod.h"
#include "workflow/store.h"

namespace loom::workflow {

struct TemplatePod;

struct PodRunnerOptions {
  // Which runtime runs a container or script template, and a resource template's TFJob
  // replicas (`--pod-runtime`, container/pod_runtime.h).
  using Runtime = container::PodRuntime;
  Runtime runtime = Runtime::kProcess;
  container::PodmanOptions podman;    // the container runtime's (stop_grace_secs: kill_grace_secs)
  enum class Isolation {
    kAuto,            // a mount namespace per pod when the kernel allows it, else process pods refused
    kMountNamespace,  // required: Create fails where it is not allowed
    kNone,            // the host's namespace, TMPDIR per pod: pods see all the engine's user sees
  };
  std::string home;                   // LoomHome(): artifacts/, jobs/ and volumes/ go under it
  Isolation isolation = Isolation::kAuto;
  // Each pod in a PID namespace of its own (with its mount namespace; Create fails where the
  // kernel refuses). Off by default: pods on one machine may share processes by pid (a step that
  // leaves a server running in a session of its own for a later step to stop), which a PID
  // namespace ends with the step.
  bool pid_namespace = false;
  ArtifactOptions artifacts;          // repository_dir empty: <home>/artifacts
  std::string jobs_dir;               // TFJobs of resource templates; empty: <home>/jobs
  std::string objects_dir;            // Secrets and ConfigMaps (container::ConfigStore); empty: <home>/objects
  double kill_grace_secs = 10;        // SIGTERM, then SIGKILL this much later
  double log_flush_secs = 0.2;        // log chunks go to the store at most this often (and at the end)
  // Put first on the pods' PATH, so pods run `loom ...` as the loom image has it on PATH (and
  // TFJob replicas' command "loom" is <bin_dir>/loom). Empty: the directory of this process's
  // executable (the loom binary running the engine).
  std::string bin_dir;
};

class LocalPodRunner : public PodRunner {
 public:
  using Runtime = PodRunnerOptions::Runtime;
  static StatusOr<std::unique_ptr<LocalPodRunner>> Create(const PodRunnerOptions& options);

  PodResult Run(const PodRequest& request, Store& store) override;
  void Reclaim(const std::string& workflow, const std::set<std::string>& node_ids) override;

  // True when pods get their own mount namespace.
  bool isolated() const { return isolated_; }
  const PodRunnerOptions& options() const { return options_; }

 private:
  LocalPodRunner(PodRunnerOptions options, bool isolated)
      : options_(std::move(options)), isolated_(isolated),
        podman_(std::make_shared<container::SharedPodman>(options_.podman)) {}
  // The runtimes (process_pod.cc, container_pod.cc): a container or script template's pod,
  // started for either as `pod` (pod_common.h).
  PodResult RunProcess(const PodRequest& request, TemplatePod& pod);
  // A process pod with init containers or sidecars: each a process of the pod, the inits to
  // success first, the sidecars beside main until it ends (a sidecar's program must be here).
  PodResult RunProcessPodWith(const PodRequest& request, TemplatePod& pod);
  PodResult RunContainer(const PodRequest& request, TemplatePod& pod, container::Podman& podman);
  // Whether a container or script template runs in a container (true) or as a process; an
  // error when the choice cannot be honoured (--pod-runtime container and no such image).
  StatusOr<bool> InContainer(const Template& tmpl, Runtime runtime);
  // The runtime of this request: its workflow's annotation, else the options'.
  StatusOr<Runtime> RuntimeFor(const PodRequest& request) const;
  PodResult RunResourceTemplate(const PodRequest& request, Store& store, Runtime runtime);
  // A containerSet template (container_set.cc): its containers by their dependencies, in one
  // runtime, each through RunContainer or RunProcess.
  PodResult RunContainerSet(const PodRequest& request, Store& store, Runtime runtime);

  PodRunnerOptions options_;
  bool isolated_;
  // podman, made on first use; shared with the replicas of resource templates' jobs.
  std::shared_ptr<container::SharedPodman> podman_;
};

// Can this process give a child its own mount namespace? PID namespace? (Each forks a probe
// child once.)
bool MountNamespacesAvailable();
bool PidNamespacesAvailable();

// The pids of the processes on this machine (this one excepted) whose environment has
// ARGO_WORKFLOW_NAME=`workflow` and ARGO_NODE_ID one of `node_ids`: what pods of those nodes left
// running. Processes of other users whose environment cannot be read are not seen.
std::vector<pid_t> PodProcesses(const std::string& workflow, const std::set<std::string>& node_ids);

}  // namespace loom::workflow
