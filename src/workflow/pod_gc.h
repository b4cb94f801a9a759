// spec.podGC (Argo's PodGC): which finished pods are removed, and when. A pod on one machine is
// its folder (PodDir, launcher.h: its working files, the mounts' upper layers, what it left);
// its log and outputs are the store's and stay. As Argo's controller:
//   OnPodCompletion      each pod as it ends          OnPodSuccess        each pod that Succeeded
//   OnWorkflowCompletion every pod as the workflow ends
//   OnWorkflowSuccess    every pod when the workflow Succeeded (none otherwise)
// `labelSelector` (Kubernetes' LabelSelector: matchLabels, matchExpressions with In, NotIn,
// Exists, DoesNotExist) picks pods by their labels (the template's metadata.labels over
// spec.podMetadata's, and Argo's workflows.argoproj.io/workflow); `deleteDelayDuration` waits
// that long after the pod (or workflow) ends. The engine removes them (workflow_run.h); after
// the workflow ends it waits out the delay before it exits.
#pragma once

#include <string>

#include "core/json.h"
#include "core/status.h"

namespace loom::workflow {

struct PodGC {
  std::string strategy;           // "": none (also Argo's default)
  Json label_selector;            // null: every pod
  double delete_delay_seconds = 0;
  bool OnPodEnd(bool succeeded) const {
    return strategy == "OnPodCompletion" || (strategy == "OnPodSuccess" && succeeded);
  }
  bool OnWorkflowEnd(bool succeeded) const {
    return strategy == "OnWorkflowCompletion" || (strategy == "OnWorkflowSuccess" && succeeded);
  }
};

// Reads spec.podGC (null: none). Errors are Argo's validation's ("podGC.strategy unknown
// strategy 'X'", "podGC.labelSelector invalid: ...").
StatusOr<PodGC> PodGCFromJson(const Json& pod_gc);

// Does `labels` (an object of strings) match a Kubernetes LabelSelector? Null matches all.
bool MatchesLabelSelector(const Json& selector, const Json& labels);

}  // namespace loom::workflow
