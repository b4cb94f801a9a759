// Resource templates (Argo's `resource:`) on one machine. A manifest whose kind is TFJob or
// PyTorchJob (kubeflow.org/v1), or TrainJob (trainer.kubeflow.org/v1alpha1), runs on src/job's
// local controller (state in ResourceOptions::jobs_dir, so
// `loom job get` and the UI see it); `successCondition` / `failureCondition` are evaluated on the
// job's object (manifest + status) as Argo evaluates them on the live resource. Other kinds fail
// with "<kind> resources are not supported on one machine".
//
// Conditions use Argo's syntax (Kubernetes label-selector requirements, comma-separated, all
// must hold): `status.replicaStatuses.Worker.succeeded > 0`, `status.phase in (Done,Ok)`,
// `metadata.name == x`, `!status.failed`, `status.ready`.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "container/pod_runtime.h"
#include "core/json.h"
#include "core/status.h"
#include "workflow/model.h"

namespace loom::workflow {

struct ResourceOptions {
  std::string jobs_dir;          // the local job controller's state (LoomHome()/jobs)
  double poll_secs = 0.2;        // how often conditions are checked while the job runs
  double kill_grace_secs = 5;    // SIGTERM, then SIGKILL, for replicas of a stopped job
  std::string loom_binary;       // a replica command "loom" runs this executable ("": PATH)
  // Replicas as processes or containers (job/replica.h), podman shared with the pods.
  container::PodRuntime runtime = container::PodRuntime::kProcess;
  std::shared_ptr<container::SharedPodman> podman;
};

struct ResourceResult {
  std::string phase;    // "Succeeded", "Failed" or "Error"
  std::string message;
  Json object;          // the resource as it ended: manifest (metadata.name filled in) + status
};

// Carries out a resource template (action create/apply/get/delete) to the end, writing progress
// lines through `log`. `cancel` (may be null) stops the job's replicas.
ResourceResult RunResource(const ResourceTemplate& resource, const ResourceOptions& options,
                           const std::atomic<bool>* cancel,
                           const std::function<void(std::string_view)>& log);

// Does `condition` hold for `object`? An empty condition is false. Errors name the requirement.
StatusOr<bool> EvaluateCondition(std::string_view condition, const Json& object);

// The value at a JSON path as kubectl's `-o jsonpath` writes it for simple paths
// (`{.metadata.name}`, `.status.replicaStatuses.Worker.succeeded`): strings bare, others as JSON.
StatusOr<std::string> JsonPathValue(std::string_view path, const Json& object);

}  // namespace loom::workflow
