// The typed model of an Argo workflow (argoproj.io/v1alpha1), as Argo's wfv1 package has it:
// Workflow, WorkflowSpec, Template, Step (a step or a DAG task), Inputs, Outputs, Parameter,
// Artifact, RetryStrategy, Arguments, Metadata, and the node status the store keeps, with the
// phases and node types as enums.
//
// JSON stays at the edges: a manifest is checked by Lint (spec.h) and read here once with
// FromJson; the store, the API and `-o json` write ToJson. The engine reads the structs.
// ToJson(FromJson(x)) is x for every field Loom knows (the round-trip test checks every example
// and test case); fields of Kubernetes objects that the engine hands to a pod unchanged stay JSON:
//   - a container or script (`Template::container`): Kubernetes' Container, read by the pod
//     runner and container/pod_spec (env, envFrom, volumeMounts, securityContext, probes...);
//   - a resource template's manifest (`ResourceTemplate::manifest`): any Kubernetes object;
//   - `spec.volumes`, `spec.volumeClaimTemplates`, and the pod-level fields a template passes
//     to its pod (`Template::pod`: nodeSelector, affinity, initContainers, sidecars...).
// Values Argo types as IntOrString or AnyString (a parameter's value, parallelism, a duration)
// are JSON scalars: before {{...}} substitution they may be a string naming a variable.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace loom::workflow {

// ---------------------------------------------------------------- phases and node types

// A node's (and a workflow's) phase, as Argo spells them.
enum class NodePhase { kPending, kRunning, kSucceeded, kFailed, kError, kSkipped, kOmitted };
const char* ToString(NodePhase phase);
StatusOr<NodePhase> ParseNodePhase(std::string_view text);
// Succeeded, Failed, Error, Skipped, Omitted.
bool IsCompleted(NodePhase phase);
inline bool IsFailedOrError(NodePhase phase) { return phase == NodePhase::kFailed || phase == NodePhase::kError; }

// kContainer: one container of a containerSet pod (a child of its Pod node, as Argo shows it).
enum class NodeType { kPod, kSteps, kStepGroup, kDAG, kTaskGroup, kRetry, kSkipped, kSuspend, kContainer };
const char* ToString(NodeType type);
StatusOr<NodeType> ParseNodeType(std::string_view text);

// What a template does: exactly one of these per template.
// kContainerSet: containers of one pod with their dependencies (Template::container holds the
// containerSet as written: containers, volumeMounts, retryStrategy).
enum class TemplateKind { kContainer, kScript, kResource, kSteps, kDag, kSuspend, kHttp, kContainerSet };
const char* ToString(TemplateKind kind);  // the field's name: "container", "script", ...

// ---------------------------------------------------------------- the spec

struct ValueFrom {
  std::optional<std::string> path;       // a file the pod writes
  std::optional<std::string> parameter;  // a {{...}} of a steps/dag template's scope
  std::optional<std::string> json_path;  // `jsonPath`: of a resource template's object
  std::optional<Json> default_value;     // `default`
  std::optional<std::string> expression; // a steps/dag template's output, evaluated (expr_lang.h)
  std::optional<Json> config_map_key_ref;  // `configMapKeyRef`: Kubernetes' ConfigMapKeySelector
  Json other = Json::object();           // supplied... as written
};

struct Parameter {
  std::string name;
  std::optional<Json> value;          // AnyString
  std::optional<Json> default_value;  // `default`
  std::optional<Json> enum_values;    // `enum`: a list
  std::optional<ValueFrom> value_from;
  std::string global_name;
  std::string description;
};

// An s3 location (Argo's S3Artifact); no bucket: the default artifact repository.
struct S3Location {
  std::string endpoint, bucket, key, region;
  bool insecure = false;
  Json other = Json::object();  // accessKeySecret, secretKeySecret...: as written (unused here)
};

struct HttpLocation {
  std::string url;
  Json other = Json::object();  // headers, auth: as written
};

// Where an artifact is (Argo's ArtifactLocation) and how it is archived. Loom reads and writes
// s3 (and the default repository), http and raw (inputs); the locations it refuses at run time
// (git, gcs, hdfs, oss, azure, artifactory) stay as written in `other`, with mode, recurseMode...
struct ArtifactLocation {
  std::optional<S3Location> s3;
  std::optional<HttpLocation> http;
  std::optional<std::string> raw;  // `raw.data`
  std::optional<Json> archive;     // `archive`: {none: {}}, {tar: {...}}
  Json other = Json::object();
  bool ArchiveNone() const;
  // The location Loom cannot read ("git", ...), or nullptr.
  const char* UnsupportedSource() const;
  bool HasSource() const { return s3 || http || raw || UnsupportedSource(); }
  // The sources and fields set in `over` replace these (an argument's over an input's).
  void Override(const ArtifactLocation& over);
};

struct Artifact {
  std::string name;
  std::optional<std::string> path;
  std::optional<std::string> from;  // "{{steps.X.outputs.artifacts.A}}"
  bool optional = false;
  std::string global_name;
  std::optional<std::string> sub_path;  // `subPath`, of an argument's key
  ArtifactLocation location;
  // Has it somewhere to come from (a location, or `from`)?
  bool HasSource() const { return location.HasSource(); }
};

struct Arguments {
  std::vector<Parameter> parameters;
  std::vector<Artifact> artifacts;
};

struct Inputs {
  std::vector<Parameter> parameters;
  std::vector<Artifact> artifacts;
};

struct Outputs {
  std::vector<Parameter> parameters;
  std::vector<Artifact> artifacts;
  std::optional<Json> result;     // a pod's stdout (AnyString)
  std::optional<Json> exit_code;  // `exitCode`
  bool empty() const { return parameters.empty() && artifacts.empty() && !result && !exit_code; }
};

struct Backoff {
  std::optional<Json> duration, factor, max_duration, cap;  // durations; factor IntOrString
};

struct RetryStrategy {
  std::optional<Json> limit;  // IntOrString; none: unlimited
  std::string retry_policy;   // Always, OnFailure (the default), OnError, OnTransientError
  std::optional<Backoff> backoff;
  std::optional<std::string> expression;  // retry only while it is true (expr_lang.h)
  Json other = Json::object();  // affinity: as written
  int Limit() const;            // -1: unlimited
};

struct TemplateRef {
  std::string name;      // the WorkflowTemplate
  std::string template_name;  // `template`
  std::optional<bool> cluster_scope;
};

struct ContinueOn {
  bool failed = false;
  bool error = false;
  // Does a child that ended in `phase` let its scope go on?
  bool Covers(NodePhase phase) const {
    return (phase == NodePhase::kFailed && failed) || (phase == NodePhase::kError && error);
  }
};

struct Sequence {
  std::optional<Json> count, start, end;  // IntOrString
  std::string format;
};

// A lifecycle hook (Argo's LifecycleHook): `exit` runs after its step, task or workflow ends (as
// onExit, with arguments that may read the step's outputs); any other name runs its template
// once `expression` is true.
struct LifecycleHook {
  std::string template_name;                // `template`
  std::optional<TemplateRef> template_ref;  // `templateRef`
  Arguments arguments;
  std::string expression;
};
// By event name; "exit" is the exit hook.
using LifecycleHooks = std::map<std::string, LifecycleHook>;
inline constexpr const char* kExitHook = "exit";

struct Template;

// A step of a steps template, or a task of a DAG (`dependencies`/`depends` then).
struct Step {
  std::string name;
  std::string template_name;                // `template`
  std::optional<TemplateRef> template_ref;  // `templateRef`
  std::shared_ptr<const Template> inline_template;  // `inline`
  Arguments arguments;
  std::optional<std::string> when;
  std::optional<Json> with_items;     // a list
  std::optional<Json> with_param;     // a JSON list as a string, or a {{...}} that gives one
  std::optional<Sequence> with_sequence;
  std::optional<ContinueOn> continue_on;
  std::string on_exit;
  LifecycleHooks hooks;
  std::optional<std::vector<std::string>> dependencies;  // DAG tasks
  std::optional<std::string> depends;                    // DAG tasks
  bool IsLoop() const { return with_items || with_param || with_sequence; }
  bool ContinuesOn(NodePhase phase) const { return continue_on && continue_on->Covers(phase); }
  // The template's name as a node shows it (`template`, or templateRef's template).
  const std::string& CalledName() const {
    return template_ref ? template_ref->template_name : template_name;
  }
};

struct DagTemplate {
  std::vector<Step> tasks;
  std::optional<std::string> target;
  std::optional<Json> fail_fast;
  // `failFast` (default true): after a task fails with nothing to handle it, no new task starts.
  bool FailFast() const { return !fail_fast || *fail_fast != false; }
};

// A resource template (Argo's ResourceTemplate); its manifest is any Kubernetes object, as text.
struct ResourceTemplate {
  std::string action;
  std::string manifest;
  std::string success_condition, failure_condition;
  Json other = Json::object();  // setOwnerReference, flags...: as written
};

struct Template {
  std::string name;
  TemplateKind kind = TemplateKind::kContainer;
  Inputs inputs;
  std::optional<Outputs> outputs;
  Json container;                                   // container or script (Kubernetes' Container), or containerSet
  ResourceTemplate resource;
  Json http;                                        // an http template, as written (http_template.h)
  std::vector<std::vector<Step>> steps;             // steps: groups of steps
  DagTemplate dag;
  std::optional<Json> suspend_duration;             // suspend.duration
  std::optional<RetryStrategy> retry_strategy;
  std::optional<Json> daemon;                       // true, or a {{...}} that gives it
  std::optional<Json> parallelism;                  // IntOrString (before substitution)
  std::optional<Json> active_deadline_seconds;      // IntOrString
  std::optional<Json> timeout;                      // a duration
  std::optional<Json> fail_fast;
  // The pod's own fields the runtimes act on (Kubernetes' types, as written).
  std::vector<Json> init_containers;    // `initContainers`: Containers
  std::vector<Json> sidecars;           // Containers
  std::optional<Json> security_context; // the pod's PodSecurityContext
  std::optional<Json> pod_spec_patch;   // `podSpecPatch` (applied by the engine: pod_spec_patch.h)
  Json pod = Json::object();  // the other fields, for the pod (metadata, nodeSelector, volumes...)
  bool IsDaemon() const { return daemon && (*daemon == true || *daemon == "true"); }
  // The template's `failFast` (steps and dag templates): a failed child stops new children.
  bool FailFast() const { return fail_fast && *fail_fast == true; }
  int Parallelism() const;  // 0: none
  const Parameter* OutputParameter(const std::string& name) const;
};

struct Metadata {
  std::string name, generate_name, namespace_name, uid, creation_timestamp;
  Json labels = Json::object();
  Json annotations = Json::object();
  Json other = Json::object();  // resourceVersion, ownerReferences...: as written
};

struct WorkflowSpec {
  std::string entrypoint;
  Arguments arguments;
  std::vector<Template> templates;
  std::string on_exit;
  int parallelism = 0;                            // 0: none
  std::optional<int64_t> active_deadline_seconds;
  std::string service_account_name;
  std::optional<Json> volumes;                    // Kubernetes volumes: for the pods
  std::optional<Json> volume_claim_templates;
  bool suspend = false;
  std::string shutdown;                           // "", Stop, Terminate
  std::optional<TemplateRef> workflow_template_ref;
  std::optional<RetryStrategy> retry_strategy;
  LifecycleHooks hooks;  // the workflow's own (`exit` is its exit handler, as onExit)
  Json other = Json::object();  // podGC, ttlStrategy, nodeSelector...: as written
  // The template named `name`, or nullptr.
  const Template* FindTemplate(const std::string& name) const;
};

// A Workflow or WorkflowTemplate (the status is the store's: workflow_run.h).
struct Workflow {
  std::string api_version;
  std::string kind;
  Metadata metadata;
  WorkflowSpec spec;
};

// ---------------------------------------------------------------- node status

// A memoized template's node (Argo's MemoizationStatus): its key in the cache (a ConfigMap), and
// whether the node's outputs came from there (`hit`) instead of running it.
struct MemoizationStatus {
  bool hit = false;
  std::string key;
  std::string cache_name;  // the ConfigMap's name
};

// One node of a workflow's tree (Argo's NodeStatus), one row of the store.
struct NodeStatus {
  std::string id;
  std::string name;
  std::string display_name;
  NodeType type = NodeType::kPod;
  std::string template_name;
  std::string template_scope;
  NodePhase phase = NodePhase::kPending;
  std::string boundary_id;
  std::string message;
  std::string started_at, finished_at;  // RFC 3339; empty: not yet
  std::string progress;                 // "0/1"
  bool daemoned = false;
  std::string pod_ip;
  std::string pod_runtime;  // "container" or "process": which ran its pod (Loom's podRuntime)
  std::optional<Inputs> inputs;    // what a pod was given
  std::optional<Outputs> outputs;
  std::vector<std::string> children;
  std::vector<std::string> outbound_nodes;
  std::optional<MemoizationStatus> memoization_status;  // `memoizationStatus`
  Json other = Json::object();     // fields another version wrote: kept as they are

  bool Fulfilled() const { return IsCompleted(phase); }
  bool FailedOrError() const { return IsFailedOrError(phase); }
  // Has it done what its scope waits for: ended, or (a daemon) become ready?
  bool Done() const { return Fulfilled() || daemoned; }
  bool HasChild(const std::string& id) const;
};

// A workflow's status without its nodes (the store keeps those one row each).
struct WorkflowStatus {
  std::string phase;  // "" (not started), Pending, Running, Succeeded, Failed, Error
  std::string message;
  std::string started_at, finished_at;
  std::string progress;
  std::optional<Outputs> outputs;  // global outputs (globalName)
  // Templates of WorkflowTemplates as first used ("namespaced/<wt>/<template>"), so that a
  // later change of the WorkflowTemplate does not change a running workflow.
  std::map<std::string, Template> stored_templates;
  Json other = Json::object();  // fields another version wrote: kept as they are
};

// ---------------------------------------------------------------- JSON at the edges

// Each FromJson reads a checked document (spec.h's Lint); a field of the wrong type is an error
// naming its path under `path`.
StatusOr<Workflow> WorkflowFromJson(const Json& manifest);
StatusOr<WorkflowSpec> WorkflowSpecFromJson(const Json& spec, const std::string& path = "spec");
StatusOr<Template> TemplateFromJson(const Json& tmpl, const std::string& path);
StatusOr<Step> StepFromJson(const Json& step, const std::string& path);
StatusOr<Arguments> ArgumentsFromJson(const Json& args, const std::string& path);
StatusOr<LifecycleHooks> HooksFromJson(const Json& hooks, const std::string& path);
StatusOr<Outputs> OutputsFromJson(const Json& outputs, const std::string& path);
StatusOr<Artifact> ArtifactFromJson(const Json& artifact, const std::string& path);
StatusOr<NodeStatus> NodeStatusFromJson(const Json& node);
// `status` without its nodes (a "nodes" field is left out).
StatusOr<WorkflowStatus> WorkflowStatusFromJson(const Json& status);

Json ToJson(const Workflow& wf);
Json ToJson(const WorkflowSpec& spec);
Json ToJson(const Template& tmpl);
Json ToJson(const Step& step);
Json ToJson(const Arguments& args);
Json ToJson(const LifecycleHooks& hooks);
Json ToJson(const Inputs& inputs);
Json ToJson(const Outputs& outputs);
Json ToJson(const Parameter& parameter);
Json ToJson(const Artifact& artifact);
Json ToJson(const NodeStatus& node);
Json ToJson(const WorkflowStatus& status);

}  // namespace loom::workflow
