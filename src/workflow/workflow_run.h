// WorkflowRun: one Run of one workflow, the engine's in-memory state and its scheduling pass.
// Internal to the engine (engine.h is the interface). The class is split by concern as Argo's
// controller is (README.md has the map):
//   engine.cc        Load, the run loop (Run), PollStore, Persist
//   operator.cc      the pass (Operate, Argo's operator.go): node state, globals, templates and
//                    their inputs, executeTemplate, suspend, outputs and scopes, loops
//   steps.cc         steps templates: step groups, their nodes and outbound nodes
//   dag.cc           dag templates: the plan, depends, tasks
//   workflow_pod.cc  pods: starting them on the PodRunner, their results, daemons, cancelling
//   retry.cc         retryStrategy: Retry nodes and their attempts
//   exit_handler.cc  onExit of steps and tasks (the workflow's own is in Operate)
// Thread-safety: one thread runs the pass; pod threads only hand results over under mu_.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/file.h"
#include "core/json.h"
#include "core/status.h"
#include "workflow/engine.h"
#include "workflow/memoize.h"
#include "workflow/model.h"
#include "workflow/pod_gc.h"
#include "workflow/vars.h"

namespace loom::workflow {

// ---- time ----

inline double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Pods share the host's network: a daemon's {{steps.X.ip}} / {{tasks.X.ip}}.
inline constexpr const char* kPodIP = "127.0.0.1";

// Argo's message for a steps or dag node whose template has `failFast: true` and a failed child.
inline constexpr const char* kTemplateFailFast = "template has failed or errored children and failFast enabled";

// Variables left for a later stage while a template's inputs are substituted.
inline bool KeepForLater(std::string_view name) {
  for (std::string_view p : {"steps.", "tasks.", "item", "outputs.", "workflow.status", "workflow.failures",
                             "pod.name", "retries", "lastRetry.", "node.name", "workflow.outputs.",
                             "inputs.artifacts."}) {
    // "steps." also keeps a bare "steps", as an expression may read it (steps['a-b']).
    if (name.substr(0, p.size()) == p || (p.back() == '.' && name == p.substr(0, p.size() - 1))) return true;
  }
  return false;
}
// Argo's lastRetry.* of an attempt after `last` (nullptr: the first attempt, Argo's defaults);
// `no_exit_code` when `last` has none ("-1" for retryStrategy.expression, "0" in a pod).
Scope LastRetryScope(const NodeStatus* last, const std::string& no_exit_code);
// A template or a step with the {{...}} of its strings filled, as Argo does it: through its JSON
// form (ToJson, SubstituteJson, FromJson).
StatusOr<Template> SubstituteTemplate(const Template& tmpl, const Scope& scope, bool (*keep)(std::string_view));
StatusOr<Step> SubstituteStep(const Step& step, const Scope& scope, bool (*keep)(std::string_view));

inline bool KeepItem(std::string_view name) { return name == "item" || name.substr(0, 5) == "item."; }
inline bool KeepOutputs(std::string_view name) { return name.substr(0, 8) == "outputs." || name == "outputs"; }

// How a loop item shows in a node name: "(0:foo)", maps as "(0:a:1,b:2)", sorted by key.
inline std::string ItemDescription(const Json& item) {
  if (item.is_object()) {
    std::vector<std::string> vals;
    for (auto it = item.begin(); it != item.end(); ++it) vals.push_back(it.key() + ":" + ParameterString(it.value()));
    std::sort(vals.begin(), vals.end());
    std::string out;
    for (size_t i = 0; i < vals.size(); ++i) out += (i ? "," : "") + vals[i];
    return out;
  }
  return ParameterString(item);
}

// A parameter's valueFrom.configMapKeyRef (`ref`: name, key, optional; Argo's, for workflow
// arguments and template inputs), read from the ConfigMaps of namespace `ns` (the workflow's)
// under <home>/objects (`loom configmap`, `loom apply`): its value, or nullopt when the
// ConfigMap or key is missing and the ref is optional. Errors name `field`. In engine.cc.
StatusOr<std::optional<std::string>> ConfigMapParameter(const std::string& home, const std::string& ns,
                                                        const Json& ref, const std::string& field);

class WorkflowRun;

// Artifacts in a scope, by the variable that names them ("inputs.artifacts.a",
// "steps.gen.outputs.artifacts.out").
using Artifacts = std::map<std::string, Artifact>;

class Engine::Impl {
 public:
  explicit Impl(const EngineOptions& o) : options(o), home(o.home.empty() ? LoomHome() : o.home) {}
  EngineOptions options;
  std::string home;
  std::atomic<bool> shutdown{false};
  std::mutex runs_mu;
  std::set<WorkflowRun*> runs;
  void WakeAll();
};

struct PodTask {
  std::string node_id;
  std::thread thread;
  std::atomic<bool> cancel{false};
  std::string cancel_message;  // set with cancel: the node's message instead of the pod's
  double deadline = 0;         // epoch seconds; 0: none
  bool exit_handler = false;   // part of an exit handler (runs on Stop)
  bool daemon_stopped = false; // a daemon stopped as its scope ended: its node Succeeded
};

enum class FailFastState { kNone, kStopped, kEnded };

struct ExecOptions {
  std::string boundary_id;
  bool on_exit = false;  // inside an exit handler
};

// One step or task after {{...}} and loop expansion: one entry per node it makes.
struct Expanded {
  std::string name;     // node name
  std::string display;  // display name
  Step step;            // the step/task with {{item}} substituted
};
struct Expansion {
  bool is_loop = false;
  std::vector<Expanded> items;
};

struct DagTask {
  const Step* task;
  std::string name;
  std::set<std::string> deps;
  std::string depends;  // the expression (dependencies become one)
};

struct DagPlan {
  std::vector<DagTask> tasks;
  std::map<std::string, size_t> index;                         // task name -> tasks[i]
  std::set<std::string> wanted;                                // the targets and what they need
  std::vector<size_t> order;                                   // dependencies first
  std::map<std::string, std::vector<std::string>> dependents;  // task -> tasks that depend on it
  // Worked out on the DAG node's first pass, so that a pass costs what is still open, not the
  // size of the DAG:
  std::vector<std::string> node_ids;           // tasks[i]'s node id
  std::vector<std::vector<size_t>> dep_index;  // tasks[i]'s dependencies, as indices
  std::vector<size_t> open;  // the wanted tasks, dependencies first, whose node has not ended
                             // (with its exit handler) yet; an ended one never runs again here
  std::set<size_t> failed;   // tasks that ended Failed or Error without continueOn (failFast)
};

// What a node's template works out to, kept for the node's life in this run.
struct NodeContext {
  Template tmpl;                    // inputs bound, inputs and globals substituted
  std::string tmpl_name;
  Scope scope;                      // inputs, globals, and the outputs of finished steps
  Artifacts arts;                   // artifacts in scope, by variable name
  std::unique_ptr<DagPlan> dag;     // for a dag template
  std::optional<Memoize> memoize;   // the template's memoize, its key substituted
};

class WorkflowRun {
 public:
  // `key`: the workflow's ObjectKey (store.h), how the store and the launcher's files know it.
  WorkflowRun(Engine::Impl& engine, std::string key)
      : engine_(engine), store_(*engine.options.store), pods_(engine.options.pods), key_(std::move(key)),
        name_(KeyName(key_)) {}

  ~WorkflowRun() { StopAllPods(""); }

  Status Load();

  Status Run();

  void Wake() { cv_.notify_all(); }

 private:
  // ---------------------------------------------------------------- state access

  NodeStatus* Find(const std::string& node_name);
  NodeStatus* FindId(const std::string& id);
  // A node about to change: it is written at the end of the pass.
  NodeStatus& Mut(NodeStatus* node);

  NodeStatus* InitNode(const std::string& node_name, const std::string& display, NodeType type,
                       const std::string& template_name, const std::string& boundary_id, NodePhase phase,
                       const std::string& message = "");

  NodeStatus* MarkPhase(NodeStatus* node, NodePhase phase, const std::string& message = "",
                        bool set_message = true);

  void AddChild(NodeStatus* parent, const std::string& child_id);

  // Argo's outbound nodes: the nodes a following step or task hangs from.
  std::vector<std::string> Outbound(const std::string& id);

  // ---------------------------------------------------------------- globals

  void InitGlobals();

  // Output parameters and artifacts with a globalName become workflow outputs.
  void ExportGlobalOutputs(const Template& tmpl, const Outputs& outputs);
  // The workflow's output artifact a variable names ("workflow.outputs.artifacts.X"), or nullptr.
  const Artifact* GlobalArtifact(const std::string& variable) const;

  // ---------------------------------------------------------------- the pass

  void Operate();

  std::string Failures();

  void UpdateProgress();

  void Timer(double at);

  // Should a node that has not started yet start? Not when stopping (except in exit handlers on
  // Stop) or past the workflow's deadline.
  std::string BlockedReason(const ExecOptions& opts) const;

  // ---------------------------------------------------------------- templates

  // The template a step/task/holder names: by name, templateRef (a stored WorkflowTemplate) or
  // inline.
  StatusOr<Template> ResolveTemplate(const Step& holder);

  // Binds the caller's arguments to the template's inputs and substitutes inputs and globals.
  // Returns the processed template; `scope` receives the template's local variables.
  StatusOr<Template> ProcessInputs(const Template& tmpl, const Arguments& args, Scope& scope, Artifacts& arts);

  static NodeType NodeTypeFor(TemplateKind kind);

  // Argo's executeTemplate: the node for `node_name`, created or advanced. Returns nullptr when a
  // new node may not start yet (parallelism).
  NodeStatus* ExecuteTemplate(const std::string& node_name, const std::string& display, const Step& holder,
                        const ExecOptions& opts);

  // Argo's retryStrategy: a Retry node whose children are the attempts name(0), name(1)..., a
  // new attempt after a failure the policy retries, within limit, backoff and maxDuration.
  NodeStatus* ExecuteRetries(const std::string& node_name, const std::string& display, NodeStatus* node, NodeContext& ctx,
                       const ExecOptions& opts);

  NodeStatus* ExecuteKind(const std::string& node_name, const std::string& display, const ExecOptions& opts,
                          NodeStatus* node, size_t attempt, NodeContext& ctx);

  // ---------------------------------------------------------------- pods

  // Pods running and not being stopped. Daemons that are ready count against the workflow's
  // parallelism (Argo counts every Running pod), not against the engine's max_running_pods: an
  // idle server must not keep the steps that use it from starting.
  int RunningPodCount(bool count_daemoned = true);

  NodeStatus* ExecutePod(const std::string& node_name, const std::string& display, const std::string& tmpl_name,
                   const Template& tmpl, Scope& scope, const ExecOptions& opts, size_t attempt);

  void Cancel(PodTask& task, const std::string& message);

  // A new pod node's inputs (what the pod is given) and no start time yet.
  void RecordInputs(NodeStatus* node, const Template& tmpl);

  // Applies the results of pods that ended.
  void DrainFinished();

  // The Retry node a pod node is an attempt of ("name(2)" of "name"), or nullptr.
  NodeStatus* RetryParent(const NodeStatus& node);
  // A Retry node's attempts in order ("name(0)", "name(1)"...), without its hooks and exit
  // handler, which are its children too.
  std::vector<std::string> Attempts(const NodeStatus& retry);
  // globals_'s workflow.duration, now (operator.cc).
  void SetDuration();
  // retryStrategy.expression after `attempts` attempts, the last one `last` (retry.cc).
  StatusOr<bool> RetryExpression(const std::string& expression, const Scope& scope, size_t attempts,
                                 const NodeStatus& last);

  // Argo's killDaemonedChildren: as a steps or dag node (`scope_id`; nullptr: any) ends, the
  // daemons it started are stopped (SIGTERM, then SIGKILL) and their nodes marked Succeeded. A
  // daemon already being stopped by a shutdown or deadline is left to fail as other pods do.
  void StopDaemons(const std::string* scope_id);
  // A containerSet pod's Container nodes (`<pod>.<name>`, Pending), linked as Argo links them:
  // the pod to the containers without dependencies, each to the ones depending on it.
  void InitContainerNodes(const std::string& pod_id, const Template& tmpl);
  // Their phases from the pod's result; those it did not run failed with the pod.
  void ApplyContainerResults(const NodeStatus& pod, const PodResult& result);

  // After a resume (or a daemon's retry), a step group that had ended may hold a daemon that is
  // not ready (again): its scope must wait before going on.
  bool WaitingForDaemon(const NodeStatus& group);

  void StopAllPods(const std::string& message);

  // ---------------------------------------------------------------- opening a node, suspend

  // The node of a steps, dag or suspend template or of retries: the one there is, else a new one
  // Running, or Failed with the reason when its scope may start nothing more (BlockedReason).
  NodeStatus* OpenNode(const std::string& node_name, const std::string& display, NodeType type,
                 const std::string& tmpl_name, const ExecOptions& opts);

  // A steps or dag node for this pass (OpenNode), with what its children run with: their
  // boundary is this node; `parallelism` is the template's (0: none).
  struct OpenScope {
    NodeStatus* node;
    std::string id;
    ExecOptions child_opts;
    int parallelism;
  };
  OpenScope OpenScopeNode(const std::string& node_name, const std::string& display, NodeType type,
                          const std::string& tmpl_name, const Template& tmpl, const ExecOptions& opts);

  NodeStatus* ExecuteSuspend(const std::string& node_name, const std::string& display, const std::string& tmpl_name,
                       const Template& tmpl, const ExecOptions& opts);

  // ---------------------------------------------------------------- outputs and scopes

  // Argo's buildLocalScope: what {{steps.X.*}} / {{tasks.X.*}} read.
  void AddNodeToScope(const std::string& prefix, const NodeStatus* node, Scope& scope, Artifacts& arts);

  // Outputs of the children of an expanded step/task, as JSON lists (Argo's
  // processAggregateNodeOutputs).
  // The nodes of a node's children (those there are).
  std::vector<const NodeStatus*> Children(const NodeStatus& node);

  void AddAggregateToScope(const std::string& prefix, const std::vector<const NodeStatus*>& children, Scope& scope);

  // A steps/dag template's own outputs from its scope.
  // (Empty when it declares none.)
  StatusOr<Outputs> TemplateOutputs(const Template& tmpl, const Scope& scope, const Artifacts& arts);

  // A step's or task's fields with the caller's scope: parameters by substitution, artifacts by
  // reference (`from: "{{steps.X.outputs.artifacts.A}}"`).
  StatusOr<Step> ResolveCall(const Step& step, const Scope& scope, const Artifacts& arts);

  // withItems / withParam / withSequence: the items, or none when the step is not a loop.
  StatusOr<std::optional<Json>> LoopItems(const Step& step);

  StatusOr<std::vector<Expanded>> Expand(const Step& step, const std::string& base_name, const std::string& base_display,
                                         bool* is_loop);

  // A step's or task's exit handler (`onExit`, or `hooks.exit` with arguments that may read the
  // step's own outputs as {{steps.X.outputs...}} / {{tasks.X.outputs...}} and an optional
  // expression): `<child>.onExit`, run after the step, before it counts as done. `prefix` is
  // "steps.<name>" or "tasks.<name>"; `scope`/`arts` the caller's. Returns true when there is
  // none or it has ended.
  bool RunStepExitHandler(const Step& step, const NodeStatus* child, const ExecOptions& opts,
                          const std::string& prefix, const Scope& scope, const Artifacts& arts);

  // Argo's executeTmplLifeCycleHook: a step's or task's hooks other than exit, for its node
  // `child` (running or ended): each whose expression is true, over the caller's scope with the
  // step's status and outputs, runs once as `<child>.hooks.<name>`. Returns true when every hook
  // started has ended.
  bool RunLifecycleHooks(const Step& step, const NodeStatus* child, const ExecOptions& opts,
                         const std::string& prefix, const Scope& scope, const Artifacts& arts);
  // The workflow's hooks other than exit (Argo's executeWfLifeCycleHook): `<wf>.hooks.<name>`,
  // expressions over the globals with workflow.status "Running". True when all started ended.
  bool RunWorkflowHooks();
  // One hook as node `name` under `parent_id`: started when it has a node already or its
  // expression (if any) holds over `scope` (`*started` false otherwise), its arguments resolved
  // over `scope`/`arts`; an expression or argument that fails makes an Error node. Returns the
  // node (nullptr: not started, or not yet for parallelism).
  NodeStatus* RunHook(const std::string& name, const std::string& display, const LifecycleHook& hook,
                      const Scope& scope, const Artifacts& arts, const ExecOptions& opts,
                      const std::string& parent_id, bool* started);

  // ---------------------------------------------------------------- steps

  NodeStatus* ExecuteSteps(const std::string& node_name, const std::string& display, const std::string& tmpl_name,
                     const Template& tmpl, Scope& scope, Artifacts& arts, const ExecOptions& opts);

  void UpdateStepsOutbound(NodeStatus* node, const std::string& node_name, size_t groups);

  // `start_new`: false once a failFast template has a failed child (running steps go on).
  NodeStatus* ExecuteStepGroup(const std::vector<Step>& group, const std::string& sg_name, Scope& scope,
                         Artifacts& arts, const ExecOptions& opts, int parallelism, bool start_new);

  // ---------------------------------------------------------------- dag

  // A DAG template's tasks, dependencies, targets and order, worked out once per DAG node.
  static DagPlan BuildDagPlan(const Template& tmpl);

  NodeStatus* ExecuteDag(const std::string& node_name, const std::string& display, const std::string& tmpl_name,
                   const Template& tmpl, Scope& scope, Artifacts& arts, const ExecOptions& opts,
                   DagPlan& plan);

  // Argo's documented `failFast`: has a task of the DAG failed with nothing left to handle it
  // (no task that depends on it ran or can still run)?
  bool DagFailedFast(const DagPlan& plan);

  // A steps or dag node whose template has `failFast: true` (Argo's checkParallelism): kNone
  // while no child (a pod, steps or dag node of its boundary) has failed or errored, kStopped
  // after one did while others still run (no new child starts), kEnded once none runs (the node
  // fails with kTemplateFailFast).
  FailFastState TemplateFailFast(const Template& tmpl, const std::string& scope_id);

  // Hangs a task's node under its dependencies' outbound nodes (or the DAG node for a root task).
  void LinkTask(NodeStatus* dag, const DagTask& t, const std::string& dag_name, NodeStatus* task_node);

  NodeStatus* ExecuteTask(const DagTask& t, const std::string& task_name, Scope& base_scope, Artifacts& base_arts,
                    const ExecOptions& opts, int parallelism, int& active, const std::string& dag_name);

  // ---------------------------------------------------------------- the store

  // Picks up what other processes changed: spec.shutdown / spec.suspend, resumed suspend nodes.
  Status PollStore();

  Status Persist();

  // ---------------------------------------------------------------- memoize (memoize.h)

  // A memoized template's node about to be created: on a cache hit, the node, Succeeded with the
  // cached outputs (memoizationStatus.hit); on an error, the node in Error; else nullptr (run it).
  NodeStatus* MemoizedNode(const std::string& node_name, const std::string& display, const ExecOptions& opts,
                           const NodeContext& ctx);
  // Saves the outputs of a memoized node that Succeeded (once per run); a node whose outputs
  // cannot be saved becomes Error, as in Argo. Without an argument: every node changed since the
  // last Persist.
  void SaveMemoized(NodeStatus& node);
  void SaveMemoized();

  // ---------------------------------------------------------------- synchronization.h

  // Argo's holder key: "<namespace>/<workflow>", or ".../<node id>" for a template's locks.
  std::string HolderKey(const std::string& node_id = "") const;
  // spec.synchronization: true once the workflow holds its locks; until then it is Pending with
  // Argo's "Waiting for ... lock" (or Failed, when they cannot be had).
  bool AcquireWorkflowLocks();
  // A template's synchronization for node `id`: "" once held (or none), else why it waits, or
  // sets *error when the locks cannot be had.
  std::string AcquireTemplateLocks(const std::string& id, const Template& tmpl, std::string* error);
  // Releases what a node (or, with "", the whole workflow) holds or waits for.
  void ReleaseLocks(const std::string& node_id);
  // Releases the locks of nodes that ended since the last pass (a pod ends outside the pass).
  void ReleaseEndedNodeLocks();
  // status.synchronization from the store, when a lock changed hands in this pass.
  void UpdateSyncStatus();

  // ---------------------------------------------------------------- podGC (pod_gc.h)

  // A pod node that ended: its folder is due for removal when spec.podGC says so.
  void PodEnded(const NodeStatus& node);
  // As the workflow ends: every pod's folder, when spec.podGC says so.
  void WorkflowEnded(bool succeeded);
  // Removes the folders that are due (all of them with `wait`: sleeping until each is, unless
  // the engine shuts down). Returns the time the next one is due (0: none left).
  double CollectPods(bool wait);
  // The labels Argo's pod of this node would have (podGC.labelSelector).
  Json PodLabels(const NodeStatus& node);

  Engine::Impl& engine_;
  Store& store_;
  PodRunner* pods_;
  std::string key_;   // the store's key: "<namespace>/<name>", the name in "default"
  std::string name_;  // metadata.name: node ids, {{workflow.name}}
  Metadata metadata_;
  WorkflowSpec spec_;
  WorkflowStatus status_;
  std::unordered_map<std::string, NodeStatus> nodes_;
  std::set<std::string> dirty_;
  bool status_dirty_ = false;
  Scope globals_;
  std::map<std::string, Template> ref_cache_;
  std::unordered_map<std::string, NodeContext> contexts_;  // by node id
  std::unordered_map<std::string, Expansion> expansions_;  // by the step's/task's node name
  std::map<std::string, double> finish_times_;
  std::set<std::string> suspended_;
  std::string shutdown_;
  bool deadline_exceeded_ = false;
  double wakeup_ = 0;

  std::map<std::string, std::unique_ptr<PodTask>> running_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<std::string, PodResult>> finished_;  // guarded by mu_
  std::vector<std::string> ready_;                           // guarded by mu_: daemons now ready
  std::set<std::string> daemons_;  // daemon pod nodes started (or to start again) and not ended
  std::set<std::string> memo_saved_;  // memoized nodes whose outputs this run saved
  PodGC pod_gc_;                                 // spec.podGC
  bool workflow_locks_held_ = false;             // spec.synchronization's, once acquired
  std::set<std::string> node_locks_held_;        // nodes holding their template's locks
  bool sync_dirty_ = false;                      // status.synchronization to read again
  std::map<std::string, double> pod_gc_due_;     // pod node id -> when its folder goes
};

}  // namespace loom::workflow
