#include "workflow/engine.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <ctime>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

#include "container/pod_spec.h"
#include "core/file.h"
#include "core/logging.h"
#include "core/time.h"
#include "workflow/expr.h"
#include "workflow/launcher.h"
#include "workflow/vars.h"
#include "workflow/workflow_run.h"
namespace loom::workflow {
namespace {

std::string RandomSuffix(size_t n) {
  // Kubernetes' generateName alphabet (no vowels, no confusable characters), as Argo's names.
  static const char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  static std::mt19937_64 rng(std::random_device{}() ^ static_cast<uint64_t>(NowSeconds() * 1e6));
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::string out;
  for (size_t i = 0; i < n; ++i) out += kAlphabet[rng() % (sizeof kAlphabet - 1)];
  return out;
}

std::string NewUid() {
  static std::mt19937_64 rng(std::random_device{}());
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  uint64_t a = rng(), b = rng();
  char buf[40];
  snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
           static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
           static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
           static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

// A stored workflow's nodes (status.nodes), read into the model.
StatusOr<std::unordered_map<std::string, NodeStatus>> ReadNodes(const Json& status, const std::string& workflow) {
  std::unordered_map<std::string, NodeStatus> nodes;
  auto it = status.find("nodes");
  if (it == status.end() || !it->is_object()) return nodes;
  for (auto n = it->begin(); n != it->end(); ++n) {
    StatusOr<NodeStatus> node = NodeStatusFromJson(n.value());
    if (!node.ok()) {
      return Internal("workflow " + workflow + ": stored node " + n.key() + ": " + node.status().message());
    }
    nodes.emplace(n.key(), std::move(*node));
  }
  return nodes;
}

}  // namespace

std::string NodeId(const std::string& workflow, const std::string& node_name) {
  if (node_name == workflow) return workflow;
  uint32_t h = 2166136261u;
  for (unsigned char c : node_name) {
    h ^= c;
    h *= 16777619u;
  }
  return workflow + "-" + std::to_string(h);
}

bool IsCompletedPhase(const std::string& phase) {
  StatusOr<NodePhase> p = ParseNodePhase(phase);
  return p.ok() && IsCompleted(*p);
}

// ---- the run loop ----

Status WorkflowRun::Load() {
  LOOM_ASSIGN_OR_RETURN(Json wf, store_.GetWorkflow(key_));
  // The stored document, read into the model once (Submit checked it).
  Json status = wf.contains("status") ? wf["status"] : Json::object();
  wf.erase("status");
  StatusOr<Workflow> model = WorkflowFromJson(wf);
  if (!model.ok()) return Internal("workflow " + key_ + ": stored " + model.status().message());
  metadata_ = std::move(model->metadata);
  spec_ = std::move(model->spec);
  StatusOr<WorkflowStatus> read = WorkflowStatusFromJson(status);
  if (!read.ok()) return Internal("workflow " + key_ + ": stored " + read.status().message());
  status_ = std::move(*read);
  LOOM_ASSIGN_OR_RETURN(nodes_, ReadNodes(status, name_));
  return OkStatus();
}

Status WorkflowRun::Run() {
  LOOM_RETURN_IF_ERROR(Load());
  const std::string phase = status_.phase;
  if (IsCompletedPhase(phase)) return OkStatus();
  // Pods that were running when the last engine stopped: a new attempt. What is left of the
  // old one (a daemon's server, children that outlived the pod's main process) is killed
  // first. A daemon that was ready runs again, and its scope waits for it to be ready again
  // before going on (ExecuteSteps, ExecuteDag).
  std::set<std::string> rerun;
  for (auto& [id, node] : nodes_) {
    if (node.type == NodeType::kPod && !node.Fulfilled()) {
      if (node.daemoned) daemons_.insert(id);
      node.phase = NodePhase::kPending;
      node.message.clear();
      node.daemoned = false;
      dirty_.insert(id);
      rerun.insert(id);
    } else if (node.type == NodeType::kRetry && node.daemoned && !node.Fulfilled()) {
      node.daemoned = false;
      dirty_.insert(id);
    }
  }
  if (!rerun.empty() && pods_) pods_->Reclaim(key_, rerun);
  if (phase != "Running") {
    status_.phase = "Running";
    if (status_.started_at.empty()) status_.started_at = Rfc3339(NowSeconds());
    status_dirty_ = true;
  }
  InitGlobals();
  LOOM_LOG(INFO) << "workflow " << key_ << ": " << (nodes_.empty() ? "starting" : "resuming with ")
                 << (nodes_.empty() ? "" : std::to_string(nodes_.size()) + " nodes");
  double next_poll = 0;
  while (true) {
    if (engine_.shutdown.load()) {
      StopAllPods("");
      LOOM_RETURN_IF_ERROR(Persist());
      return Status(StatusCode::kCancelled, "workflow " + key_ + ": the engine is shutting down; resume continues it");
    }
    double now = NowSeconds();
    if (now >= next_poll) {
      LOOM_RETURN_IF_ERROR(PollStore());
      next_poll = now + engine_.options.poll_interval_ms / 1000.0;
    }
    DrainFinished();
    wakeup_ = 0;
    // A manifest shape Lint let through and the scheduler did not expect (or any other
    // exception of the pass): the workflow errors with the reason instead of the engine crashing.
    std::string failure;
    try {
      Operate();
    } catch (const std::exception& e) {
      failure = e.what();
    } catch (...) {
      failure = "an exception of unknown type";
    }
    if (!failure.empty()) {
      StopAllPods("");
      status_.phase = "Error";
      status_.message = "internal error in the workflow engine: " + failure;
      status_.finished_at = Rfc3339(NowSeconds());
      status_dirty_ = true;
      LOOM_RETURN_IF_ERROR(Persist());
      return Internal("workflow " + key_ + ": " + status_.message);
    }
    LOOM_RETURN_IF_ERROR(Persist());
    if (IsCompletedPhase(status_.phase) && running_.empty()) {
      LOOM_LOG(INFO) << "workflow " << key_ << ": " << status_.phase
                     << (status_.message.empty() ? "" : " (" + status_.message + ")");
      return OkStatus();
    }
    // Sleep until a pod ends, a timer is due, or the next poll.
    std::unique_lock<std::mutex> lock(mu_);
    double until = next_poll;
    if (wakeup_ > 0) until = std::min(until, wakeup_);
    auto deadline = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(until)));
    cv_.wait_until(lock, deadline, [&] { return !finished_.empty() || !ready_.empty() || engine_.shutdown.load(); });
  }
}

void WorkflowRun::Timer(double at) {
  if (at > 0 && (wakeup_ == 0 || at < wakeup_)) wakeup_ = at;
}

Status WorkflowRun::PollStore() {
  StatusOr<Json> spec = store_.GetSpec(key_);
  if (!spec.ok()) return spec.status();
  // The two fields another process changes (stop, terminate, suspend), read at the store's edge.
  auto shutdown = spec->find("shutdown");
  spec_.shutdown = shutdown != spec->end() && shutdown->is_string() ? shutdown->get<std::string>() : "";
  auto suspend = spec->find("suspend");
  spec_.suspend = suspend != spec->end() && suspend->is_boolean() && suspend->get<bool>();
  for (auto it = suspended_.begin(); it != suspended_.end();) {
    NodeStatus* mine = FindId(*it);
    StatusOr<Json> stored_json = store_.GetNode(key_, *it);
    StatusOr<NodeStatus> stored =
        stored_json.ok() ? NodeStatusFromJson(*stored_json) : StatusOr<NodeStatus>(stored_json.status());
    if (mine && stored.ok() && stored->Fulfilled() && !mine->Fulfilled()) {
      *mine = std::move(*stored);
      it = suspended_.erase(it);
    } else if (!mine || mine->Fulfilled()) {
      it = suspended_.erase(it);
    } else {
      ++it;
    }
  }
  return OkStatus();
}

Status WorkflowRun::Persist() {
  if (dirty_.empty() && !status_dirty_) return OkStatus();
  LOOM_RETURN_IF_ERROR(store_.BeginBatch());
  // The status first: a workflow deleted meanwhile fails here, before any node row is written.
  Status s = status_dirty_ ? store_.UpdateStatus(key_, ToJson(status_)) : OkStatus();
  for (const std::string& id : dirty_) {
    if (!s.ok()) break;
    auto it = nodes_.find(id);
    if (it == nodes_.end()) continue;
    s = store_.PutNode(key_, ToJson(it->second));
  }
  Status c = store_.CommitBatch();
  if (s.ok()) s = c;
  if (!s.ok()) return s;
  dirty_.clear();
  status_dirty_ = false;
  if (engine_.options.on_change) engine_.options.on_change(key_);
  return OkStatus();
}

void Engine::Impl::WakeAll() {
  std::lock_guard<std::mutex> lock(runs_mu);
  for (WorkflowRun* r : runs) r->Wake();
}

// ===================================================================================
// Engine
// ===================================================================================

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

StatusOr<std::unique_ptr<Engine>> Engine::Create(const EngineOptions& options) {
  if (!options.store) return InvalidArgument("EngineOptions.store is required");
  return std::unique_ptr<Engine>(new Engine(std::make_unique<Impl>(options)));
}

StatusOr<std::vector<std::pair<std::string, std::string>>> ReadParameterFile(const std::string& path) {
  LOOM_ASSIGN_OR_RETURN(Json params, ReadJsonOrYamlFile(path));
  if (!params.is_object()) return InvalidArgument(path + ": a parameter file is a map of name: value");
  std::vector<std::pair<std::string, std::string>> out;
  // As Argo's CLI reads it: a string as it is, anything else as its JSON text (a null is "null").
  for (auto it = params.begin(); it != params.end(); ++it)
    out.emplace_back(it.key(), it.value().is_null() ? "null" : ParameterString(it.value()));
  return out;
}

StatusOr<std::optional<std::string>> ConfigMapParameter(const std::string& home, const Json& ref,
                                                        const std::string& field) {
  const container::ConfigStore configs(JoinPath(home, "objects"));
  return container::ResolveKeyRef(configs, container::ConfigKind::kConfigMap, ref, field);
}

StatusOr<std::string> Engine::Submit(const Json& manifest, const SubmitOptions& options) {
  Store& store = *impl_->options.store;
  std::string source = options.source_name.empty() ? "workflow" : options.source_name;
  LOOM_RETURN_IF_ERROR(Lint(manifest, source, &store, options.source_lines));
  Json wf = manifest;
  if (wf.value("kind", "") == "WorkflowTemplate" || wf.value("kind", "") == kClusterWorkflowTemplate) {
    // Submitting a template runs it as a workflow, as `argo submit --from workflowtemplate/x`.
    std::string tname = wf["metadata"].value("name", "");
    Json meta = {{"generateName", tname + "-"}};
    if (wf["metadata"].contains("namespace")) meta["namespace"] = wf["metadata"]["namespace"];
    wf["kind"] = "Workflow";
    wf["metadata"] = std::move(meta);
  }
  // Names are unique per namespace: a workflowTemplateRef names a template of the workflow's.
  const std::string ns = KeyNamespace(ObjectKey(wf));
  Json& spec = wf["spec"];
  if (spec.contains("workflowTemplateRef")) {
    std::string ref = spec["workflowTemplateRef"].value("name", "");
    const bool cluster = spec["workflowTemplateRef"].value("clusterScope", false);
    LOOM_ASSIGN_OR_RETURN(Json wt, store.GetTemplate(cluster ? ref : ObjectKey(ns, ref), cluster));
    Json merged = wt.value("spec", Json::object());
    // The workflow's own fields win; arguments merge by parameter name.
    for (auto it = spec.begin(); it != spec.end(); ++it) {
      if (it.key() == "arguments" || it.key() == "workflowTemplateRef" || it.key() == "templates") continue;
      merged[it.key()] = it.value();
    }
    // Templates: the workflow's own beside the template's (its own win on a name clash).
    for (const Json& t : spec.value("templates", Json::array())) {
      Json& list = merged["templates"];
      if (!list.is_array()) list = Json::array();
      bool replaced = false;
      for (Json& u : list) {
        if (u.value("name", "") == t.value("name", "")) {
          u = t;
          replaced = true;
        }
      }
      if (!replaced) list.push_back(t);
    }
    if (spec.contains("arguments") && spec["arguments"].contains("parameters")) {
      Json& params = merged["arguments"]["parameters"];
      if (!params.is_array()) params = Json::array();
      for (const Json& p : spec["arguments"]["parameters"]) {
        bool found = false;
        for (Json& q : params) {
          if (q.value("name", "") == p.value("name", "")) {
            q = p;
            found = true;
          }
        }
        if (!found) params.push_back(p);
      }
    }
    merged["workflowTemplateRef"] = spec["workflowTemplateRef"];
    spec = merged;
  }
  // Parameters: -p and --parameter-file override the manifest's.
  std::vector<std::pair<std::string, std::string>> overrides;
  if (!options.parameter_file.empty()) {
    LOOM_ASSIGN_OR_RETURN(overrides, ReadParameterFile(options.parameter_file));
  }
  for (const auto& p : options.parameters) overrides.push_back(p);
  if (!overrides.empty()) {
    Json& params = spec["arguments"]["parameters"];
    for (const auto& [name, value] : overrides) SetNamedValue(params, name, value);
  }
  if (spec.contains("arguments") && spec["arguments"].contains("parameters")) {
    for (size_t i = 0; i < spec["arguments"]["parameters"].size(); ++i) {
      Json& p = spec["arguments"]["parameters"][i];
      std::string where = source + ": spec.arguments.parameters[" + std::to_string(i) + "]";
      // valueFrom.configMapKeyRef: read once, as Argo sets global parameters when the workflow starts.
      if (!p.contains("value") && p.contains("valueFrom") && p["valueFrom"].contains("configMapKeyRef")) {
        LOOM_ASSIGN_OR_RETURN(auto value, ConfigMapParameter(impl_->home, p["valueFrom"]["configMapKeyRef"],
                                                              where + ".valueFrom.configMapKeyRef"));
        if (value) p["value"] = *value;
      }
      if (!p.contains("value") && !p.contains("default")) {
        return InvalidArgument(where + ": parameter \"" + p.value("name", "") + "\" has no value (give one with -p " +
                               p.value("name", "") + "=...)");
      }
      if (p.contains("enum") && p["enum"].is_array()) {
        std::string v = ParameterString(p.contains("value") ? p["value"] : p["default"]);
        bool ok = false;
        for (const Json& e : p["enum"]) ok = ok || ParameterString(e) == v;
        if (!ok) {
          return InvalidArgument(where + ": value \"" + v + "\" of parameter \"" + p.value("name", "") +
                                 "\" is not one of " + p["enum"].dump());
        }
      }
    }
  }
  if (!spec.contains("entrypoint")) return InvalidArgument(source + ": spec.entrypoint is required");
  if (!FindTemplate(spec, spec["entrypoint"].get<std::string>())) {
    return InvalidArgument(source + ": spec.entrypoint: no template named \"" + spec["entrypoint"].get<std::string>() + "\"");
  }

  Json& meta = wf["metadata"];
  std::string name = options.name;
  if (name.find('/') != std::string::npos || name == "." || name == "..")
    return InvalidArgument("--name: \"" + name + "\" is not a valid name (no '/', not '.' or '..')");
  if (name.empty()) name = meta.value("name", "");
  bool generated = name.empty();
  for (int attempt = 0; attempt < 10; ++attempt) {
    if (generated) name = meta.value("generateName", "workflow-") + RandomSuffix(5);
    meta["name"] = name;
    meta.erase("generateName");
    meta["namespace"] = meta.value("namespace", "default");
    meta["uid"] = NewUid();
    meta["creationTimestamp"] = Rfc3339(NowSeconds());
    if (!options.labels.empty()) {
      for (auto it = options.labels.begin(); it != options.labels.end(); ++it) meta["labels"][it.key()] = it.value();
    }
    wf["status"] = {{"phase", "Pending"}};
    Status s = store.CreateWorkflow(wf);
    if (s.ok()) return ObjectKey(wf);
    if (s.code() != StatusCode::kAlreadyExists || !generated) return s;
  }
  return Internal("could not find a free name for generateName " + meta.value("generateName", ""));
}

Status Engine::Run(const std::string& name) {
  if (!impl_->options.pods) return FailedPrecondition("EngineOptions.pods is required to run workflows");
  LOOM_ASSIGN_OR_RETURN(auto lock, RunLock::Acquire(impl_->home, name));
  // The boundary of the engine's thread: an exception escaping the run (its pass is guarded in
  // WorkflowRun::Run; loading, polling and writing are not) ends this workflow as an Error and
  // leaves the process (a `loom server` running others) up. The run's pods are stopped first,
  // when the run goes out of scope.
  std::string failure;
  Status s;
  {
    WorkflowRun run(*impl_, name);
    {
      std::lock_guard<std::mutex> l(impl_->runs_mu);
      impl_->runs.insert(&run);
    }
    try {
      s = run.Run();
    } catch (const std::exception& e) {
      failure = e.what();
    } catch (...) {
      failure = "an exception of unknown type";
    }
    std::lock_guard<std::mutex> l(impl_->runs_mu);
    impl_->runs.erase(&run);
  }
  if (failure.empty()) return s;
  const std::string message = "internal error in the workflow engine: " + failure;
  LOOM_LOG(ERROR) << "workflow " << name << ": " << message;
  StatusOr<Json> wf = impl_->options.store->GetWorkflow(name);
  if (wf.ok()) {
    Json status = (*wf)["status"];
    status["phase"] = "Error";
    status["message"] = message;
    status["finishedAt"] = Rfc3339(NowSeconds());
    if (Status u = impl_->options.store->UpdateStatus(name, status); !u.ok())
      LOOM_LOG(ERROR) << "workflow " << name << ": " << u.message();
  }
  return Internal("workflow " + name + ": " + message);
}

void Engine::RequestShutdown() {
  impl_->shutdown.store(true);
  impl_->WakeAll();
}

namespace {

// Stop, terminate and suspend change nothing once a workflow has ended (Argo refuses them too).
Status PatchUnlessCompleted(Store& store, const std::string& name, const Json& patch, const std::string& what) {
  LOOM_ASSIGN_OR_RETURN(Json wf, store.GetWorkflow(name));
  std::string phase = wf["status"].value("phase", "");
  if (IsCompletedPhase(phase)) {
    return FailedPrecondition("cannot " + what + " workflow " + name + ": it has already ended (" + phase + ")");
  }
  return store.PatchSpec(name, patch);
}

}  // namespace

Status Engine::Stop(const std::string& name) {
  return PatchUnlessCompleted(*impl_->options.store, name, {{"shutdown", "Stop"}}, "stop");
}

Status Engine::Terminate(const std::string& name) {
  return PatchUnlessCompleted(*impl_->options.store, name, {{"shutdown", "Terminate"}}, "terminate");
}

Status Engine::Suspend(const std::string& name) {
  return PatchUnlessCompleted(*impl_->options.store, name, {{"suspend", true}}, "suspend");
}

Status Engine::Resume(const std::string& name) {
  Store& store = *impl_->options.store;
  LOOM_RETURN_IF_ERROR(store.PatchSpec(name, {{"suspend", nullptr}}));
  LOOM_ASSIGN_OR_RETURN(Json wf, store.GetWorkflow(name));
  LOOM_ASSIGN_OR_RETURN(auto nodes, ReadNodes(wf["status"], name));
  for (auto& [id, node] : nodes) {
    if (node.type == NodeType::kSuspend && node.phase == NodePhase::kRunning) {
      node.phase = NodePhase::kSucceeded;
      node.finished_at = Rfc3339(NowSeconds());
      LOOM_RETURN_IF_ERROR(store.PutNode(name, ToJson(node)));
    }
  }
  return OkStatus();
}

StatusOr<std::string> Engine::Retry(const std::string& name) {
  Store& store = *impl_->options.store;
  LOOM_ASSIGN_OR_RETURN(Json wf, store.GetWorkflow(name));
  Json status = wf["status"];
  std::string phase = status.value("phase", "");
  if (phase != "Failed" && phase != "Error") {
    return FailedPrecondition("workflow " + name + " is " + (phase.empty() ? "Pending" : phase) +
                              ": only a Failed or Error workflow can be retried");
  }
  LOOM_ASSIGN_OR_RETURN(auto nodes, ReadNodes(status, name));
  std::vector<std::string> removed;
  std::set<std::string> removed_set;
  auto is_exit_handler = [](const NodeStatus& n) { return n.name.find(".onExit") != std::string::npos; };
  // Failed pods, skipped errors, failed retries and exit handlers go; failed parents run again.
  for (auto& [id, node] : nodes) {
    // Omitted tasks are decided again too: what they depend on may succeed this time.
    bool omitted = node.phase == NodePhase::kOmitted;
    if (!node.FailedOrError() && !omitted && !is_exit_handler(node)) continue;
    if (node.type == NodeType::kPod || node.type == NodeType::kSkipped || node.type == NodeType::kRetry ||
        node.type == NodeType::kSuspend || is_exit_handler(node)) {
      removed.push_back(id);
      removed_set.insert(id);
    }
  }
  // Children of removed retry nodes and of removed exit handlers go with them.
  bool grew = true;
  while (grew) {
    grew = false;
    for (auto& [id, node] : nodes) {
      if (removed_set.count(id)) continue;
      if (removed_set.count(node.boundary_id)) {
        removed.push_back(id);
        removed_set.insert(id);
        grew = true;
      }
    }
    for (auto& [id, node] : nodes) {
      if (!removed_set.count(id) || node.type != NodeType::kRetry) continue;
      for (const std::string& c : node.children) {
        if (removed_set.insert(c).second) {
          removed.push_back(c);
          grew = true;
        }
      }
    }
  }
  // Daemons a failed steps/dag node started were stopped as it ended (Succeeded): it runs again,
  // so they must be up again before it goes on. Marked as a daemon whose engine died, they start
  // again as on resume (Run), and their scope waits for them (Argo does not restart them:
  // argoproj/argo-workflows#13484).
  std::set<std::string> restarted;
  for (auto& [id, node] : nodes) {
    if (removed_set.count(id) || node.type != NodeType::kPod || node.pod_ip.empty() ||
        node.phase != NodePhase::kSucceeded) {
      continue;
    }
    auto boundary = nodes.find(node.boundary_id);
    if (boundary == nodes.end() || !boundary->second.FailedOrError()) continue;
    restarted.insert(id);
    const std::string& parent = node.name;
    if (const size_t open = parent.rfind('('); open != std::string::npos && parent.back() == ')') {
      auto retry = nodes.find(NodeId(KeyName(name), parent.substr(0, open)));
      if (retry != nodes.end() && retry->second.type == NodeType::kRetry) restarted.insert(retry->first);
    }
  }
  for (const std::string& id : restarted) {
    NodeStatus& node = nodes[id];
    node.phase = NodePhase::kRunning;
    node.daemoned = true;
    node.message.clear();
    node.finished_at.clear();
  }
  LOOM_RETURN_IF_ERROR(store.BeginBatch());
  Status s = store.DeleteNodes(name, removed);
  // In a fixed order (the store's writes are by id; the order only keeps runs alike).
  std::map<std::string, NodeStatus*> ordered;
  for (auto& [id, node] : nodes) ordered[id] = &node;
  for (auto& [id, node_ptr] : ordered) {
    NodeStatus& node = *node_ptr;
    if (!s.ok() || removed_set.count(id)) continue;
    bool changed = restarted.count(id) > 0;
    const size_t before = node.children.size();
    std::erase_if(node.children, [&](const std::string& c) { return removed_set.count(c) > 0; });
    if (node.children.size() != before) changed = true;
    if (node.FailedOrError()) {
      node.phase = NodePhase::kRunning;
      node.message.clear();
      node.finished_at.clear();
      node.outbound_nodes.clear();
      changed = true;
    }
    if (changed) s = store.PutNode(name, ToJson(node));
  }
  if (s.ok()) {
    status.erase("nodes");
    status["phase"] = "Running";
    status.erase("message");
    status.erase("finishedAt");
    Json spec = wf["spec"];
    spec.erase("shutdown");
    s = store.UpdateWorkflow(name, spec, status);
  }
  Status c = store.CommitBatch();
  if (!s.ok()) return s;
  if (!c.ok()) return c;
  return name;
}

StatusOr<std::string> Engine::Resubmit(const std::string& name) {
  Store& store = *impl_->options.store;
  LOOM_ASSIGN_OR_RETURN(Json wf, store.GetWorkflow(name));
  Json manifest = {{"apiVersion", wf.value("apiVersion", "argoproj.io/v1alpha1")}, {"kind", "Workflow"}};
  manifest["metadata"] = {{"generateName", KeyName(name) + "-"}};
  const Json& meta = wf["metadata"];
  if (meta.contains("labels")) manifest["metadata"]["labels"] = meta["labels"];
  if (meta.contains("namespace")) manifest["metadata"]["namespace"] = meta["namespace"];
  Json spec = wf["spec"];
  spec.erase("shutdown");
  spec.erase("suspend");
  manifest["spec"] = spec;
  SubmitOptions options;
  options.source_name = "resubmit of " + name;
  return Submit(manifest, options);
}

}  // namespace loom::workflow
