// Pods (Argo's workflowpod.go and pod reconciliation): a pod node's attempt started on the
// PodRunner on a thread of its own, its result applied, daemons, cancelling.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/file.h"
#include "core/logging.h"
#include "core/time.h"
#include "workflow/expr.h"
#include "workflow/launcher.h"
#include "workflow/spec.h"
#include "workflow/vars.h"
#include "workflow/workflow_run.h"

namespace loom::workflow {

int WorkflowRun::RunningPodCount(bool count_daemoned) {
  int n = 0;
  for (const auto& [id, t] : running_) {
    if (t->cancel.load()) continue;
    if (!count_daemoned && !daemons_.empty()) {
      if (const Json* node = FindId(id); node && IsDaemoned(*node)) continue;
    }
    ++n;
  }
  return n;
}

Json* WorkflowRun::ExecutePod(const std::string& node_name, const std::string& display, const std::string& tmpl_name,
    const Json& tmpl, Scope& scope, const ExecOptions& opts, size_t attempt) {
  Json* node = Find(node_name);
  if (node && Fulfilled(*node)) return node;
  if (node && running_.count(node->value("id", ""))) return node;
  if (!node) {
    std::string blocked = BlockedReason(opts);
    if (!blocked.empty()) return InitNode(node_name, display, "Pod", tmpl_name, opts.boundary_id, "Failed", blocked);
    node = InitNode(node_name, display, "Pod", tmpl_name, opts.boundary_id, "Pending");
    if (tmpl.contains("inputs")) {
      Json inputs = Json::object();
      if (tmpl["inputs"].contains("parameters")) {
        inputs["parameters"] = Json::array();
        for (const Json& p : tmpl["inputs"]["parameters"]) {
          inputs["parameters"].push_back({{"name", p.value("name", "")}, {"value", p.value("value", Json(""))}});
        }
      }
      if (tmpl["inputs"].contains("artifacts")) inputs["artifacts"] = tmpl["inputs"]["artifacts"];
      Mut(node)["inputs"] = inputs;
    }
    node->erase("startedAt");
  }
  // Pending: start it when allowed.
  std::string blocked = BlockedReason(opts);
  if (!blocked.empty()) return MarkPhase(node, "Failed", blocked);
  if (spec_.value("suspend", false) && !opts.on_exit) return node;
  int limit = spec_.value("parallelism", 0);
  if (limit > 0 && RunningPodCount() >= limit) return node;
  if (engine_.options.max_running_pods > 0 && RunningPodCount(false) >= engine_.options.max_running_pods) return node;

  std::string id = node->value("id", "");
  Scope pod_scope = scope;
  pod_scope["pod.name"] = id;
  pod_scope["node.name"] = node_name;
  pod_scope["retries"] = std::to_string(attempt);
  if (tmpl.contains("outputs")) {
    // {{outputs.parameters.P.path}} / {{outputs.artifacts.A.path}}: where the pod writes them.
    for (const Json& p : tmpl["outputs"].value("parameters", Json::array())) {
      if (p.contains("valueFrom") && p["valueFrom"].contains("path")) {
        pod_scope["outputs.parameters." + p.value("name", "") + ".path"] = ParameterString(p["valueFrom"]["path"]);
      }
    }
    for (const Json& a : tmpl["outputs"].value("artifacts", Json::array())) {
      if (a.contains("path")) pod_scope["outputs.artifacts." + a.value("name", "") + ".path"] = ParameterString(a["path"]);
    }
  }
  StatusOr<Json> final_tmpl = SubstituteJson(tmpl, pod_scope, KeepOutputs);
  if (!final_tmpl.ok()) return MarkPhase(node, "Error", final_tmpl.status().message());
  if (!pods_) return MarkPhase(node, "Error", "no pod runner in this engine");

  auto task = std::make_unique<PodTask>();
  task->node_id = id;
  task->exit_handler = opts.on_exit;
  double ads = 0;
  if (tmpl.contains("activeDeadlineSeconds")) {
    const Json& a = tmpl["activeDeadlineSeconds"];
    ads = a.is_number() ? a.get<double>() : std::atof(ParameterString(a).c_str());
  }
  double timeout = 0;
  if (tmpl.contains("timeout") && DurationSeconds(tmpl["timeout"], &timeout) && timeout > 0) {
    ads = ads > 0 ? std::min(ads, timeout) : timeout;
  }
  double now = NowSeconds();
  if (ads > 0) {
    task->deadline = now + ads;
    Timer(task->deadline);
  }
  PodRequest req;
  req.workflow = name_;
  req.node_id = id;
  req.node_name = node_name;
  req.tmpl = std::move(*final_tmpl);
  // Volumes may use the workflow's parameters (Argo's substituteParamsInVolumes).
  StatusOr<Json> volumes = SubstituteJson(spec_.value("volumes", Json::array()), globals_, nullptr);
  if (!volumes.ok()) return MarkPhase(node, "Error", "spec.volumes: " + volumes.status().message());
  req.volumes = std::move(*volumes);
  if (spec_.contains("volumeClaimTemplates")) {
    for (const Json& v : spec_["volumeClaimTemplates"]) {
      req.volumes.push_back({{"name", v.value("metadata", Json::object()).value("name", "")}, {"emptyDir", Json::object()}});
    }
  }
  req.pod_dir = PodDir(engine_.home, name_, id);
  if (Status fresh = RemoveAll(req.pod_dir); !fresh.ok()) return MarkPhase(node, "Error", fresh.message());
  if (Status made = MakeDirs(req.pod_dir); !made.ok()) return MarkPhase(node, "Error", made.message());
  req.cancel = &task->cancel;

  if (IsDaemonTemplate(req.tmpl)) {
    daemons_.insert(id);
    req.on_ready = [this, id] {
      {
        std::lock_guard<std::mutex> lock(mu_);
        ready_.push_back(id);
      }
      cv_.notify_all();
    };
  }
  Json& n = Mut(node);
  n["phase"] = "Running";
  n["startedAt"] = Rfc3339(now);
  n.erase("finishedAt");
  n.erase("message");
  n.erase("outputs");
  n.erase("daemoned");
  n["progress"] = "0/1";
  PodTask* raw = task.get();
  running_[id] = std::move(task);
  raw->thread = std::thread([this, raw, req = std::move(req)]() {
    // The boundary of a pod's thread: an exception of the pod runner is this pod's Error.
    PodResult result;
    try {
      result = pods_->Run(req, store_);
    } catch (const std::exception& e) {
      result = PodResult{"Error", std::string("internal error in the pod runner: ") + e.what(), Json::object()};
    } catch (...) {
      result = PodResult{"Error", "internal error in the pod runner: an exception of unknown type", Json::object()};
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
    Json* node = FindId(id);
    if (!node || Fulfilled(*node)) continue;
    Json& n = Mut(node);
    n["daemoned"] = true;
    n["podIP"] = kPodIP;
    n.erase("message");
    if (Json* retry = RetryParent(*node)) Mut(retry)["daemoned"] = true;
  }
  for (auto& [id, result] : done) {
    auto it = running_.find(id);
    if (it == running_.end()) continue;
    it->second->thread.join();
    std::string cancel_message = it->second->cancel.load() ? it->second->cancel_message : "";
    const bool daemon_stopped = it->second->daemon_stopped;
    running_.erase(it);
    daemons_.erase(id);
    Json* node = FindId(id);
    if (!node) continue;
    Json& n = Mut(node);
    n.erase("daemoned");
    if (Json* retry = RetryParent(*node); retry && IsDaemoned(*retry)) Mut(retry).erase("daemoned");
    if (daemon_stopped) {  // its node Succeeded when its scope ended (StopDaemons)
      if (result.outputs.is_object() && !result.outputs.empty()) n["outputs"] = result.outputs;
      finish_times_[id] = NowSeconds();
      continue;
    }
    std::string phase = result.phase;
    std::string message = result.message;
    if (!cancel_message.empty()) {
      phase = "Failed";
      message = cancel_message;
    }
    if (phase != "Succeeded" && phase != "Failed" && phase != "Error") {
      message = "pod runner returned phase \"" + phase + "\": " + message;
      phase = "Error";
    }
    n["phase"] = phase;
    if (message.empty()) n.erase("message");
    else n["message"] = message;
    if (result.outputs.is_object() && !result.outputs.empty()) n["outputs"] = result.outputs;
    double now = NowSeconds();
    n["finishedAt"] = Rfc3339(now);
    finish_times_[id] = now;
    n["progress"] = phase == "Succeeded" ? "1/1" : "0/1";
    if (phase == "Succeeded" && result.outputs.is_object()) {
      // globalName exports need the template's declaration.
      StatusOr<Json> tmpl = ResolveTemplate({{"template", n.value("templateName", "")}});
      ExportGlobalOutputs(tmpl.ok() ? *tmpl : Json::object(), result.outputs);
    }
  }
}

void WorkflowRun::StopDaemons(const std::string* scope_id) {
  if (daemons_.empty()) return;
  auto stopping = [&](const std::string& pod_id) {
    auto it = running_.find(pod_id);
    return it != running_.end() && it->second->cancel.load() && !it->second->daemon_stopped;
  };
  for (auto& [id, node] : nodes_) {
    if (!IsDaemoned(node) || (scope_id && node.value("boundaryID", "") != *scope_id)) continue;
    const std::string type = node.value("type", "");
    if (type == "Pod") {
      if (stopping(id)) continue;
      if (auto it = running_.find(id); it != running_.end()) {
        it->second->daemon_stopped = true;
        Cancel(*it->second, "");
      }
    } else if (type == "Retry") {
      const Json children = node.value("children", Json::array());
      if (!children.empty() && stopping(children.back().get<std::string>())) continue;
    }
    Mut(&node).erase("daemoned");
    MarkPhase(&node, "Succeeded", "");
  }
}

bool WorkflowRun::WaitingForDaemon(const Json& group) {
  if (daemons_.empty()) return false;
  for (const Json& c : group.value("children", Json::array())) {
    const Json* cn = FindId(c.get<std::string>());
    if (cn && !Done(*cn)) return true;
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
