// Engine: runs Argo workflows on one machine.
//
// Submit validates a manifest and stores it Pending; Run drives a stored workflow to the end:
// steps, parallel steps, dag (dependencies / depends), withItems / withParam / withSequence,
// when, retryStrategy with backoff, activeDeadlineSeconds and timeout, parallelism, onExit
// (workflow and template level), continueOn, suspend / resume, stop / terminate through
// spec.shutdown, daemon steps (ready, then stopped as their steps/dag ends; README.md), as Argo
// does. Node ids, names, types and phases are Argo's, so `argo get`
// users read the same tree.
//
// Every state change goes to the Store (one transaction per scheduling pass), so another
// process can watch, and a killed engine resumes where it stopped: finished nodes are never run
// again; nodes that were Running get a new attempt. Pods run through a PodRunner (RUNTIME's
// LocalPodRunner), one thread per running pod; the scheduler wakes when a pod ends.
//
// Thread-safety: an Engine may run several workflows at once (one Run call each, from any
// threads); Stop/Terminate/Suspend/Resume may be called from any thread or process.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/json.h"
#include "core/status.h"
#include "workflow/spec.h"
#include "workflow/store.h"

namespace loom::workflow {

// Whether a template is a daemon's (`daemon: true`, or the string "true" a parameter gives).
bool IsDaemonTemplate(const Json& tmpl);

// One attempt of a container, script or resource template.
struct PodRequest {
  std::string workflow;   // workflow name
  std::string node_id;    // Argo node id
  std::string node_name;  // e.g. "hello-x7k2p[0].train"
  Json tmpl;              // the template, every {{...}} resolved: container/script/resource,
                          // inputs (parameters with values, artifacts with their sources),
                          // outputs declarations, volumeMounts, env...
  Json volumes;           // the workflow's spec.volumes (+ volumeClaimTemplates)
  std::string pod_dir;    // LoomHome()/pods/<workflow>/<node_id>/, fresh for this attempt
  const std::atomic<bool>* cancel = nullptr;  // true on deadline / stop / terminate: kill, return
  // Set for a daemon template (`daemon: true`): called once, from the pod's thread, when the pod
  // is ready (its readinessProbe passed, or it started, without one). The pod then runs on until
  // it exits or `cancel` is set; a daemon's exit is a failure whatever its code, as in Argo.
  std::function<void()> on_ready;
};

struct PodResult {
  std::string phase;    // "Succeeded", "Failed" or "Error"
  std::string message;  // as Argo: "Error (exit code 1)", "Pod was active on the node longer
                        // than the specified deadline"
  Json outputs;         // Argo's node outputs: {"result": ..., "exitCode": "0",
                        //  "parameters": [{"name","value"}], "artifacts": [{"name", "s3"|"path"...}]}
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

struct SubmitOptions {
  std::vector<std::pair<std::string, std::string>> parameters;  // -p name=value
  std::string parameter_file;                                   // --parameter-file (YAML/JSON map)
  std::string name;                                             // override metadata.name
  std::string source_name;                                      // for error messages
  const SourceLines* source_lines = nullptr;                    // from LoadManifest: lines in errors
  Json labels = Json::object();                                 // extra metadata.labels
};

struct EngineOptions {
  Store* store = nullptr;      // required; not owned
  PodRunner* pods = nullptr;   // required for Run; not owned
  // Called (from the engine's thread) after each scheduling pass that changed `workflow`.
  std::function<void(const std::string& workflow)> on_change;
  // Where pods' directories and run locks go; empty: LoomHome().
  std::string home;
  // How often a running engine re-reads spec changes made by other processes (stop, suspend...).
  int poll_interval_ms = 100;
  // At most this many pods run at once per workflow (others wait Pending); 0: no limit beyond
  // the workflow's own parallelism.
  int max_running_pods = 0;
};

class Engine {
 public:
  static StatusOr<std::unique_ptr<Engine>> Create(const EngineOptions& options);
  ~Engine();

  // Validates (Lint), applies parameters, resolves workflowTemplateRef, names the workflow
  // (generateName + Argo's 5-character suffix), stores it Pending. Runs nothing. Returns the name.
  StatusOr<std::string> Submit(const Json& manifest, const SubmitOptions& options);

  // Runs or resumes a stored workflow until it is Succeeded/Failed/Error (returns OK then) or
  // RequestShutdown is called (returns Cancelled; the workflow stays Running in the store and
  // resumes later). Holds an exclusive flock on <home>/run/<name>.lock; another process holding
  // it -> FailedPrecondition "workflow X is being run by pid N".
  Status Run(const std::string& name);

  // Asks every Run of this engine to return soon (pods are cancelled; their nodes run again on
  // resume). For the server's and CLI's signal handling.
  void RequestShutdown();

  // Helpers for the CLI and server: each edits the stored spec/status; a running engine picks
  // the change up within poll_interval_ms. Stop/Terminate/Suspend of a workflow that has ended:
  // FailedPrecondition. Retry needs a Failed or Error workflow; run it again with Run.
  Status Stop(const std::string& name);       // spec.shutdown = Stop (exit handlers run)
  Status Terminate(const std::string& name);  // spec.shutdown = Terminate
  Status Resume(const std::string& name);     // resume suspended nodes / spec.suspend
  Status Suspend(const std::string& name);    // spec.suspend = true
  StatusOr<std::string> Retry(const std::string& name);     // failed nodes again, same name
  StatusOr<std::string> Resubmit(const std::string& name);  // a new workflow from the same spec

  class Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Argo's node id for a node name: "<workflow>-<fnv32a(node name)>" (the root node's id is the
// workflow name).
std::string NodeId(const std::string& workflow, const std::string& node_name);

// Is this workflow/node phase final?
bool IsCompletedPhase(const std::string& phase);

}  // namespace loom::workflow
