#include "container/pod_runtime.h"

#include "core/logging.h"

namespace loom::container {

StatusOr<PodRuntime> ParsePodRuntime(const std::string& value, const std::string& field) {
  if (value == "process") return PodRuntime::kProcess;
  if (value == "container") return PodRuntime::kContainer;
  if (value == "auto") return PodRuntime::kAuto;
  return InvalidArgument(field + ": \"" + value + "\" is not auto, container or process");
}

const char* PodRuntimeName(PodRuntime runtime) {
  switch (runtime) {
    case PodRuntime::kAuto: return "auto";
    case PodRuntime::kContainer: return "container";
    case PodRuntime::kProcess: return "process";
  }
  return "?";
}

Podman* SharedPodman::Get(std::string* why) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!tried_) {
    tried_ = true;
    auto made = Podman::Create(options_);
    if (made.ok()) {
      podman_ = std::move(*made);
      LOOM_LOG(INFO) << "containers run by podman with " << podman_->runtime();
    } else {
      error_ = made.status().message();
    }
  }
  *why = error_;
  return podman_.get();
}

StatusOr<bool> RunsInContainer(PodRuntime runtime, SharedPodman& shared, const std::string& image,
                               const std::string& pull_policy, const std::string& field) {
  const bool process = false;
  if (runtime == PodRuntime::kProcess) return process;
  const bool must = runtime == PodRuntime::kContainer;
  std::string why;
  Podman* podman = shared.Get(&why);
  if (podman == nullptr) {
    if (must) return FailedPrecondition(why);
    return process;
  }
  if (image.empty()) {
    if (must) return InvalidArgument(field + ".image: required to run in a container");
    return process;
  }
  if (pull_policy == "Always") {
    if (must) return InvalidArgument(field + ".imagePullPolicy: Always: images are not pulled here (no registry); use IfNotPresent");
    return process;
  }
  auto config = podman->InspectImage(image);
  if (config.ok()) return true;
  if (config.status().code() == StatusCode::kNotFound && !must) return process;
  return Status(config.status().code(), field + ".image: " + config.status().message());
}

}  // namespace loom::container
