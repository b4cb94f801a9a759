// Podman: the one place Loom runs containers, through Debian's podman CLI (a daemonless
// runtime: nothing to keep running beside the engine) with runc or crun under it.
//
// Create detects a working OCI runtime: crun, else runc (crun 1.8 refuses cgroups in hybrid
// mode, which some machines mount; a machine on cgroup v2 runs crun fine): each is tried on an
// empty root file system, and the one that gets as far as exec is kept, with the nofile/nproc
// limits it took (the engine's own, else 1024: a sandbox may refuse raising them). Every
// container is run with those limits, the host's
// network (pods reach each other at 127.0.0.1, as Loom's pods always have) and a label naming
// its workflow and node, so that what an engine that died left running can be found.
//
// Run applies Kubernetes' rules: command/args over the image's ENTRYPOINT/CMD (Run is given
// the argv already resolved by ContainerArgv), env over the image's, workingDir, bind mounts,
// resources (limits.memory on a cgroup of the pod's own on cgroup v1, so that an OOM kill is
// seen: podman does not report it there; --memory on v2; limits.cpu -> --cpus, requests.cpu ->
// --cpu-shares as the kubelet computes them), securityContext (user, runAsNonRoot checked
// against the image's user with kubelet's words, --read-only, --privileged, capabilities,
// no-new-privileges unless allowPrivilegeEscalation). The environment goes through a 0600 file
// removed once the container has started, never through podman's command line.
//
// Thread-safety: Run, InspectImage and Remove may be called from many threads at once.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "container/pod_spec.h"
#include "core/status.h"

namespace loom::container {

// What `podman image inspect` says of an image's config.
struct ImageConfig {
  std::string id;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;  // "K=V"
  std::string working_dir;
  std::string user;              // "", "root", "1000", "1000:1000", "name"
};

// Kubernetes' rule: no command and no args -> ENTRYPOINT + CMD; command only -> command;
// args only -> ENTRYPOINT + args; both -> command + args. InvalidArgument when that is empty.
StatusOr<std::vector<std::string>> ContainerArgv(const ImageConfig& image, const std::vector<std::string>& command,
                                                 const std::vector<std::string>& args, const std::string& field);

struct BindMount {
  std::string source;  // on the host
  std::string target;  // in the container
  bool read_only = false;
};

struct ContainerSpec {
  std::string name;                 // unique on this machine
  std::string image;
  ImageConfig image_config;         // InspectImage's answer for `image`
  std::vector<std::string> argv;    // from ContainerArgv
  std::vector<EnvVar> env;          // over the image's
  std::string working_dir;          // empty: the image's
  std::vector<BindMount> mounts;
  SecurityContext security;
  Resources resources;
  std::vector<std::pair<std::string, std::string>> labels;
  std::string scratch_dir;          // a directory of the caller's for the env file
  std::string sandbox;              // a sandbox's name (StartSandbox): its IPC and PID namespaces
  std::string field = "container";  // for errors: "container", "initContainers[0]"
};

struct ContainerExit {
  int exit_code = -1;
  bool oom_killed = false;          // as Kubernetes' reason OOMKilled
  bool stopped = false;             // cancelled: stopped with grace
  std::string error;                // the runtime's own failure (no such image, exec failed)
};

struct PodmanOptions {
  std::string podman = "podman";    // the CLI
  std::string runtime;              // "crun", "runc"; empty: detect
  double stop_grace_secs = 10;      // SIGTERM, then SIGKILL this much later (podman stop -t)
  std::string cgroup_parent = "loom";  // cgroup v1: each pod's memory cgroup goes under it
};

class Podman {
 public:
  // FailedPrecondition when podman is missing or no runtime works, saying which failed why.
  static StatusOr<std::unique_ptr<Podman>> Create(const PodmanOptions& options);

  const std::string& runtime() const { return runtime_; }

  // NotFound when the image is not in the local store.
  StatusOr<ImageConfig> InspectImage(const std::string& image) const;

  // Runs the container to its end, streaming its stdout and stderr (`stream` 1 or 2) as they
  // come; `cancel` set -> stopped with grace. Refusals (runAsNonRoot against the image's user,
  // a path podman cannot mount) are errors before anything starts; the container is removed
  // at the end.
  StatusOr<ContainerExit> Run(const ContainerSpec& spec, const std::atomic<bool>* cancel,
                              const std::function<void(int stream, std::string_view bytes)>& output) const;

  // Starts a sandbox named `name`: a container that only holds an IPC and a PID namespace for the
  // containers that join it (ContainerSpec::sandbox), as a Kubernetes pod's infra container holds
  // a pod's, so that they share /dev/shm and see each other's pids. It needs no image: its root is
  // `root_dir` (an empty directory of the caller's) and its process catatonit's pause, mounted
  // from the host. FailedPrecondition without catatonit. Removed with RemoveLabelled(`labels`).
  Status StartSandbox(const std::string& name, const std::string& root_dir,
                      const std::vector<std::pair<std::string, std::string>>& labels) const;

  // Removes (killing) the containers whose labels have every one of `labels`.
  Status RemoveLabelled(const std::vector<std::pair<std::string, std::string>>& labels) const;

 private:
  Podman(PodmanOptions options, std::string runtime, std::vector<std::string> ulimits)
      : options_(std::move(options)), runtime_(std::move(runtime)), ulimits_(std::move(ulimits)) {}
  std::vector<std::string> Base() const;  // podman --runtime R

  PodmanOptions options_;
  std::string runtime_;
  std::vector<std::string> ulimits_;  // --ulimit arguments the probe found to work
};

// The effective user's check of runAsNonRoot, kubelet's way: uid from runAsUser, else the
// image's User ("" and "root" are root; a non-numeric name cannot be verified).
Status CheckRunAsNonRoot(const SecurityContext& security, const ImageConfig& image, const std::string& pod);

}  // namespace loom::container
