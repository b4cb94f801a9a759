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
#include "workflow/pod.h"
#include "workflow/spec.h"
#include "workflow/store.h"

namespace loom::workflow {

struct SubmitOptions {
  std::vector<std::pair<std::string, std::string>> parameters;  // -p name=value
  std::string parameter_file;                                   // --parameter-file (YAML/JSON map)
  std::string name;                                             // override metadata.name
  std::string source_name;                                      // for error messages
  const SourceLines* source_lines = nullptr;                    // from LoadManifest: lines in errors
  Json labels = Json::object();                                 // extra metadata.labels
};

// The values of a --parameter-file (a YAML/JSON map of name: value) as Argo's CLI reads them:
// a string as it is, anything else as its JSON text (a null is "null"). Both routes of a
// submission (the engine's Submit and the CLI handing it to `loom server`) read files here.
StatusOr<std::vector<std::pair<std::string, std::string>>> ReadParameterFile(const std::string& path);

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

  // Validates (Lint), applies parameters, resolves workflowTemplateRef (in the workflow's
  // namespace), names the workflow (generateName + Argo's 5-character suffix), stores it Pending.
  // Runs nothing. Returns its key (store.h's ObjectKey: the name, in the namespace "default").
  // Below, every `name` is such a key: names are unique per namespace, as in Argo.
  StatusOr<std::string> Submit(const Json& manifest, const SubmitOptions& options);

  // Runs or resumes a stored workflow until it is Succeeded/Failed/Error (returns OK then) or
  // RequestShutdown is called (returns Cancelled; the workflow stays Running in the store and
  // resumes later). Holds the workflow's RunLock (launcher.h) meanwhile; another holder ->
  // FailedPrecondition "workflow X is being run by pid N".
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
