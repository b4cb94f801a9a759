// Which runtime runs a container of a pod or a job's replica (`--pod-runtime`): a podman
// container of its image, or a process on the host. One choice for workflow pods
// (workflow/pod_runner.h) and TFJob/PyTorchJob replicas (job/replica.h), made here.
//
// Thread-safety: SharedPodman and ChooseRuntime may be used from many threads at once.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "container/podman.h"
#include "core/status.h"

namespace loom::container {

enum class PodRuntime {
  kAuto,       // a container when its image is in the local image store and podman works here,
               // else a process
  kContainer,  // always a container: an image not in the store, or no podman, is an error
  kProcess,    // always a process on the host
};

// "auto", "container" or "process" as `--pod-runtime` and the workflow annotation say it;
// InvalidArgument naming `field` for anything else.
StatusOr<PodRuntime> ParsePodRuntime(const std::string& value, const std::string& field);
const char* PodRuntimeName(PodRuntime runtime);

// podman, made on first use (its runtime probe takes a second) and shared by whoever runs
// containers in this process; null, with the reason, where it cannot run.
class SharedPodman {
 public:
  explicit SharedPodman(PodmanOptions options) : options_(std::move(options)) {}
  Podman* Get(std::string* why);

 private:
  PodmanOptions options_;
  std::mutex mu_;
  bool tried_ = false;
  std::unique_ptr<Podman> podman_;
  std::string error_;
};

// Whether a container (`image`, its `imagePullPolicy`) runs as a container (true) or a process
// (false) under `runtime`; an error naming `field` when kContainer cannot be honoured (no podman,
// no image, an image not in the store, imagePullPolicy: Always: nothing is pulled here).
StatusOr<bool> RunsInContainer(PodRuntime runtime, SharedPodman& podman, const std::string& image,
                               const std::string& pull_policy, const std::string& field);

}  // namespace loom::container
