// Pods as the engine sees them: one attempt of a container, script or resource template
// (PodRequest), how it ended (PodResult), and the PodRunner interface that runs it. Below the
// engine: the engine schedules pods through this interface, pod_runner.h implements it (a
// process per pod), tests may fake it.
#pragma once

#include <atomic>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "core/json.h"
#include "workflow/model.h"
#include "workflow/store.h"

namespace loom::workflow {

// One attempt of a container, script or resource template.
struct PodRequest {
  std::string workflow;   // the workflow's key (store.h ObjectKey: its name in "default")
  std::string node_id;    // Argo node id
  std::string node_name;  // e.g. "hello-x7k2p[0].train"
  Template tmpl;          // the template, every {{...}} resolved: container/script/resource,
                          // inputs (parameters with values, artifacts with their sources),
                          // outputs declarations; the container (volumeMounts, env...) as JSON
  Json volumes;           // the workflow's spec.volumes (+ volumeClaimTemplates)
  std::string pod_dir;    // PodDir() (launcher.h), fresh for this attempt
  const std::atomic<bool>* cancel = nullptr;  // true on deadline / stop / terminate: kill, return
  // Set for a daemon template (`daemon: true`): called once, from the pod's thread, when the pod
  // is ready (its readinessProbe passed, or it started, without one). The pod then runs on until
  // it exits or `cancel` is set; a daemon's exit is a failure whatever its code, as in Argo.
  std::function<void()> on_ready;
  // The workflow's `workflows.loom.dev/pod-runtime` annotation ("auto", "container", "process"):
  // over the runner's own choice. Empty: the runner's.
  std::string runtime;
  // Set by a containerSet for its main container: called after main ended and before its outputs
  // are read (they are read once the other containers have ended too, as Argo's wait container).
  std::function<void()> before_outputs;
};

// How one container of a containerSet pod ended (its node's phase and message, as Argo sets a
// Container node from the pod's container statuses).
struct ContainerResult {
  std::string name;
  std::string phase;    // "Succeeded", "Failed" or "Error"
  std::string message;  // Argo's "<name>: Error (exit code 1)"; empty on success
  std::string started_at, finished_at;  // RFC 3339; empty when it never started
};

struct PodResult {
  std::string phase;    // "Succeeded", "Failed" or "Error"
  std::string message;  // as Argo: "Error (exit code 1)", "Pod was active on the node longer
                        // than the specified deadline"
  Json outputs;         // Argo's node outputs: {"result": ..., "exitCode": "0",
                        //  "parameters": [{"name","value"}], "artifacts": [{"name", "s3"|"path"...}]}
  std::string runtime;  // "container" or "process": which ran it ("": a resource template, or it
                        // ended before either did)
  std::vector<ContainerResult> containers;  // a containerSet pod's, in the set's order
};

// Runs pods. RUNTIME implements it (LocalPodRunner); tests may fake it.
class PodRunner {
 public:
  virtual ~PodRunner() = default;
  // Runs one attempt to the end, writing its log through store.AppendLog. Blocking; the engine
  // calls it from its own thread per running pod, so it must be thread-safe.
  virtual PodResult Run(const PodRequest& request, Store& store) = 0;
  // Ends what is left of earlier attempts of these pods of `workflow`, started by an engine that
  // died (processes that outlived it: a daemon's server, a step's children). Called by Run on
  // resume, before those nodes run again.
  virtual void Reclaim(const std::string& workflow, const std::set<std::string>& node_ids) {
    (void)workflow;
    (void)node_ids;
  }
};

}  // namespace loom::workflow
