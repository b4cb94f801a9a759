// podSpecPatch as Argo applies it (its ApplyPodSpecPatch): the workflow's patch, then the
// template's, each YAML or JSON, merged into the pod's spec as a Kubernetes strategic merge
// patch: maps merge key by key (null removes a key), `containers` and `initContainers` merge by
// `name` (the template's container is "main"; a sidecar or init container by its own name),
// `env` by `name`, `volumeMounts` by `mountPath`, `ports` by `containerPort`, any other list is
// replaced.
//
// On one machine a pod is the template's containers and its securityContext, so a patch may
// name only those: `containers`, `initContainers` (each entry naming a container the pod has:
// a patch cannot add one) with the container fields the runtimes act on, and
// `securityContext`. Anything else (nodeSelector, tolerations, volumes, `$patch` directives...)
// is refused by name, never ignored. What the patch sets is then acted on, or refused, by the
// runtime that runs the pod, as if the template had said it (a process pod refuses
// `resources`, a container enforces them).
#pragma once

#include <vector>

#include "core/json.h"
#include "core/status.h"
#include "workflow/model.h"

namespace loom::workflow {

// Applies `patches` in order (each a YAML/JSON string or an object, every {{...}} already
// substituted) to the pod of `tmpl`: its container, init containers, sidecars and
// securityContext. Errors start with "podSpecPatch" and name the field.
Status ApplyPodSpecPatches(const std::vector<Json>& patches, Template* tmpl);

}  // namespace loom::workflow
