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

// A stored workflow (the store's document) read into the model.
struct StoredWorkflow {
  Workflow workflow;
  WorkflowStatus status;
  std::unordered_map<std::string, NodeStatus> nodes;
};

StatusOr<StoredWorkflow> ReadStored(Json doc, const std::string& key, bool with_nodes) {
  StoredWorkflow out;
  Json status = Json::object();
  if (auto it = doc.find("status"); it != doc.end()) status = std::move(*it);
  doc.erase("status");
  StatusOr<Workflow> wf = WorkflowFromJson(doc);
  if (!wf.ok()) return Internal("workflow " + key + ": stored " + wf.status().message());
  out.workflow = std::move(*wf);
  StatusOr<WorkflowStatus> read = WorkflowStatusFromJson(status);
  if (!read.ok()) return Internal("workflow " + key + ": stored " + read.status().message());
  out.status = std::move(*read);
  if (with_nodes) {
    LOOM_ASSIGN_OR_RETURN(out.nodes, ReadNodes(status, KeyName(key)));
  }
  return out;
}

StatusOr<StoredWorkflow> GetStored(Store& store, const std::string& key, bool with_nodes = true) {
  LOOM_ASSIGN_OR_RETURN(Json doc, store.GetWorkflow(key));
  return ReadStored(std::move(doc), key, with_nodes);
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
  // The stored document, read into the model once (Submit checked it).
  LOOM_ASSIGN_OR_RETURN(StoredWorkflow stored, GetStored(store_, key_));
  metadata_ = std::move(stored.workflow.metadata);
  spec_ = std::move(stored.workflow.spec);
  status_ = std::move(stored.status);
  nodes_ = std::move(stored.nodes);
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
  // The labels the store keeps with the phase ({{workflow.labels.*}} see them as Argo's pods do).
  if (!metadata_.labels.is_object()) metadata_.labels = Json::object();
  metadata_.labels["workflows.argoproj.io/phase"] = "Running";
  metadata_.labels["workflows.argoproj.io/completed"] = "false";
  {
    StatusOr<PodGC> gc = PodGCFromJson(spec_.other.value("podGC", Json()));
    if (!gc.ok()) {
      status_.phase = "Error";
      status_.message = gc.status().message();
      status_.finished_at = Rfc3339(NowSeconds());
      status_dirty_ = true;
      return Persist();
    }
    pod_gc_ = std::move(*gc);
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
      ReleaseLocks("");
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
      WorkflowEnded(status_.phase == "Succeeded");
      CollectPods(/*wait=*/true);  // podGC: waits out deleteDelayDuration
      return OkStatus();
    }
    if (double next = CollectPods(/*wait=*/false); next > 0) Timer(next);
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
  UpdateSyncStatus();
  if (dirty_.empty() && !status_dirty_) return OkStatus();
  SaveMemoized();
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

StatusOr<std::optional<std::string>> ConfigMapParameter(const std::string& home, const std::string& ns,
                                                        const Json& ref, const std::string& field) {
  const container::ConfigStore configs(JoinPath(home, "objects"), ns);
  return container::ResolveKeyRef(configs, container::ConfigKind::kConfigMap, ref, field);
}

namespace {

// Sets the value of the parameter named `name`, or appends one.
void SetParameter(std::vector<Parameter>& params, const std::string& name, const Json& value) {
  bool found = false;
  for (Parameter& p : params) {
    if (p.name == name) {
      p.value = value;
      found = true;
    }
  }
  if (!found) params.push_back(Parameter{.name = name, .value = value});
}

// Replaces the entry of `into` with the same name as `item`, or appends it.
template <typename T>
void PutByName(std::vector<T>& into, const T& item) {
  bool replaced = false;
  for (T& u : into) {
    if (u.name == item.name) {
      u = item;
      replaced = true;
    }
  }
  if (!replaced) into.push_back(item);
}

// A workflowTemplateRef's spec under the workflow's own (Argo's JoinWorkflowSpec): every field
// the workflow sets wins, whatever field it is; templates and arguments merge by name.
StatusOr<WorkflowSpec> JoinWorkflowSpec(const WorkflowSpec& base, const WorkflowSpec& own) {
  Json joined = ToJson(base);
  const Json mine = ToJson(own);
  for (auto it = mine.begin(); it != mine.end(); ++it) joined[it.key()] = it.value();
  LOOM_ASSIGN_OR_RETURN(WorkflowSpec spec, WorkflowSpecFromJson(joined));
  spec.arguments = base.arguments;
  for (const Parameter& p : own.arguments.parameters) PutByName(spec.arguments.parameters, p);
  for (const Artifact& a : own.arguments.artifacts) PutByName(spec.arguments.artifacts, a);
  spec.templates = base.templates;
  for (const Template& t : own.templates) PutByName(spec.templates, t);
  return spec;
}

}  // namespace

StatusOr<std::string> Engine::Submit(const Json& manifest, const SubmitOptions& options) {
  Store& store = *impl_->options.store;
  std::string source = options.source_name.empty() ? "workflow" : options.source_name;
  LOOM_RETURN_IF_ERROR(Lint(manifest, source, &store, options.source_lines));
  StatusOr<Workflow> read = WorkflowFromJson(manifest);
  if (!read.ok()) return InvalidArgument(source + ": " + read.status().message());
  Workflow wf = std::move(*read);
  if (wf.kind == "WorkflowTemplate" || wf.kind == kClusterWorkflowTemplate) {
    // Submitting a template runs it as a workflow, as `argo submit --from workflowtemplate/x`.
    Metadata meta;
    meta.generate_name = wf.metadata.name + "-";
    meta.namespace_name = wf.metadata.namespace_name;
    wf.kind = "Workflow";
    wf.metadata = std::move(meta);
  }
  if (wf.metadata.namespace_name.empty()) wf.metadata.namespace_name = "default";
  // Names are unique per namespace: a workflowTemplateRef names a template of the workflow's.
  const std::string& ns = wf.metadata.namespace_name;
  WorkflowSpec& spec = wf.spec;
  if (spec.workflow_template_ref) {
    const TemplateRef& ref = *spec.workflow_template_ref;
    const bool cluster = ref.cluster_scope.value_or(false);
    LOOM_ASSIGN_OR_RETURN(Json wt_json, store.GetTemplate(cluster ? ref.name : ObjectKey(ns, ref.name), cluster));
    StatusOr<Workflow> wt = WorkflowFromJson(wt_json);
    if (!wt.ok()) return Internal("WorkflowTemplate " + ref.name + ": stored " + wt.status().message());
    LOOM_ASSIGN_OR_RETURN(spec, JoinWorkflowSpec(wt->spec, spec));
  }
  // Parameters: -p and --parameter-file override the manifest's.
  std::vector<std::pair<std::string, std::string>> overrides;
  if (!options.parameter_file.empty()) {
    LOOM_ASSIGN_OR_RETURN(overrides, ReadParameterFile(options.parameter_file));
  }
  for (const auto& p : options.parameters) overrides.push_back(p);
  for (const auto& [name, value] : overrides) SetParameter(spec.arguments.parameters, name, value);
  for (size_t i = 0; i < spec.arguments.parameters.size(); ++i) {
    Parameter& p = spec.arguments.parameters[i];
    std::string where = source + ": spec.arguments.parameters[" + std::to_string(i) + "]";
    // valueFrom.configMapKeyRef: read once, as Argo sets global parameters when the workflow starts.
    if (!p.value && p.value_from && p.value_from->config_map_key_ref) {
      LOOM_ASSIGN_OR_RETURN(auto value, ConfigMapParameter(impl_->home, ns, *p.value_from->config_map_key_ref,
                                                            where + ".valueFrom.configMapKeyRef"));
      if (value) p.value = *value;
    }
    if (!p.value && !p.default_value) {
      return InvalidArgument(where + ": parameter \"" + p.name + "\" has no value (give one with -p " + p.name + "=...)");
    }
    if (p.enum_values && p.enum_values->is_array()) {
      std::string v = ParameterString(p.value ? *p.value : *p.default_value);
      bool ok = false;
      for (const Json& e : *p.enum_values) ok = ok || ParameterString(e) == v;
      if (!ok) {
        return InvalidArgument(where + ": value \"" + v + "\" of parameter \"" + p.name + "\" is not one of " +
                               p.enum_values->dump());
      }
    }
  }
  if (spec.entrypoint.empty()) return InvalidArgument(source + ": spec.entrypoint is required");
  if (!spec.FindTemplate(spec.entrypoint)) {
    return InvalidArgument(source + ": spec.entrypoint: no template named \"" + spec.entrypoint + "\"");
  }

  Metadata& meta = wf.metadata;
  std::string name = options.name;
  if (name.find('/') != std::string::npos || name == "." || name == "..")
    return InvalidArgument("--name: \"" + name + "\" is not a valid name (no '/', not '.' or '..')");
  if (name.empty()) name = meta.name;
  const bool generated = name.empty();
  const std::string generate_name = meta.generate_name.empty() ? "workflow-" : meta.generate_name;
  meta.generate_name.clear();
  for (auto it = options.labels.begin(); it != options.labels.end(); ++it) meta.labels[it.key()] = it.value();
  WorkflowStatus status;
  status.phase = "Pending";
  for (int attempt = 0; attempt < 10; ++attempt) {
    if (generated) name = generate_name + RandomSuffix(5);
    meta.name = name;
    meta.uid = NewUid();
    meta.creation_timestamp = Rfc3339(NowSeconds());
    Json doc = ToJson(wf);
    doc["status"] = ToJson(status);
    Status s = store.CreateWorkflow(doc);
    if (s.ok()) return ObjectKey(ns, name);
    if (s.code() != StatusCode::kAlreadyExists || !generated) return s;
  }
  return Internal("could not find a free name for generateName " + generate_name);
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
  StatusOr<StoredWorkflow> wf = GetStored(*impl_->options.store, name, /*with_nodes=*/false);
  if (wf.ok()) {
    WorkflowStatus& status = wf->status;
    status.phase = "Error";
    status.message = message;
    status.finished_at = Rfc3339(NowSeconds());
    if (Status u = impl_->options.store->UpdateStatus(name, ToJson(status)); !u.ok())
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
  LOOM_ASSIGN_OR_RETURN(StoredWorkflow wf, GetStored(store, name, /*with_nodes=*/false));
  const std::string& phase = wf.status.phase;
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
  LOOM_ASSIGN_OR_RETURN(StoredWorkflow wf, GetStored(store, name));
  for (auto& [id, node] : wf.nodes) {
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
  LOOM_ASSIGN_OR_RETURN(StoredWorkflow wf, GetStored(store, name));
  const std::string phase = wf.status.phase;
  if (phase != "Failed" && phase != "Error") {
    return FailedPrecondition("workflow " + name + " is " + (phase.empty() ? "Pending" : phase) +
                              ": only a Failed or Error workflow can be retried");
  }
  auto& nodes = wf.nodes;
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
    wf.status.phase = "Running";
    wf.status.message.clear();
    wf.status.finished_at.clear();
    wf.workflow.spec.shutdown.clear();
    s = store.UpdateWorkflow(name, ToJson(wf.workflow.spec), ToJson(wf.status));
  }
  Status c = store.CommitBatch();
  if (!s.ok()) return s;
  if (!c.ok()) return c;
  return name;
}

StatusOr<std::string> Engine::Resubmit(const std::string& name) {
  LOOM_ASSIGN_OR_RETURN(StoredWorkflow stored, GetStored(*impl_->options.store, name, /*with_nodes=*/false));
  const Workflow& old = stored.workflow;
  Workflow wf;
  wf.api_version = old.api_version.empty() ? "argoproj.io/v1alpha1" : old.api_version;
  wf.kind = "Workflow";
  wf.metadata.generate_name = KeyName(name) + "-";
  // Argo's FormulateResubmitWorkflow: the user's labels carry over, not the phase's, and the new
  // workflow names the one it was resubmitted from.
  wf.metadata.labels = old.metadata.labels.is_object() ? old.metadata.labels : Json::object();
  for (const char* k : {"workflows.argoproj.io/phase", "workflows.argoproj.io/completed",
                        "workflows.argoproj.io/workflow-archiving-status"}) {
    wf.metadata.labels.erase(k);
  }
  wf.metadata.labels["workflows.argoproj.io/resubmitted-from-workflow"] = KeyName(name);
  wf.metadata.namespace_name = old.metadata.namespace_name;
  wf.spec = old.spec;
  wf.spec.shutdown.clear();
  wf.spec.suspend = false;
  SubmitOptions options;
  options.source_name = "resubmit of " + name;
  // Checked again as any submission (the document Lint reads).
  return Submit(ToJson(wf), options);
}

}  // namespace loom::workflow
