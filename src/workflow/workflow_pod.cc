// Pods (Argo's workflowpod.go and pod reconciliation): a pod node's attempt started on the
// PodRunner on a thread of its own, its result applied, daemons, cancelling.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "core/file.h"
#include "core/logging.h"
#include "core/time.h"
#include "workflow/expr.h"
#include "workflow/launcher.h"
#include "workflow/pod_spec_patch.h"
#include "workflow/spec.h"
#include "workflow/vars.h"
#include "workflow/workflow_run.h"

namespace loom::workflow {
namespace {

// The workflow's choice of pod runtime (kPodRuntimeAnnotation), "" when it makes none.
std::string PodRuntimeAnnotation(const Metadata& metadata) {
  if (!metadata.annotations.is_object()) return "";
  auto it = metadata.annotations.find(kPodRuntimeAnnotation);
  return it != metadata.annotations.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

int WorkflowRun::RunningPodCount(bool count_daemoned) {
  int n = 0;
  for (const auto& [id, t] : running_) {
    if (t->cancel.load()) continue;
    if (!count_daemoned && !daemons_.empty()) {
      if (const NodeStatus* node = FindId(id); node && node->daemoned) continue;
    }
    ++n;
  }
  return n;
}

void WorkflowRun::RecordInputs(NodeStatus* node, const Template& tmpl) {
  if (!tmpl.inputs.parameters.empty() || !tmpl.inputs.artifacts.empty()) {
    // What the pod is given: its parameters' values, its artifacts with their sources.
    Inputs inputs;
    for (const Parameter& p : tmpl.inputs.parameters) {
      Parameter v;
      v.name = p.name;
      v.value = p.value.value_or(Json(""));
      inputs.parameters.push_back(std::move(v));
    }
    inputs.artifacts = tmpl.inputs.artifacts;
    Mut(node).inputs = std::move(inputs);
  }
  node->started_at.clear();
}

NodeStatus* WorkflowRun::ExecutePod(const std::string& node_name, const std::string& display, const std::string& tmpl_name,
    const Template& tmpl, Scope& scope, const ExecOptions& opts, size_t attempt) {
  NodeStatus* node = Find(node_name);
  if (node && node->Fulfilled()) return node;
  if (node && running_.count(node->id)) return node;
  if (!node) {
    std::string blocked = BlockedReason(opts);
    if (!blocked.empty()) {
      return InitNode(node_name, display, NodeType::kPod, tmpl_name, opts.boundary_id, NodePhase::kFailed, blocked);
    }
    node = InitNode(node_name, display, NodeType::kPod, tmpl_name, opts.boundary_id, NodePhase::kPending);
    RecordInputs(node, tmpl);
  }
  // Pending: start it when allowed.
  std::string blocked = BlockedReason(opts);
  if (!blocked.empty()) return MarkPhase(node, NodePhase::kFailed, blocked);
  if (spec_.suspend && !opts.on_exit) return node;
  const int limit = spec_.parallelism;
  if (limit > 0 && RunningPodCount() >= limit) return node;
  if (engine_.options.max_running_pods > 0 && RunningPodCount(false) >= engine_.options.max_running_pods) return node;

  const std::string id = node->id;
  Scope pod_scope = scope;
  pod_scope["pod.name"] = id;
  pod_scope["node.name"] = node_name;
  pod_scope["retries"] = std::to_string(attempt);
  // Argo gives an attempt its previous attempt's lastRetry.* (defaults on the first).
  const NodeStatus* previous = nullptr;
  if (attempt > 0) {
    const NodeStatus* parent = RetryParent(*node);
    const std::vector<std::string> attempts = parent ? Attempts(*parent) : std::vector<std::string>();
    if (attempts.size() >= static_cast<size_t>(attempt)) previous = FindId(attempts[attempt - 1]);
  }
  for (auto& [k, v] : LastRetryScope(previous, "0")) pod_scope[k] = v;
  if (tmpl.outputs) {
    // {{outputs.parameters.P.path}} / {{outputs.artifacts.A.path}}: where the pod writes them.
    for (const Parameter& p : tmpl.outputs->parameters) {
      if (p.value_from && p.value_from->path) pod_scope["outputs.parameters." + p.name + ".path"] = *p.value_from->path;
    }
    for (const Artifact& a : tmpl.outputs->artifacts) {
      if (a.path) pod_scope["outputs.artifacts." + a.name + ".path"] = *a.path;
    }
  }
  StatusOr<Template> final_tmpl = SubstituteTemplate(tmpl, pod_scope, KeepOutputs);
  if (!final_tmpl.ok()) return MarkPhase(node, NodePhase::kError, final_tmpl.status().message());
  if (!pods_) return MarkPhase(node, NodePhase::kError, "no pod runner in this engine");

  auto task = std::make_unique<PodTask>();
  task->node_id = id;
  task->exit_handler = opts.on_exit;
  double ads = 0;
  if (tmpl.active_deadline_seconds) {
    const Json& a = *tmpl.active_deadline_seconds;
    ads = a.is_number() ? a.get<double>() : std::atof(ParameterString(a).c_str());
  }
  double timeout = 0;
  if (tmpl.timeout && DurationSeconds(*tmpl.timeout, &timeout) && timeout > 0) {
    ads = ads > 0 ? std::min(ads, timeout) : timeout;
  }
  double now = NowSeconds();
  if (ads > 0) {
    task->deadline = now + ads;
    Timer(task->deadline);
  }
  PodRequest req;
  req.workflow = key_;
  req.node_id = id;
  req.node_name = node_name;
  req.tmpl = std::move(*final_tmpl);
  // podSpecPatch: the workflow's (its {{workflow.*}} filled), then the template's (filled above).
  std::vector<Json> patches;
  if (spec_.other.contains("podSpecPatch")) {
    StatusOr<Json> patch = SubstituteJson(spec_.other["podSpecPatch"], globals_, nullptr);
    if (!patch.ok()) return MarkPhase(node, NodePhase::kError, "spec.podSpecPatch: " + patch.status().message());
    patches.push_back(std::move(*patch));
  }
  if (req.tmpl.pod_spec_patch) patches.push_back(*req.tmpl.pod_spec_patch);
  if (Status patched = ApplyPodSpecPatches(patches, &req.tmpl); !patched.ok()) {
    return MarkPhase(node, NodePhase::kError, patched.message());
  }
  // Volumes may use the workflow's parameters (Argo's substituteParamsInVolumes).
  StatusOr<Json> volumes = SubstituteJson(spec_.volumes.value_or(Json::array()), globals_, nullptr);
  if (!volumes.ok()) return MarkPhase(node, NodePhase::kError, "spec.volumes: " + volumes.status().message());
  req.volumes = std::move(*volumes);
  // The template's own volumes (Argo's Template.volumes), beside the workflow's.
  if (req.tmpl.pod.contains("volumes") && req.tmpl.pod["volumes"].is_array()) {
    for (const Json& v : req.tmpl.pod["volumes"]) req.volumes.push_back(v);
  }
  // A volumeClaimTemplate is one directory per workflow, shared by its steps (VolumeSource).
  if (spec_.volume_claim_templates) {
    for (const Json& v : *spec_.volume_claim_templates) req.volumes.push_back(v);
  }
  req.pod_dir = PodDir(engine_.home, key_, id);
  if (Status fresh = RemoveAll(req.pod_dir); !fresh.ok()) return MarkPhase(node, NodePhase::kError, fresh.message());
  if (Status made = MakeDirs(req.pod_dir); !made.ok()) return MarkPhase(node, NodePhase::kError, made.message());
  req.cancel = &task->cancel;
  req.runtime = PodRuntimeAnnotation(metadata_);

  if (req.tmpl.IsDaemon()) {
    daemons_.insert(id);
    req.on_ready = [this, id] {
      {
        std::lock_guard<std::mutex> lock(mu_);
        ready_.push_back(id);
      }
      cv_.notify_all();
    };
  }
  NodeStatus& n = Mut(node);
  n.phase = NodePhase::kRunning;
  n.started_at = Rfc3339(now);
  n.finished_at.clear();
  n.message.clear();
  n.outputs.reset();
  n.daemoned = false;
  n.progress = "0/1";
  if (req.tmpl.kind == TemplateKind::kContainerSet) InitContainerNodes(id, req.tmpl);
  PodTask* raw = task.get();
  running_[id] = std::move(task);
  raw->thread = std::thread([this, raw, req = std::move(req)]() {
    // The boundary of a pod's thread: an exception of the pod runner is this pod's Error.
    PodResult result;
    try {
      result = pods_->Run(req, store_);
    } catch (const std::exception& e) {
      result = PodResult{"Error", std::string("internal error in the pod runner: ") + e.what(), Json::object(), "", {}};
    } catch (...) {
      result = PodResult{"Error", "internal error in the pod runner: an exception of unknown type", Json::object(), "", {}};
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      finished_.emplace_back(raw->node_id, std::move(result));
    }
    cv_.notify_all();
  });
  return node;
}

void WorkflowRun::Cancel(PodTask& task, const std::string& message) {
  task.cancel_message = message;
  task.cancel.store(true);
}

void WorkflowRun::DrainFinished() {
  std::vector<std::pair<std::string, PodResult>> done;
  std::vector<std::string> ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done.swap(finished_);
    ready.swap(ready_);
  }
  // Daemons that became ready: their scope goes on (Argo's "Node became daemoned").
  for (const std::string& id : ready) {
    auto it = running_.find(id);
    if (it == running_.end() || it->second->cancel.load()) continue;
    NodeStatus* node = FindId(id);
    if (!node || node->Fulfilled()) continue;
    NodeStatus& n = Mut(node);
    n.daemoned = true;
    n.pod_ip = kPodIP;
    n.message.clear();
    if (NodeStatus* retry = RetryParent(*node)) Mut(retry).daemoned = true;
  }
  for (auto& [id, result] : done) {
    auto it = running_.find(id);
    if (it == running_.end()) continue;
    it->second->thread.join();
    std::string cancel_message = it->second->cancel.load() ? it->second->cancel_message : "";
    const bool daemon_stopped = it->second->daemon_stopped;
    running_.erase(it);
    daemons_.erase(id);
    NodeStatus* node = FindId(id);
    if (!node) continue;
    NodeStatus& n = Mut(node);
    n.daemoned = false;
    if (NodeStatus* retry = RetryParent(*node); retry && retry->daemoned) Mut(retry).daemoned = false;
    // The pod's outputs, read at this edge into the node's.
    std::optional<Outputs> outputs;
    std::string outputs_error;
    if (result.outputs.is_object() && !result.outputs.empty()) {
      StatusOr<Outputs> read = OutputsFromJson(result.outputs, "outputs");
      if (read.ok()) outputs = std::move(*read);
      else outputs_error = "pod runner returned bad outputs: " + read.status().message();
    }
    if (!result.runtime.empty()) n.pod_runtime = result.runtime;
    if (daemon_stopped) {  // its node Succeeded when its scope ended (StopDaemons)
      if (outputs) n.outputs = std::move(outputs);
      finish_times_[id] = NowSeconds();
      continue;
    }
    StatusOr<NodePhase> parsed = ParseNodePhase(result.phase);
    NodePhase phase = parsed.ok() ? *parsed : NodePhase::kError;
    std::string message = result.message;
    if (!cancel_message.empty()) {
      phase = NodePhase::kFailed;
      message = cancel_message;
    } else if (!parsed.ok() || (phase != NodePhase::kSucceeded && !IsFailedOrError(phase))) {
      message = "pod runner returned phase \"" + result.phase + "\": " + message;
      phase = NodePhase::kError;
    } else if (!outputs_error.empty()) {
      message = outputs_error;
      phase = NodePhase::kError;
    }
    n.phase = phase;
    n.message = message;
    if (outputs) n.outputs = std::move(outputs);
    double now = NowSeconds();
    n.finished_at = Rfc3339(now);
    finish_times_[id] = now;
    n.progress = phase == NodePhase::kSucceeded ? "1/1" : "0/1";
    ApplyContainerResults(n, result);
    PodEnded(n);
    if (phase == NodePhase::kSucceeded && n.outputs) {
      // globalName exports need the template's declaration.
      Step holder;
      holder.template_name = n.template_name;
      StatusOr<Template> tmpl = ResolveTemplate(holder);
      ExportGlobalOutputs(tmpl.ok() ? *tmpl : Template(), *n.outputs);
    }
  }
}

void WorkflowRun::InitContainerNodes(const std::string& pod_id, const Template& tmpl) {
  const NodeStatus* pod = FindId(pod_id);
  if (!pod || !tmpl.container.contains("containers")) return;
  const std::string pod_name = pod->name, tmpl_name = pod->template_name;
  for (const Json& c : tmpl.container["containers"]) {
    const std::string name = c.value("name", "");
    InitNode(pod_name + "." + name, name, NodeType::kContainer, tmpl_name, pod_id, NodePhase::kPending);
  }
  for (const Json& c : tmpl.container["containers"]) {
    const std::string id = NodeId(name_, pod_name + "." + c.value("name", ""));
    const Json deps = c.value("dependencies", Json::array());
    if (deps.empty()) AddChild(FindId(pod_id), id);
    for (const Json& d : deps) AddChild(Find(pod_name + "." + d.get<std::string>()), id);
  }
}

void WorkflowRun::ApplyContainerResults(const NodeStatus& pod, const PodResult& result) {
  std::set<std::string> reported;
  for (const ContainerResult& c : result.containers) {
    NodeStatus* node = Find(pod.name + "." + c.name);
    if (!node) continue;
    reported.insert(node->id);
    StatusOr<NodePhase> phase = ParseNodePhase(c.phase);
    NodeStatus& n = Mut(node);
    n.phase = phase.ok() ? *phase : NodePhase::kError;
    n.message = c.message;
    if (!c.started_at.empty()) n.started_at = c.started_at;
    n.finished_at = c.finished_at.empty() ? pod.finished_at : c.finished_at;
  }
  // The containers it did not run (their dependencies failed, or the pod was stopped).
  for (auto& [id, node] : nodes_) {
    if (node.type != NodeType::kContainer || node.boundary_id != pod.id || reported.count(id) || node.Fulfilled()) continue;
    MarkPhase(&node, pod.phase == NodePhase::kSucceeded ? NodePhase::kSucceeded : NodePhase::kFailed,
              pod.phase == NodePhase::kSucceeded ? "" : "Pod Failed whilst container running");
  }
}

Json WorkflowRun::PodLabels(const NodeStatus& node) {
  Json labels = spec_.other.contains("podMetadata") && spec_.other["podMetadata"].is_object()
                    ? spec_.other["podMetadata"].value("labels", Json::object()) : Json::object();
  auto ctx = contexts_.find(node.id);
  if (ctx == contexts_.end()) {
    if (const NodeStatus* retry = RetryParent(node)) ctx = contexts_.find(retry->id);
  }
  const Json* pod = ctx != contexts_.end() ? &ctx->second.tmpl.pod : nullptr;
  const Template* t = pod ? nullptr : spec_.FindTemplate(node.template_name);
  if (!pod && t) pod = &t->pod;
  if (pod && pod->contains("metadata") && (*pod)["metadata"].is_object() && (*pod)["metadata"].contains("labels") &&
      (*pod)["metadata"]["labels"].is_object()) {
    labels.merge_patch((*pod)["metadata"]["labels"]);
  }
  if (!labels.is_object()) labels = Json::object();
  labels["workflows.argoproj.io/workflow"] = name_;
  labels["workflows.argoproj.io/completed"] = node.Fulfilled() ? "true" : "false";
  return labels;
}

void WorkflowRun::PodEnded(const NodeStatus& node) {
  if (!pod_gc_.OnPodEnd(node.phase == NodePhase::kSucceeded)) return;
  if (!MatchesLabelSelector(pod_gc_.label_selector, PodLabels(node))) return;
  const double due = NowSeconds() + pod_gc_.delete_delay_seconds;
  pod_gc_due_[node.id] = due;
  Timer(due);
}

void WorkflowRun::WorkflowEnded(bool succeeded) {
  if (!pod_gc_.OnWorkflowEnd(succeeded)) return;
  const double due = NowSeconds() + pod_gc_.delete_delay_seconds;
  for (const auto& [id, node] : nodes_) {
    if (node.type != NodeType::kPod || !MatchesLabelSelector(pod_gc_.label_selector, PodLabels(node))) continue;
    if (!pod_gc_due_.count(id)) pod_gc_due_[id] = due;
  }
}

double WorkflowRun::CollectPods(bool wait) {
  while (!pod_gc_due_.empty()) {
    double next = 0;
    for (auto it = pod_gc_due_.begin(); it != pod_gc_due_.end();) {
      if (it->second <= NowSeconds()) {
        // A pod that runs again (retry, resume) gets a fresh folder: only a finished one goes.
        const NodeStatus* n = FindId(it->first);
        if (n && n->Fulfilled() && !running_.count(it->first)) {
          Status s = RemoveAll(PodDir(engine_.home, key_, it->first));
          if (!s.ok()) LOOM_LOG(WARNING) << "workflow " << key_ << ": podGC: " << s.message();
        }
        it = pod_gc_due_.erase(it);
      } else {
        next = next == 0 ? it->second : std::min(next, it->second);
        ++it;
      }
    }
    if (!wait || next == 0) return next;
    std::unique_lock<std::mutex> lock(mu_);
    auto deadline = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(next)));
    if (cv_.wait_until(lock, deadline, [&] { return engine_.shutdown.load(); })) return next;
  }
  return 0;
}

void WorkflowRun::StopDaemons(const std::string* scope_id) {
  if (daemons_.empty()) return;
  auto stopping = [&](const std::string& pod_id) {
    auto it = running_.find(pod_id);
    return it != running_.end() && it->second->cancel.load() && !it->second->daemon_stopped;
  };
  for (auto& [id, node] : nodes_) {
    if (!node.daemoned || (scope_id && node.boundary_id != *scope_id)) continue;
    if (node.type == NodeType::kPod) {
      if (stopping(id)) continue;
      if (auto it = running_.find(id); it != running_.end()) {
        it->second->daemon_stopped = true;
        Cancel(*it->second, "");
      }
    } else if (node.type == NodeType::kRetry) {
      const std::vector<std::string> attempts = Attempts(node);
      if (!attempts.empty() && stopping(attempts.back())) continue;
    }
    Mut(&node).daemoned = false;
    MarkPhase(&node, NodePhase::kSucceeded, "");
  }
}

bool WorkflowRun::WaitingForDaemon(const NodeStatus& group) {
  if (daemons_.empty()) return false;
  for (const std::string& c : group.children) {
    const NodeStatus* cn = FindId(c);
    if (cn && !cn->Done()) return true;
  }
  return false;
}

void WorkflowRun::StopAllPods(const std::string& message) {
  for (auto& [id, task] : running_) Cancel(*task, message);
  for (auto& [id, task] : running_) {
    if (task->thread.joinable()) task->thread.join();
  }
  running_.clear();
  std::lock_guard<std::mutex> lock(mu_);
  finished_.clear();
}

}  // namespace loom::workflow
