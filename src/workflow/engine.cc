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

#include "core/file.h"
#include "core/logging.h"
#include "core/time.h"
#include "workflow/expr.h"
#include "workflow/launcher.h"
#include "workflow/vars.h"

namespace loom::workflow {
namespace {

// ---- time ----

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// ---- node helpers ----

bool Fulfilled(const Json& node) { return IsCompletedPhase(node.value("phase", "")); }
bool FailedOrError(const Json& node) {
  std::string p = node.value("phase", "");
  return p == "Failed" || p == "Error";
}

// Argo's `daemoned`: a daemon's pod is ready and runs on while the steps or dag that started it
// run; its node stays Running until that scope ends.
bool IsDaemoned(const Json& node) {
  auto it = node.find("daemoned");
  return it != node.end() && *it == true;
}
// Has a node done what its scope waits for: ended, or (a daemon) become ready?
bool Done(const Json& node) { return Fulfilled(node) || IsDaemoned(node); }

// Pods share the host's network: a daemon's {{steps.X.ip}} / {{tasks.X.ip}}.
constexpr const char* kPodIP = "127.0.0.1";

bool ContinuesOn(const Json& holder, const std::string& phase) {
  if (!holder.is_object() || !holder.contains("continueOn")) return false;
  const Json& c = holder["continueOn"];
  if (phase == "Failed") return c.value("failed", false);
  if (phase == "Error") return c.value("error", false);
  return false;
}

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

// Variables left for a later stage while a template's inputs are substituted.
bool KeepForLater(std::string_view name) {
  for (std::string_view p : {"steps.", "tasks.", "item", "outputs.", "workflow.status", "workflow.failures",
                             "pod.name", "retries", "node.name", "workflow.outputs.", "inputs.artifacts.",
                             "="}) {
    if (name.substr(0, p.size()) == p) return true;
  }
  return false;
}
bool KeepItem(std::string_view name) { return name == "item" || name.substr(0, 5) == "item."; }
bool KeepOutputs(std::string_view name) { return name.substr(0, 8) == "outputs."; }

// How a loop item shows in a node name: "(0:foo)", maps as "(0:a:1,b:2)", sorted by key.
std::string ItemDescription(const Json& item) {
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

// A retryStrategy's limit (IntOrString); -1 when unlimited.
int RetryLimit(const Json& rs) {
  if (!rs.contains("limit")) return -1;
  const Json& l = rs["limit"];
  if (l.is_number_integer()) return l.get<int>();
  if (l.is_string()) return std::atoi(l.get<std::string>().c_str());
  return -1;
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
  return phase == "Succeeded" || phase == "Failed" || phase == "Error" || phase == "Skipped" ||
         phase == "Omitted";
}

// ===================================================================================
// One Run of one workflow: the in-memory state and the scheduling pass.
// ===================================================================================

class WorkflowRun;

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

namespace {

struct PodTask {
  std::string node_id;
  std::thread thread;
  std::atomic<bool> cancel{false};
  std::string cancel_message;  // set with cancel: the node's message instead of the pod's
  double deadline = 0;         // epoch seconds; 0: none
  bool exit_handler = false;   // part of an exit handler (runs on Stop)
  bool daemon_stopped = false; // a daemon stopped as its scope ended: its node Succeeded
};

struct ExecOptions {
  std::string boundary_id;
  bool on_exit = false;  // inside an exit handler
};

// One step or task after {{...}} and loop expansion: one entry per node it makes.
struct Expanded {
  std::string name;     // node name
  std::string display;  // display name
  Json step;            // the step/task with {{item}} substituted
};
struct Expansion {
  bool is_loop = false;
  std::vector<Expanded> items;
};

struct DagTask {
  const Json* task;
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
};

// What a node's template works out to, kept for the node's life in this run.
struct NodeContext {
  Json tmpl;                        // inputs bound, inputs and globals substituted
  std::string kind;                 // container, script, resource, steps, dag, suspend
  std::string tmpl_name;
  Scope scope;                      // inputs, globals, and the outputs of finished steps
  std::map<std::string, Json> arts; // artifacts in scope, by variable name
  std::unique_ptr<DagPlan> dag;     // for a dag template
};

}  // namespace

class WorkflowRun {
 public:
  WorkflowRun(Engine::Impl& engine, std::string name)
      : engine_(engine), store_(*engine.options.store), pods_(engine.options.pods), name_(std::move(name)) {}

  ~WorkflowRun() { StopAllPods(""); }

  Status Load() {
    LOOM_ASSIGN_OR_RETURN(Json wf, store_.GetWorkflow(name_));
    head_ = Json::object();
    head_["apiVersion"] = wf.value("apiVersion", "argoproj.io/v1alpha1");
    head_["kind"] = wf.value("kind", "Workflow");
    head_["metadata"] = wf.value("metadata", Json::object());
    spec_ = wf.value("spec", Json::object());
    status_ = wf.value("status", Json::object());
    Json nodes = status_.value("nodes", Json::object());
    status_.erase("nodes");
    for (auto it = nodes.begin(); it != nodes.end(); ++it) nodes_[it.key()] = it.value();
    return OkStatus();
  }

  Status Run() {
    LOOM_RETURN_IF_ERROR(Load());
    std::string phase = status_.value("phase", "");
    if (IsCompletedPhase(phase)) return OkStatus();
    // Pods that were running when the last engine stopped: a new attempt. What is left of the
    // old one (a daemon's server, children that outlived the pod's main process) is killed
    // first. A daemon that was ready runs again, and its scope waits for it to be ready again
    // before going on (ExecuteSteps, ExecuteDag).
    std::set<std::string> rerun;
    for (auto& [id, node] : nodes_) {
      const std::string type = node.value("type", "");
      if (type == "Pod" && !Fulfilled(node)) {
        if (IsDaemoned(node)) daemons_.insert(id);
        node["phase"] = "Pending";
        node.erase("message");
        node.erase("daemoned");
        dirty_.insert(id);
        rerun.insert(id);
      } else if (type == "Retry" && IsDaemoned(node) && !Fulfilled(node)) {
        node.erase("daemoned");
        dirty_.insert(id);
      }
    }
    if (!rerun.empty() && pods_) pods_->Reclaim(name_, rerun);
    if (phase != "Running") {
      status_["phase"] = "Running";
      if (!status_.contains("startedAt")) status_["startedAt"] = Rfc3339(NowSeconds());
      status_dirty_ = true;
    }
    InitGlobals();
    LOOM_LOG(INFO) << "workflow " << name_ << ": " << (nodes_.empty() ? "starting" : "resuming with ")
                   << (nodes_.empty() ? "" : std::to_string(nodes_.size()) + " nodes");
    double next_poll = 0;
    while (true) {
      if (engine_.shutdown.load()) {
        StopAllPods("");
        LOOM_RETURN_IF_ERROR(Persist());
        return Status(StatusCode::kCancelled, "workflow " + name_ + ": the engine is shutting down; resume continues it");
      }
      double now = NowSeconds();
      if (now >= next_poll) {
        LOOM_RETURN_IF_ERROR(PollStore());
        next_poll = now + engine_.options.poll_interval_ms / 1000.0;
      }
      DrainFinished();
      wakeup_ = 0;
      try {
        Operate();
      } catch (const Json::exception& e) {
        // A manifest shape Lint let through and the scheduler did not expect: the workflow
        // errors with the reason instead of the engine crashing.
        StopAllPods("");
        status_["phase"] = "Error";
        status_["message"] = std::string("internal error in the workflow engine: ") + e.what();
        status_["finishedAt"] = Rfc3339(NowSeconds());
        status_dirty_ = true;
        LOOM_RETURN_IF_ERROR(Persist());
        return Internal("workflow " + name_ + ": " + status_["message"].get<std::string>());
      }
      LOOM_RETURN_IF_ERROR(Persist());
      if (IsCompletedPhase(status_.value("phase", "")) && running_.empty()) {
        LOOM_LOG(INFO) << "workflow " << name_ << ": " << status_.value("phase", "")
                       << (status_.contains("message") ? " (" + status_.value("message", "") + ")" : "");
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

  void Wake() { cv_.notify_all(); }

 private:
  // ---------------------------------------------------------------- state access

  Json* Find(const std::string& node_name) {
    auto it = nodes_.find(NodeId(name_, node_name));
    return it == nodes_.end() ? nullptr : &it->second;
  }
  Json* FindId(const std::string& id) {
    auto it = nodes_.find(id);
    return it == nodes_.end() ? nullptr : &it->second;
  }
  // A node about to change: it is written at the end of the pass.
  Json& Mut(Json* node) {
    dirty_.insert(node->value("id", ""));
    return *node;
  }

  Json* InitNode(const std::string& node_name, const std::string& display, const std::string& type,
                 const std::string& template_name, const std::string& boundary_id, const std::string& phase,
                 const std::string& message = "") {
    std::string id = NodeId(name_, node_name);
    Json node = Json::object();
    node["id"] = id;
    node["name"] = node_name;
    node["displayName"] = display;
    node["type"] = type;
    if (!template_name.empty()) node["templateName"] = template_name;
    node["templateScope"] = "local/" + name_;
    node["phase"] = phase;
    if (!boundary_id.empty()) node["boundaryID"] = boundary_id;
    if (!message.empty()) node["message"] = message;
    node["startedAt"] = Rfc3339(NowSeconds());
    if (IsCompletedPhase(phase)) node["finishedAt"] = node["startedAt"];
    auto [it, inserted] = nodes_.insert_or_assign(id, std::move(node));
    dirty_.insert(id);
    return &it->second;
  }

  Json* MarkPhase(Json* node, const std::string& phase, const std::string& message = "", bool set_message = true) {
    Json& n = Mut(node);
    n["phase"] = phase;
    if (set_message) {
      if (message.empty()) n.erase("message");
      else n["message"] = message;
    }
    if (IsCompletedPhase(phase) && !n.contains("finishedAt")) n["finishedAt"] = Rfc3339(NowSeconds());
    return node;
  }

  void AddChild(Json* parent, const std::string& child_id) {
    if (!parent) return;
    Json& p = *parent;
    if (!p.contains("children")) p["children"] = Json::array();
    for (const Json& c : p["children"]) {
      if (c.get_ref<const std::string&>() == child_id) return;
    }
    Mut(parent)["children"].push_back(child_id);
  }

  // Argo's outbound nodes: the nodes a following step or task hangs from.
  std::vector<std::string> Outbound(const std::string& id) {
    Json* n = FindId(id);
    if (!n) return {};
    std::string type = n->value("type", "");
    if (type == "Pod" || type == "Skipped" || type == "Suspend") return {id};
    if (type == "Retry") {
      if (!n->contains("children") || (*n)["children"].empty()) return {id};
      return Outbound((*n)["children"].back().get<std::string>());
    }
    if (n->contains("outboundNodes") && !(*n)["outboundNodes"].empty()) {
      return (*n)["outboundNodes"].get<std::vector<std::string>>();
    }
    if (type == "TaskGroup" || type == "StepGroup") {
      std::vector<std::string> out;
      if (n->contains("children")) {
        for (const Json& c : (*n)["children"]) {
          for (auto& o : Outbound(c.get<std::string>())) out.push_back(o);
        }
      }
      if (!out.empty()) return out;
    }
    return {id};
  }

  // ---------------------------------------------------------------- globals

  void InitGlobals() {
    const Json& meta = head_["metadata"];
    globals_["workflow.name"] = name_;
    globals_["workflow.namespace"] = meta.value("namespace", "default");
    globals_["workflow.uid"] = meta.value("uid", "");
    globals_["workflow.creationTimestamp"] = meta.value("creationTimestamp", "");
    globals_["workflow.serviceAccountName"] = spec_.value("serviceAccountName", "default");
    globals_["workflow.mainEntrypoint"] = spec_.value("entrypoint", "");
    if (meta.contains("labels") && meta["labels"].is_object()) {
      for (auto it = meta["labels"].begin(); it != meta["labels"].end(); ++it) {
        globals_["workflow.labels." + it.key()] = ParameterString(it.value());
      }
    }
    if (meta.contains("annotations") && meta["annotations"].is_object()) {
      for (auto it = meta["annotations"].begin(); it != meta["annotations"].end(); ++it) {
        globals_["workflow.annotations." + it.key()] = ParameterString(it.value());
      }
    }
    Json params = Json::array();
    if (spec_.contains("arguments") && spec_["arguments"].contains("parameters")) {
      for (const Json& p : spec_["arguments"]["parameters"]) {
        std::string v = ParameterString(p.contains("value") ? p["value"] : p.value("default", Json("")));
        globals_["workflow.parameters." + p.value("name", "")] = v;
        params.push_back({{"name", p.value("name", "")}, {"value", v}});
      }
    }
    globals_["workflow.parameters"] = params.dump();
    if (status_.contains("outputs") && status_["outputs"].contains("parameters")) {
      for (const Json& p : status_["outputs"]["parameters"]) {
        globals_["workflow.outputs.parameters." + p.value("name", "")] = ParameterString(p.value("value", Json("")));
      }
    }
  }

  // Output parameters with a globalName become workflow outputs.
  void ExportGlobalOutputs(const Json& tmpl, const Json& outputs) {
    if (!outputs.is_object() || !outputs.contains("parameters")) return;
    const Json decl = tmpl.contains("outputs") ? tmpl["outputs"].value("parameters", Json::array()) : Json::array();
    for (const Json& p : outputs["parameters"]) {
      std::string global = p.value("globalName", "");
      for (const Json& d : decl) {
        if (d.value("name", "") == p.value("name", "") && d.contains("globalName")) global = d["globalName"];
      }
      if (global.empty()) continue;
      std::string value = ParameterString(p.value("value", Json("")));
      globals_["workflow.outputs.parameters." + global] = value;
      if (!status_.contains("outputs")) status_["outputs"] = {{"parameters", Json::array()}};
      Json& list = status_["outputs"]["parameters"];
      bool replaced = false;
      for (Json& e : list) {
        if (e.value("name", "") == global) {
          e["value"] = value;
          replaced = true;
        }
      }
      if (!replaced) list.push_back({{"name", global}, {"value", value}});
      status_dirty_ = true;
    }
  }

  // ---------------------------------------------------------------- the pass

  void Operate() {
    double now = NowSeconds();
    shutdown_ = spec_.value("shutdown", "");
    if (spec_.contains("activeDeadlineSeconds") && spec_["activeDeadlineSeconds"].is_number()) {
      double started = ParseRfc3339(status_.value("startedAt", ""));
      double deadline = started + spec_["activeDeadlineSeconds"].get<double>();
      if (started > 0 && now >= deadline) {
        deadline_exceeded_ = true;
      } else if (started > 0) {
        Timer(deadline);
      }
    }
    // Running pods past their own or the workflow's deadline, or stopped.
    for (auto& [id, task] : running_) {
      if (task->cancel.load()) continue;
      if (deadline_exceeded_ && !task->exit_handler) {
        Cancel(*task, "Pod was active on the node longer than the specified deadline");
      } else if (task->deadline > 0 && now >= task->deadline) {
        Cancel(*task, "Pod was active on the node longer than the specified deadline");
      } else if (!shutdown_.empty() && (shutdown_ == "Terminate" || !task->exit_handler)) {
        Cancel(*task, "workflow shutdown with strategy: " + shutdown_);
      } else if (task->deadline > 0) {
        Timer(task->deadline);
      }
    }

    Json* root = nullptr;
    {
      Json holder = {{"template", spec_.value("entrypoint", "")}};
      if (spec_.contains("arguments")) holder["arguments"] = spec_["arguments"];
      root = ExecuteTemplate(name_, name_, holder, ExecOptions{});
    }
    if (root && IsDaemoned(*root)) {  // the entrypoint itself is a daemon: ready is as far as it goes
      StopDaemons(nullptr);
      root = Find(name_);
    }
    if (!root || !Fulfilled(*root)) {
      UpdateProgress();
      return;
    }
    std::string wf_phase = root->value("phase", "Failed");
    if (wf_phase == "Skipped" || wf_phase == "Omitted") wf_phase = "Succeeded";
    std::string message = root->value("message", "");
    if (deadline_exceeded_ && wf_phase != "Succeeded") message = "Step exceeded its deadline";
    if (!shutdown_.empty() && wf_phase != "Succeeded") message = "Stopped with strategy '" + shutdown_ + "'";

    if (spec_.contains("onExit") && spec_["onExit"].is_string() && shutdown_ != "Terminate") {
      globals_["workflow.status"] = wf_phase;
      char duration[32];
      snprintf(duration, sizeof duration, "%.6f", NowSeconds() - ParseRfc3339(status_.value("startedAt", "")));
      globals_["workflow.duration"] = duration;
      globals_["workflow.failures"] = Failures();
      Json holder = {{"template", spec_["onExit"]}};
      ExecOptions opts;
      opts.on_exit = true;
      Json* exit_node = ExecuteTemplate(name_ + ".onExit", name_ + ".onExit", holder, opts);
      if (!exit_node || !Fulfilled(*exit_node)) {
        UpdateProgress();
        return;
      }
      if (FailedOrError(*exit_node) && wf_phase == "Succeeded") {
        wf_phase = exit_node->value("phase", "Failed");
        message = exit_node->value("message", "");
      }
    }
    UpdateProgress();
    StopDaemons(nullptr);  // none should be left: each was stopped as its scope ended
    if (!running_.empty()) return;  // cancelled pods still ending
    status_["phase"] = wf_phase;
    if (message.empty()) status_.erase("message");
    else status_["message"] = message;
    status_["finishedAt"] = Rfc3339(NowSeconds());
    status_dirty_ = true;
  }

  std::string Failures() {
    Json failures = Json::array();
    for (const auto& [id, n] : nodes_) {
      if (!FailedOrError(n)) continue;
      Json f = Json::object();
      f["displayName"] = n.value("displayName", "");
      f["message"] = n.value("message", "");
      f["templateName"] = n.value("templateName", "");
      f["phase"] = n.value("phase", "");
      f["podName"] = id;
      f["finishedAt"] = n.value("finishedAt", "");
      failures.push_back(std::move(f));
    }
    return failures.dump();
  }

  void UpdateProgress() {
    int total = 0, done = 0;
    for (const auto& [id, n] : nodes_) {
      if (n.value("type", "") != "Pod") continue;
      ++total;
      if (n.value("phase", "") == "Succeeded") ++done;
    }
    std::string progress = std::to_string(done) + "/" + std::to_string(total);
    if (status_.value("progress", "") != progress) {
      status_["progress"] = progress;
      status_dirty_ = true;
    }
  }

  void Timer(double at) {
    if (at > 0 && (wakeup_ == 0 || at < wakeup_)) wakeup_ = at;
  }

  // Should a node that has not started yet start? Not when stopping (except in exit handlers on
  // Stop) or past the workflow's deadline.
  std::string BlockedReason(const ExecOptions& opts) const {
    if (deadline_exceeded_ && !opts.on_exit) return "Step exceeded its deadline";
    if (shutdown_ == "Terminate" || (shutdown_ == "Stop" && !opts.on_exit)) {
      return "Stopped with strategy '" + shutdown_ + "'";
    }
    return "";
  }

  // ---------------------------------------------------------------- templates

  // The template a step/task/holder names: by name, templateRef (a stored WorkflowTemplate) or
  // inline.
  StatusOr<Json> ResolveTemplate(const Json& holder) {
    if (holder.contains("inline")) return holder["inline"];
    if (holder.contains("templateRef")) {
      const Json& ref = holder["templateRef"];
      std::string key = ref.value("name", "") + "/" + ref.value("template", "");
      auto it = ref_cache_.find(key);
      if (it != ref_cache_.end()) return it->second;
      // Templates stored at first use, so a later change of the WorkflowTemplate does not change
      // a running workflow (Argo's storedTemplates).
      if (status_.contains("storedTemplates") && status_["storedTemplates"].contains("namespaced/" + key)) {
        return ref_cache_[key] = status_["storedTemplates"]["namespaced/" + key];
      }
      StatusOr<Json> wt = store_.GetTemplate(ref.value("name", ""));
      if (!wt.ok()) return wt.status();
      const Json wt_spec = wt->value("spec", Json::object());
      const Json* t = FindTemplate(wt_spec, ref.value("template", ""));
      if (!t) {
        return NotFound("template " + ref.value("template", "") + " not found in workflow template " +
                        ref.value("name", ""));
      }
      status_["storedTemplates"]["namespaced/" + key] = *t;
      status_dirty_ = true;
      return ref_cache_[key] = *t;
    }
    std::string name = holder.value("template", "");
    const Json* t = FindTemplate(spec_, name);
    if (!t) return NotFound("template " + name + " not found");
    return *t;
  }

  // Binds the caller's arguments to the template's inputs and substitutes inputs and globals.
  // Returns the processed template; `scope` receives the template's local variables.
  StatusOr<Json> ProcessInputs(const Json& tmpl, const Json& args, Scope& scope, std::map<std::string, Json>& arts) {
    Json t = tmpl;
    scope = globals_;
    std::map<std::string, Json> arg_params, arg_arts;
    if (args.is_object()) {
      for (const Json& p : args.value("parameters", Json::array())) arg_params[p.value("name", "")] = p;
      for (const Json& a : args.value("artifacts", Json::array())) arg_arts[a.value("name", "")] = a;
    }
    if (t.contains("inputs") && t["inputs"].contains("parameters")) {
      Json params = Json::array();
      for (Json& p : t["inputs"]["parameters"]) {
        std::string name = p.value("name", "");
        auto it = arg_params.find(name);
        Json value;
        if (it != arg_params.end() && it->second.contains("value")) {
          value = it->second["value"];
        } else if (p.contains("value")) {
          value = p["value"];
        } else if (p.contains("default")) {
          value = p["default"];
        } else {
          return InvalidArgument("inputs.parameters." + name + " was not supplied");
        }
        std::string v = ParameterString(value);
        if (p.contains("enum") && p["enum"].is_array()) {
          bool ok = false;
          for (const Json& e : p["enum"]) ok = ok || ParameterString(e) == v;
          if (!ok) return InvalidArgument("inputs.parameters." + name + ": value '" + v + "' is not in the enum");
        }
        p["value"] = v;
        scope["inputs.parameters." + name] = v;
        params.push_back({{"name", name}, {"value", v}});
      }
      scope["inputs.parameters"] = params.dump();
    }
    // Parameters may refer to other inputs and globals themselves.
    if (t.contains("inputs") && t["inputs"].contains("parameters")) {
      for (Json& p : t["inputs"]["parameters"]) {
        std::string v = p["value"].get<std::string>();
        if (v.find("{{") == std::string::npos) continue;
        LOOM_ASSIGN_OR_RETURN(v, SubstituteString(v, scope, KeepForLater));
        p["value"] = v;
        scope["inputs.parameters." + p.value("name", "")] = v;
      }
    }
    if (t.contains("inputs") && t["inputs"].contains("artifacts")) {
      for (Json& a : t["inputs"]["artifacts"]) {
        std::string name = a.value("name", "");
        auto it = arg_arts.find(name);
        if (it != arg_arts.end()) {
          for (auto f = it->second.begin(); f != it->second.end(); ++f) {
            if (f.key() != "name" && f.key() != "path" && f.key() != "from") a[f.key()] = f.value();
          }
        }
        bool has_source = false;
        for (const char* k : {"s3", "http", "raw", "git", "gcs", "hdfs", "oss", "azure", "artifactory", "path_source", "localPath"}) {
          has_source = has_source || a.contains(k);
        }
        if (!has_source && !a.value("optional", false)) {
          return InvalidArgument("inputs.artifacts." + name + " was not supplied");
        }
        if (a.contains("path")) scope["inputs.artifacts." + name + ".path"] = ParameterString(a["path"]);
        arts["inputs.artifacts." + name] = a;
      }
    }
    // Everything but the inputs themselves and what later stages resolve.
    Json inputs = t.contains("inputs") ? t["inputs"] : Json();
    t.erase("inputs");
    LOOM_ASSIGN_OR_RETURN(t, SubstituteJson(t, scope, KeepForLater));
    if (!inputs.is_null()) t["inputs"] = inputs;
    return t;
  }

  static std::string TemplateKind(const Json& t) {
    for (const char* k : {"container", "script", "resource", "steps", "dag", "suspend"}) {
      if (t.contains(k)) return k;
    }
    return "";
  }
  static std::string NodeTypeFor(const std::string& kind) {
    if (kind == "steps") return "Steps";
    if (kind == "dag") return "DAG";
    if (kind == "suspend") return "Suspend";
    return "Pod";
  }

  // Argo's executeTemplate: the node for `node_name`, created or advanced. Returns nullptr when a
  // new node may not start yet (parallelism).
  Json* ExecuteTemplate(const std::string& node_name, const std::string& display, const Json& holder,
                        const ExecOptions& opts) {
    Json* node = Find(node_name);
    if (node && Fulfilled(*node)) return node;
    // A running pod needs nothing from its template until it ends.
    if (node && node->value("type", "") == "Pod" && running_.count(node->value("id", ""))) return node;

    // The template with its inputs bound, once per node: a node's arguments are fixed when it is
    // created, so later passes reuse what the first one worked out.
    const std::string id = NodeId(name_, node_name);
    auto cached = contexts_.find(id);
    if (cached == contexts_.end()) {
      StatusOr<Json> resolved = ResolveTemplate(holder);
      std::string tmpl_name = holder.value("template", holder.contains("templateRef") ? holder["templateRef"].value("template", "") : "");
      if (!resolved.ok()) {
        if (!node) node = InitNode(node_name, display, "Skipped", tmpl_name, opts.boundary_id, "Error");
        return MarkPhase(node, "Error", resolved.status().message());
      }
      NodeContext ctx;
      StatusOr<Json> processed = ProcessInputs(*resolved, holder.value("arguments", Json::object()), ctx.scope, ctx.arts);
      ctx.kind = TemplateKind(*resolved);
      if (!processed.ok()) {
        if (!node) node = InitNode(node_name, display, NodeTypeFor(ctx.kind), tmpl_name, opts.boundary_id, "Error");
        return MarkPhase(node, "Error", processed.status().message());
      }
      ctx.tmpl = std::move(*processed);
      ctx.tmpl_name = tmpl_name.empty() ? ctx.tmpl.value("name", "") : tmpl_name;
      cached = contexts_.emplace(id, std::move(ctx)).first;
    }
    NodeContext& ctx = cached->second;
    const std::string& kind = ctx.kind;
    const std::string& tmpl_name = ctx.tmpl_name;
    const Json& tmpl = ctx.tmpl;
    Scope& scope = ctx.scope;
    std::map<std::string, Json>& arts = ctx.arts;

    if (!tmpl.contains("retryStrategy")) {
      return ExecuteKind(node_name, display, kind, tmpl_name, tmpl, scope, arts, opts, node, 0, ctx);
    }

    // Retries: a Retry node whose children are the attempts name(0), name(1)...
    if (!node) {
      node = OpenNode(node_name, display, "Retry", tmpl_name, opts);
      if (Fulfilled(*node)) return node;  // blocked: Failed at once
    }
    const Json& rs = tmpl["retryStrategy"];
    for (int guard = 0; guard < 2; ++guard) {
      std::vector<std::string> children;
      if (node->contains("children")) children = (*node)["children"].get<std::vector<std::string>>();
      Json* last = children.empty() ? nullptr : FindId(children.back());
      if (last && Fulfilled(*last)) {
        std::string phase = last->value("phase", "");
        if (!FailedOrError(*last)) {
          Mut(node)["outputs"] = last->value("outputs", Json::object());
          if ((*node)["outputs"].empty()) Mut(node).erase("outputs");
          return MarkPhase(node, "Succeeded", "", true);
        }
        std::string policy = rs.value("retryPolicy", "OnFailure");
        bool retry_failed = policy == "Always" || policy == "OnFailure";
        bool retry_error = policy == "Always" || policy == "OnError" || policy == "OnTransientError";
        if ((phase == "Failed" && !retry_failed) || (phase == "Error" && !retry_error)) {
          return MarkPhase(node, phase, last->value("message", ""));
        }
        int limit = RetryLimit(rs);
        if (limit >= 0 && static_cast<int>(children.size()) > limit) {
          return MarkPhase(node, phase, "No more retries left");
        }
        if (!BlockedReason(opts).empty()) return MarkPhase(node, phase, last->value("message", ""));
        if (rs.contains("backoff")) {
          const Json& b = rs["backoff"];
          double base = 0, max_duration = 0, cap = 0;
          DurationSeconds(b.value("duration", Json("0")), &base);
          double wait = base;
          double factor = 0;
          if (b.contains("factor")) factor = std::atof(ParameterString(b["factor"]).c_str());  // IntOrString
          if (factor > 0) wait = base * std::pow(factor, static_cast<double>(children.size()) - 1);
          if (b.contains("cap") && DurationSeconds(b["cap"], &cap) && wait > cap) wait = cap;
          double first_started = ParseRfc3339(FindId(children.front())->value("startedAt", ""));
          double finished = ParseRfc3339(last->value("finishedAt", ""));
          if (b.contains("maxDuration") && DurationSeconds(b["maxDuration"], &max_duration)) {
            if (NowSeconds() >= first_started + max_duration) {
              return MarkPhase(node, phase, "Max duration limit exceeded");
            }
            if (finished + wait > first_started + max_duration) {
              return MarkPhase(node, phase, "Backoff would exceed max duration limit");
            }
          }
          // Times are kept to the second (as Argo's); a fresh attempt waits from the
          // finish recorded in memory when there is one.
          auto precise = finish_times_.find(last->value("id", ""));
          if (precise != finish_times_.end()) finished = precise->second;
          if (NowSeconds() < finished + wait) {
            Timer(finished + wait);
            char msg[64];
            snprintf(msg, sizeof msg, "Backoff for %gs", wait);
            if (node->value("message", "") != msg) MarkPhase(node, "Running", msg);
            return node;
          }
          if (node->contains("message")) MarkPhase(node, "Running", "");
        }
        last = nullptr;  // a new attempt
      }
      std::string child_name = last ? last->value("name", "") : node_name + "(" + std::to_string(children.size()) + ")";
      std::string child_display = display + "(" + std::to_string(last ? children.size() - 1 : children.size()) + ")";
      ExecOptions child_opts = opts;
      Json* child = ExecuteKind(child_name, child_display, kind, tmpl_name, tmpl, scope, arts, child_opts,
                                last, last ? children.size() - 1 : children.size(), ctx);
      if (!child) return node;
      node = Find(node_name);  // the map may have rehashed
      AddChild(node, child->value("id", ""));
      if (!Fulfilled(*child)) return node;
      // The attempt ended within this pass (an error before running): decide again.
    }
    return node;
  }

  Json* ExecuteKind(const std::string& node_name, const std::string& display, const std::string& kind,
                    const std::string& tmpl_name, const Json& tmpl, Scope& scope,
                    std::map<std::string, Json>& arts, const ExecOptions& opts, Json* node, size_t attempt,
                    NodeContext& ctx) {
    if (kind == "steps") return ExecuteSteps(node_name, display, tmpl_name, tmpl, scope, arts, opts);
    if (kind == "dag") {
      if (!ctx.dag) ctx.dag = std::make_unique<DagPlan>(BuildDagPlan(tmpl));
      return ExecuteDag(node_name, display, tmpl_name, tmpl, scope, arts, opts, *ctx.dag);
    }
    if (kind == "suspend") return ExecuteSuspend(node_name, display, tmpl_name, tmpl, opts);
    return ExecutePod(node_name, display, tmpl_name, tmpl, scope, opts, attempt);
  }

  // ---------------------------------------------------------------- pods

  // Pods running and not being stopped. Daemons that are ready count against the workflow's
  // parallelism (Argo counts every Running pod), not against the engine's max_running_pods: an
  // idle server must not keep the steps that use it from starting.
  int RunningPodCount(bool count_daemoned = true) {
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

  Json* ExecutePod(const std::string& node_name, const std::string& display, const std::string& tmpl_name,
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
      PodResult result = pods_->Run(req, store_);
      {
        std::lock_guard<std::mutex> lock(mu_);
        finished_.emplace_back(raw->node_id, std::move(result));
      }
      cv_.notify_all();
    });
    return node;
  }

  void Cancel(PodTask& task, const std::string& message) {
    task.cancel_message = message;
    task.cancel.store(true);
  }

  // Applies the results of pods that ended.
  void DrainFinished() {
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

  // The Retry node a pod node is an attempt of ("name(2)" of "name"), or nullptr.
  Json* RetryParent(const Json& node) {
    const std::string name = node.value("name", "");
    if (name.empty() || name.back() != ')') return nullptr;
    const size_t open = name.rfind('(');
    if (open == std::string::npos || open + 2 > name.size() - 1) return nullptr;
    for (size_t i = open + 1; i + 1 < name.size(); ++i) {
      if (!std::isdigit(static_cast<unsigned char>(name[i]))) return nullptr;
    }
    Json* parent = Find(name.substr(0, open));
    return parent && parent->value("type", "") == "Retry" ? parent : nullptr;
  }

  // Argo's killDaemonedChildren: as a steps or dag node (`scope_id`; nullptr: any) ends, the
  // daemons it started are stopped (SIGTERM, then SIGKILL) and their nodes marked Succeeded. A
  // daemon already being stopped by a shutdown or deadline is left to fail as other pods do.
  void StopDaemons(const std::string* scope_id) {
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

  // After a resume (or a daemon's retry), a step group that had ended may hold a daemon that is
  // not ready (again): its scope must wait before going on.
  bool WaitingForDaemon(const Json& group) {
    if (daemons_.empty()) return false;
    for (const Json& c : group.value("children", Json::array())) {
      const Json* cn = FindId(c.get<std::string>());
      if (cn && !Done(*cn)) return true;
    }
    return false;
  }

  void StopAllPods(const std::string& message) {
    for (auto& [id, task] : running_) Cancel(*task, message);
    for (auto& [id, task] : running_) {
      if (task->thread.joinable()) task->thread.join();
    }
    running_.clear();
    std::lock_guard<std::mutex> lock(mu_);
    finished_.clear();
  }

  // ---------------------------------------------------------------- suspend

  // ---------------------------------------------------------------- opening a node

  // The node of a steps, dag, suspend template or of retries: the one there is, else a new one Running, or
  // Failed with the reason when its scope may start nothing more (BlockedReason).
  Json* OpenNode(const std::string& node_name, const std::string& display, const char* type,
                 const std::string& tmpl_name, const ExecOptions& opts) {
    if (Json* node = Find(node_name)) return node;
    std::string blocked = BlockedReason(opts);
    if (!blocked.empty()) return InitNode(node_name, display, type, tmpl_name, opts.boundary_id, "Failed", blocked);
    return InitNode(node_name, display, type, tmpl_name, opts.boundary_id, "Running");
  }

  Json* ExecuteSuspend(const std::string& node_name, const std::string& display, const std::string& tmpl_name,
                       const Json& tmpl, const ExecOptions& opts) {
    Json* node = OpenNode(node_name, display, "Suspend", tmpl_name, opts);
    if (Fulfilled(*node)) return node;
    std::string blocked = BlockedReason(opts);
    if (!blocked.empty()) return MarkPhase(node, "Failed", blocked);
    double duration = 0;
    if (tmpl["suspend"].contains("duration") && DurationSeconds(tmpl["suspend"]["duration"], &duration)) {
      double until = ParseRfc3339(node->value("startedAt", "")) + duration;
      if (NowSeconds() >= until) return MarkPhase(node, "Succeeded");
      Timer(until);
    }
    suspended_.insert(node->value("id", ""));
    return node;
  }

  // ---------------------------------------------------------------- outputs and scopes

  // Argo's buildLocalScope: what {{steps.X.*}} / {{tasks.X.*}} read.
  void AddNodeToScope(const std::string& prefix, const Json* node, Scope& scope, std::map<std::string, Json>& arts) {
    if (node->value("type", "") == "Retry" && node->contains("children") && !(*node)["children"].empty()) {
      const Json* last = FindId((*node)["children"].back().get<std::string>());
      if (last) node = last;
    }
    scope[prefix + ".id"] = node->value("id", "");
    if (node->contains("startedAt")) scope[prefix + ".startedAt"] = node->value("startedAt", "");
    if (node->contains("finishedAt")) scope[prefix + ".finishedAt"] = node->value("finishedAt", "");
    scope[prefix + ".status"] = node->value("phase", "");
    if (node->contains("podIP")) scope[prefix + ".ip"] = node->value("podIP", "");
    if (!node->contains("outputs")) return;
    const Json& out = (*node)["outputs"];
    if (out.contains("result")) scope[prefix + ".outputs.result"] = ParameterString(out["result"]);
    if (out.contains("exitCode")) scope[prefix + ".exitCode"] = ParameterString(out["exitCode"]);
    for (const Json& p : out.value("parameters", Json::array())) {
      scope[prefix + ".outputs.parameters." + p.value("name", "")] = ParameterString(p.value("value", Json("")));
    }
    for (const Json& a : out.value("artifacts", Json::array())) {
      arts[prefix + ".outputs.artifacts." + a.value("name", "")] = a;
    }
  }

  // Outputs of the children of an expanded step/task, as JSON lists (Argo's
  // processAggregateNodeOutputs).
  void AddAggregateToScope(const std::string& prefix, const std::vector<const Json*>& children, Scope& scope) {
    Json params = Json::array(), results = Json::array();
    std::map<std::string, Json> per_name;
    for (const Json* c : children) {
      if (c->value("type", "") == "Retry" && c->contains("children") && !(*c)["children"].empty()) {
        const Json* last = FindId((*c)["children"].back().get<std::string>());
        if (last) c = last;
      }
      if (!c->contains("outputs")) continue;
      const Json& out = (*c)["outputs"];
      if (out.contains("parameters") && !out["parameters"].empty()) {
        Json m = Json::object();
        for (const Json& p : out["parameters"]) {
          std::string v = ParameterString(p.value("value", Json("")));
          m[p.value("name", "")] = v;
          per_name[p.value("name", "")].push_back(v);
        }
        params.push_back(m);
      }
      if (out.contains("result")) {
        std::string r = ParameterString(out["result"]);
        Json parsed = Json::parse(r, nullptr, false);
        results.push_back(parsed.is_discarded() ? Json(r) : parsed);
      }
    }
    scope[prefix + ".outputs.result"] = results.dump();
    scope[prefix + ".outputs.parameters"] = params.dump();
    for (auto& [n, list] : per_name) scope[prefix + ".outputs.parameters." + n] = list.dump();
  }

  // A steps/dag template's own outputs from its scope.
  StatusOr<Json> TemplateOutputs(const Json& tmpl, const Scope& scope, const std::map<std::string, Json>& arts) {
    if (!tmpl.contains("outputs")) return Json();
    Json out = Json::object();
    const Json& decl = tmpl["outputs"];
    for (const Json& p : decl.value("parameters", Json::array())) {
      Json e = {{"name", p.value("name", "")}};
      if (p.contains("valueFrom") && p["valueFrom"].contains("parameter")) {
        StatusOr<std::string> v = SubstituteString(ParameterString(p["valueFrom"]["parameter"]), scope);
        if (!v.ok()) {
          if (!p["valueFrom"].contains("default")) return v.status();
          e["value"] = ParameterString(p["valueFrom"]["default"]);
        } else {
          e["value"] = *v;
        }
      } else if (p.contains("value")) {
        LOOM_ASSIGN_OR_RETURN(std::string v, SubstituteString(ParameterString(p["value"]), scope));
        e["value"] = v;
      }
      if (p.contains("globalName")) e["globalName"] = p["globalName"];
      out["parameters"].push_back(e);
    }
    for (const Json& a : decl.value("artifacts", Json::array())) {
      if (!a.contains("from")) continue;
      std::string key = ParameterString(a["from"]);
      auto vars = VariablesIn(key);
      if (vars.size() != 1) return InvalidArgument("outputs.artifacts." + a.value("name", "") + ".from: expected one {{...}}");
      auto it = arts.find(*vars.begin());
      if (it == arts.end()) return InvalidArgument("Unable to resolve: " + key);
      Json art = it->second;
      art["name"] = a.value("name", "");
      out["artifacts"].push_back(art);
    }
    if (out.empty()) return Json();
    return out;
  }

  // A step's or task's fields with the caller's scope: parameters by substitution, artifacts by
  // reference (`from: "{{steps.X.outputs.artifacts.A}}"`).
  StatusOr<Json> ResolveCall(const Json& step, const Scope& scope, const std::map<std::string, Json>& arts) {
    Json s = step;
    Json artifacts;
    if (s.contains("arguments") && s["arguments"].contains("artifacts")) {
      artifacts = s["arguments"]["artifacts"];
      s["arguments"].erase("artifacts");
    }
    LOOM_ASSIGN_OR_RETURN(s, SubstituteJson(s, scope, KeepItem));
    if (!artifacts.is_null()) {
      Json resolved = Json::array();
      for (const Json& a : artifacts) {
        if (!a.contains("from")) {
          LOOM_ASSIGN_OR_RETURN(Json r, SubstituteJson(a, scope, KeepItem));
          resolved.push_back(r);
          continue;
        }
        std::string from = ParameterString(a["from"]);
        auto vars = VariablesIn(from);
        auto it = vars.size() == 1 ? arts.find(*vars.begin()) : arts.end();
        if (it == arts.end()) {
          if (a.value("optional", false)) continue;
          return InvalidArgument("unable to resolve references: Unable to resolve: " + from);
        }
        Json r = it->second;
        r["name"] = a.value("name", "");
        r.erase("path");
        resolved.push_back(r);
      }
      s["arguments"]["artifacts"] = resolved;
    }
    return s;
  }

  // withItems / withParam / withSequence: the items, or none when the step is not a loop.
  StatusOr<std::optional<Json>> LoopItems(const Json& step) {
    if (step.contains("withItems")) return std::optional<Json>(step["withItems"]);
    if (step.contains("withParam")) {
      std::string text = ParameterString(step["withParam"]);
      Json items = Json::parse(text, nullptr, false);
      if (items.is_discarded() || !items.is_array()) {
        return InvalidArgument("withParam value could not be parsed as a JSON list: " + text);
      }
      return std::optional<Json>(items);
    }
    if (step.contains("withSequence")) {
      const Json& s = step["withSequence"];
      auto num = [&](const char* f, long long def) -> long long {
        if (!s.contains(f)) return def;
        return std::atoll(ParameterString(s[f]).c_str());
      };
      long long start = num("start", 0), end;
      if (s.contains("count")) {
        long long count = num("count", 0);
        if (count <= 0) return std::optional<Json>(Json::array());
        end = start + count - 1;
      } else {
        end = num("end", 0);
      }
      std::string format = s.value("format", "");
      Json items = Json::array();
      long long step_by = end >= start ? 1 : -1;
      for (long long i = start;; i += step_by) {
        if (format.empty()) {
          items.push_back(std::to_string(i));
        } else {
          char buf[128];
          snprintf(buf, sizeof buf, format.c_str(), i);
          items.push_back(std::string(buf));
        }
        if (i == end) break;
      }
      return std::optional<Json>(items);
    }
    return std::optional<Json>();
  }


  StatusOr<std::vector<Expanded>> Expand(const Json& step, const std::string& base_name, const std::string& base_display,
                                         bool* is_loop) {
    LOOM_ASSIGN_OR_RETURN(std::optional<Json> items, LoopItems(step));
    std::vector<Expanded> out;
    *is_loop = items.has_value();
    if (!items) {
      out.push_back({base_name, base_display, step});
      return out;
    }
    Json body = step;
    body.erase("withItems");
    body.erase("withParam");
    body.erase("withSequence");
    for (size_t i = 0; i < items->size(); ++i) {
      Scope item_scope;
      AddItem((*items)[i], item_scope);
      LOOM_ASSIGN_OR_RETURN(Json s, SubstituteJson(body, item_scope, nullptr));
      std::string suffix = "(" + std::to_string(i) + ":" + ItemDescription((*items)[i]) + ")";
      out.push_back({base_name + suffix, base_display + suffix, std::move(s)});
    }
    return out;
  }

  // A step's or task's exit handler (`onExit` on the step): runs after it, before it counts as
  // done. Returns true when there is none or it has ended.
  bool RunStepExitHandler(const Json& step, const Json* child, const ExecOptions& opts) {
    if (!step.contains("onExit") || !child || !Fulfilled(*child)) return true;
    ExecOptions exit_opts = opts;
    exit_opts.on_exit = true;
    std::string name = child->value("name", "") + ".onExit";
    std::string display = child->value("displayName", "") + ".onExit";
    Json* exit = ExecuteTemplate(name, display, {{"template", step["onExit"]}}, exit_opts);
    if (!exit) return false;
    child = Find(name.substr(0, name.size() - 7));
    Json* c = FindId(child->value("id", ""));
    if (c) AddChild(c, exit->value("id", ""));
    return Fulfilled(*exit);
  }

  // ---------------------------------------------------------------- steps

  Json* ExecuteSteps(const std::string& node_name, const std::string& display, const std::string& tmpl_name,
                     const Json& tmpl, Scope& scope, std::map<std::string, Json>& arts, const ExecOptions& opts) {
    Json* node = OpenNode(node_name, display, "Steps", tmpl_name, opts);
    if (Fulfilled(*node)) return node;
    std::string node_id = node->value("id", "");
    ExecOptions child_opts = opts;
    child_opts.boundary_id = node_id;
    int parallelism = tmpl.value("parallelism", 0);
    const Json& groups = tmpl["steps"];
    for (size_t i = 0; i < groups.size(); ++i) {
      std::string sg_name = node_name + "[" + std::to_string(i) + "]";
      Json* sg = Find(sg_name);
      if (!sg) {
        sg = InitNode(sg_name, "[" + std::to_string(i) + "]", "StepGroup", tmpl_name, node_id, "Running");
        node = FindId(node_id);
        if (i == 0) {
          AddChild(node, sg->value("id", ""));
        } else {
          Json* prev = Find(node_name + "[" + std::to_string(i - 1) + "]");
          std::string sg_id = sg->value("id", "");
          if (!prev->contains("children") || (*prev)["children"].empty()) {
            AddChild(prev, sg_id);
          } else {
            for (const Json& c : (*prev)["children"]) {
              for (const std::string& o : Outbound(c.get<std::string>())) AddChild(FindId(o), sg_id);
            }
          }
        }
        sg = Find(sg_name);
      }
      sg = ExecuteStepGroup(groups[i], sg_name, scope, arts, child_opts, parallelism);
      node = FindId(node_id);
      if (!Fulfilled(*sg) || WaitingForDaemon(*sg)) return node;
      if (FailedOrError(*sg)) {
        UpdateStepsOutbound(node, node_name, groups.size());
        StopDaemons(&node_id);
        return MarkPhase(node, "Failed", sg->value("message", ""));
      }
      // The outputs of this group's steps, for the next groups.
      for (const Json& step : groups[i]) {
        std::string step_name = step.value("name", "");
        std::string child_name = sg_name + "." + step_name;
        std::string prefix = "steps." + step_name;
        if (Json* child = Find(child_name); child && child->value("type", "") != "TaskGroup") {
          if (!(child->value("type", "") == "Skipped" && child->value("message", "") == "Skipped, empty params")) {
            AddNodeToScope(prefix, child, scope, arts);
            continue;
          }
        }
        std::vector<const Json*> expanded;
        if (sg->contains("children")) {
          for (const Json& c : (*sg)["children"]) {
            const Json* cn = FindId(c.get<std::string>());
            if (cn && cn->value("name", "").rfind(child_name + "(", 0) == 0 && cn->value("type", "") != "Skipped") {
              expanded.push_back(cn);
            }
          }
        }
        AddAggregateToScope(prefix, expanded, scope);
      }
    }
    UpdateStepsOutbound(node, node_name, groups.size());
    StopDaemons(&node_id);
    StatusOr<Json> outputs = TemplateOutputs(tmpl, scope, arts);
    if (!outputs.ok()) return MarkPhase(node, "Error", outputs.status().message());
    if (!outputs->is_null()) {
      Mut(node)["outputs"] = *outputs;
      ExportGlobalOutputs(tmpl, *outputs);
    }
    return MarkPhase(node, "Succeeded");
  }

  void UpdateStepsOutbound(Json* node, const std::string& node_name, size_t groups) {
    for (size_t i = groups; i-- > 0;) {
      Json* sg = Find(node_name + "[" + std::to_string(i) + "]");
      if (!sg) continue;
      Json outbound = Json::array();
      for (const Json& c : sg->value("children", Json::array())) {
        for (const std::string& o : Outbound(c.get<std::string>())) outbound.push_back(o);
      }
      Mut(node)["outboundNodes"] = outbound;
      return;
    }
  }

  Json* ExecuteStepGroup(const Json& group, const std::string& sg_name, Scope& scope,
                         std::map<std::string, Json>& arts, const ExecOptions& opts, int parallelism) {
    Json* sg = Find(sg_name);
    // An ended group is gone through again only for a daemon of it that is not ready (again).
    const bool revisit = Fulfilled(*sg);
    if (revisit && !WaitingForDaemon(*sg)) return sg;
    std::string sg_id = sg->value("id", "");
    std::map<std::string, const Json*> step_of;  // child node name -> its step
    int active = 0;
    for (const Json& c : sg->value("children", Json::array())) {
      const Json* cn = FindId(c.get<std::string>());
      if (cn && !Fulfilled(*cn)) ++active;
    }
    for (const Json& raw_step : group) {
      std::string base = sg_name + "." + raw_step.value("name", "");
      // Resolved and expanded once: the scope of a step group does not change while it runs.
      auto cached = expansions_.find(base);
      if (cached == expansions_.end()) {
        StatusOr<Json> step = ResolveCall(raw_step, scope, arts);
        if (!step.ok()) return MarkPhase(FindId(sg_id), "Error", step.status().message());
        Expansion expansion;
        StatusOr<std::vector<Expanded>> expanded = Expand(*step, base, raw_step.value("name", ""), &expansion.is_loop);
        if (!expanded.ok()) return MarkPhase(FindId(sg_id), "Error", expanded.status().message());
        expansion.items = std::move(*expanded);
        cached = expansions_.emplace(base, std::move(expansion)).first;
      }
      const bool is_loop = cached->second.is_loop;
      std::vector<Expanded>* expanded = &cached->second.items;
      if (is_loop && expanded->empty()) {
        if (!Find(base)) {
          Json* skipped = InitNode(base, raw_step.value("name", ""), "Skipped", raw_step.value("template", ""),
                                   opts.boundary_id, "Skipped", "Skipped, empty params");
          AddChild(FindId(sg_id), skipped->value("id", ""));
        }
        continue;
      }
      for (const Expanded& e : *expanded) {
        const Json& s = e.step;
        step_of[e.name] = &s;
        Json* existing = Find(e.name);
        if (existing && Fulfilled(*existing)) continue;
        if (!existing) {
          if (s.contains("when")) {
            StatusOr<bool> proceed = EvaluateWhen(ParameterString(s["when"]));
            if (!proceed.ok()) {
              Json* bad = InitNode(e.name, e.display, "Skipped", s.value("template", ""), opts.boundary_id, "Error",
                                   proceed.status().message());
              AddChild(FindId(sg_id), bad->value("id", ""));
              return MarkPhase(FindId(sg_id), "Error", proceed.status().message());
            }
            if (!*proceed) {
              Json* skipped = InitNode(e.name, e.display, "Skipped", s.value("template", ""), opts.boundary_id,
                                       "Skipped", "when '" + ParameterString(s["when"]) + "' evaluated false");
              AddChild(FindId(sg_id), skipped->value("id", ""));
              continue;
            }
          }
          if (parallelism > 0 && active >= parallelism) continue;
        }
        Json* child = ExecuteTemplate(e.name, e.display, s, opts);
        if (!child) continue;
        if (!existing) ++active;
        AddChild(FindId(sg_id), child->value("id", ""));
      }
    }
    if (revisit) return FindId(sg_id);
    // Done when every step (and its exit handler) has ended, or is a daemon that is ready.
    sg = FindId(sg_id);
    bool completed = true;
    size_t expected = 0;
    for (const auto& [n, s] : step_of) {
      (void)s;
      ++expected;
    }
    std::vector<std::string> children = sg->value("children", Json::array()).get<std::vector<std::string>>();
    std::set<std::string> seen;
    for (const std::string& cid : children) {
      Json* c = FindId(cid);
      if (!c) continue;
      seen.insert(c->value("name", ""));
      if (!Done(*c)) {
        completed = false;
        continue;
      }
      auto it = step_of.find(c->value("name", ""));
      if (it != step_of.end() && !RunStepExitHandler(*it->second, c, opts)) completed = false;
    }
    for (const auto& [n, s] : step_of) {
      if (!seen.count(n)) completed = false;  // not started yet (parallelism)
    }
    sg = FindId(sg_id);
    if (!completed) return sg;
    for (const std::string& cid : children) {
      Json* c = FindId(cid);
      if (!c || !FailedOrError(*c)) continue;
      auto it = step_of.find(c->value("name", ""));
      const Json* s = it == step_of.end() ? nullptr : it->second;
      if (!s || !ContinuesOn(*s, c->value("phase", ""))) {
        return MarkPhase(sg, "Failed", "child '" + cid + "' failed");
      }
    }
    return MarkPhase(sg, "Succeeded");
  }

  // ---------------------------------------------------------------- dag


  // A DAG template's tasks, dependencies, targets and order, worked out once per DAG node.
  static DagPlan BuildDagPlan(const Json& tmpl) {
    DagPlan plan;
    std::vector<DagTask>& tasks = plan.tasks;
    std::map<std::string, size_t>& index = plan.index;
    std::set<std::string>& wanted = plan.wanted;
    const Json& tasks_json = tmpl["dag"]["tasks"];
    std::map<std::string, const Json*> by_name;
    for (const Json& t : tasks_json) by_name[t.value("name", "")] = &t;
    for (const Json& t : tasks_json) {
      DagTask d{&t, t.value("name", ""), {}, ""};
      if (t.contains("depends")) {
        d.depends = ParameterString(t["depends"]);
        StatusOr<std::set<std::string>> named = DependsTasks(d.depends);
        if (named.ok()) d.deps = *named;
      } else if (t.contains("dependencies")) {
        for (const Json& dep : t["dependencies"]) {
          std::string n = ParameterString(dep);
          d.deps.insert(n);
          if (!d.depends.empty()) d.depends += " && ";
          // Argo: a plain dependency also accepts a failure its task continues on.
          auto found = by_name.find(n);
          const Json* dt = found == by_name.end() ? nullptr : found->second;
          std::string term = "(" + n + ".Succeeded || " + n + ".Skipped || " + n + ".Daemoned";
          if (dt && ContinuesOn(*dt, "Failed")) term += " || " + n + ".Failed";
          if (dt && ContinuesOn(*dt, "Error")) term += " || " + n + ".Errored";
          d.depends += term + ")";
        }
      }
      index[d.name] = tasks.size();
      tasks.push_back(std::move(d));
    }
    // Targets: dag.target, or every task.
    if (tmpl["dag"].contains("target")) {
      std::vector<std::string> stack;
      std::string targets = ParameterString(tmpl["dag"]["target"]);
      for (size_t p = 0; p < targets.size();) {
        size_t q = targets.find_first_of(" ,", p);
        if (q == std::string::npos) q = targets.size();
        if (q > p) stack.push_back(targets.substr(p, q - p));
        p = q + 1;
      }
      while (!stack.empty()) {
        std::string t = stack.back();
        stack.pop_back();
        if (!wanted.insert(t).second || !index.count(t)) continue;
        for (const std::string& d : tasks[index[t]].deps) stack.push_back(d);
      }
    } else {
      for (const DagTask& t : tasks) wanted.insert(t.name);
    }

    std::vector<int> state(tasks.size(), 0);
    std::function<void(size_t)> visit = [&](size_t i) {
      if (state[i]) return;
      state[i] = 1;
      for (const std::string& d : tasks[i].deps) if (index.count(d)) visit(index[d]);
      plan.order.push_back(i);
    };
    for (size_t i = 0; i < tasks.size(); ++i) visit(i);
    for (const DagTask& t : tasks) for (const std::string& d : t.deps) plan.dependents[d].push_back(t.name);
    return plan;
  }

  Json* ExecuteDag(const std::string& node_name, const std::string& display, const std::string& tmpl_name,
                   const Json& tmpl, Scope& scope, std::map<std::string, Json>& arts, const ExecOptions& opts,
                   DagPlan& plan) {
    Json* node = OpenNode(node_name, display, "DAG", tmpl_name, opts);
    if (Fulfilled(*node)) return node;
    std::string dag_id = node->value("id", "");
    ExecOptions child_opts = opts;
    child_opts.boundary_id = dag_id;
    int parallelism = tmpl.value("parallelism", 0);

    std::vector<DagTask>& tasks = plan.tasks;
    std::map<std::string, size_t>& index = plan.index;
    const std::set<std::string>& wanted = plan.wanted;

    auto task_node = [&](const std::string& task) { return Find(node_name + "." + task); };
    // Argo's task results for depends.
    auto result = [&](const std::string& task, const std::string& what) -> bool {
      Json* n = task_node(task);
      if (!n) return false;
      std::string phase = n->value("phase", "");
      if (what == "Succeeded") return phase == "Succeeded";
      if (what == "Failed") return phase == "Failed";
      if (what == "Errored") return phase == "Error";
      if (what == "Skipped") return phase == "Skipped";
      if (what == "Omitted") return phase == "Omitted";
      if (what == "Daemoned") return IsDaemoned(*n);
      std::vector<std::string> kids = n->value("children", Json::array()).get<std::vector<std::string>>();
      if (n->value("type", "") != "TaskGroup") kids = {n->value("id", "")};
      if (what == "AnySucceeded") {
        for (const auto& k : kids) if (Json* c = FindId(k); c && c->value("phase", "") == "Succeeded") return true;
        return false;
      }
      if (what == "AllFailed") {
        if (kids.empty()) return false;
        for (const auto& k : kids) if (Json* c = FindId(k); !c || c->value("phase", "") != "Failed") return false;
        return true;
      }
      return false;
    };

    // What counts against the template's parallelism: tasks running, and for a loop (a TaskGroup)
    // its items running, not the group itself.
    int active = 0;
    for (const DagTask& t : tasks) {
      Json* n = task_node(t.name);
      if (!n || Fulfilled(*n)) continue;
      if (n->value("type", "") != "TaskGroup") {
        ++active;
        continue;
      }
      for (const Json& c : n->value("children", Json::array())) {
        if (Json* k = FindId(c.get<std::string>()); k && !Fulfilled(*k)) ++active;
      }
    }
    bool all_done = true;
    for (size_t i : plan.order) {
      const DagTask& t = tasks[i];
      if (!wanted.count(t.name)) continue;
      std::string task_name = node_name + "." + t.name;
      Json* existing = Find(task_name);
      if (existing && Fulfilled(*existing)) {
        if (!RunStepExitHandler(*t.task, existing, child_opts)) all_done = false;
        continue;
      }
      if (existing && !daemons_.empty()) {
        // A daemon it depends on is starting again (a resume, a retry): wait for it to be ready.
        bool waiting = false;
        for (const std::string& d : t.deps) {
          if (Json* dn = task_node(d); dn && !Done(*dn)) waiting = true;
        }
        if (waiting) {
          all_done = false;
          continue;
        }
      }
      if (!existing) {
        // Every dependency must have ended (with its exit handler), or be a daemon that is ready.
        bool ready = true;
        for (const std::string& d : t.deps) {
          Json* dn = task_node(d);
          if (!dn || !Done(*dn)) ready = false;
          else if (dn->contains("children")) {
            if (Json* ex = Find(dn->value("name", "") + ".onExit"); ex && !Fulfilled(*ex)) ready = false;
          }
        }
        if (!ready) {
          all_done = false;
          continue;
        }
        if (!t.depends.empty()) {
          StatusOr<bool> go = EvaluateDepends(t.depends, result);
          if (!go.ok()) {
            Json* bad = InitNode(task_name, t.name, "Skipped", t.task->value("template", ""), dag_id, "Error", go.status().message());
            LinkTask(FindId(dag_id), t, node_name, bad);
            continue;
          }
          if (!*go) {
            Json* omitted = InitNode(task_name, t.name, "Skipped", t.task->value("template", ""), dag_id, "Omitted",
                                     "omitted: depends condition not met");
            LinkTask(FindId(dag_id), t, node_name, omitted);
            continue;
          }
        }
      }
      Json* n = ExecuteTask(t, task_name, scope, arts, child_opts, parallelism, active, node_name);
      if (!n || !Done(*n)) {
        all_done = false;
        continue;
      }
      if (!RunStepExitHandler(*t.task, n, child_opts)) all_done = false;
    }
    // Scope for outputs (and for tasks started above, which saw it as it was).
    node = FindId(dag_id);
    if (!all_done) return node;

    // Phase: a branch that ends in a failure not handled downstream fails the DAG (Argo's
    // assessDAGPhase).
    std::map<std::string, std::vector<std::string>>& dependents = plan.dependents;
    // The phase a failing branch ends in ("" when every branch from `task` ends well).
    std::map<std::pair<std::string, std::string>, std::string> memo;
    std::function<std::string(const std::string&, const std::string&)> fails =
        [&](const std::string& task, const std::string& carried) -> std::string {
      auto key = std::make_pair(task, carried);
      if (auto it = memo.find(key); it != memo.end()) return it->second;
      memo[key] = "";
      Json* n = task_node(task);
      std::string branch = carried;
      if (n && n->value("phase", "") != "Omitted") {
        branch = n->value("phase", "");
        if ((branch == "Failed" || branch == "Error") && ContinuesOn(*tasks[index[task]].task, branch)) branch = "Succeeded";
      }
      std::string failed;
      std::vector<std::string> next;
      for (const std::string& d : dependents[task]) if (wanted.count(d) && task_node(d)) next.push_back(d);
      if (next.empty()) {
        if (branch == "Failed" || branch == "Error") failed = branch;
      } else {
        for (const std::string& d : next) {
          if (failed.empty()) failed = fails(d, branch);
        }
      }
      return memo[key] = failed;
    };
    std::string failed_phase;
    for (const DagTask& t : tasks) {
      if (!wanted.count(t.name) || !t.deps.empty()) continue;
      if (failed_phase.empty()) failed_phase = fails(t.name, "Succeeded");
    }
    const bool failed = !failed_phase.empty();
    // Outbound: the wanted tasks nothing depends on.
    Json outbound = Json::array();
    for (const DagTask& t : tasks) {
      if (!wanted.count(t.name)) continue;
      bool leaf = true;
      for (const std::string& d : dependents[t.name]) leaf = leaf && !wanted.count(d);
      if (leaf) if (Json* n = task_node(t.name)) for (const std::string& o : Outbound(n->value("id", ""))) outbound.push_back(o);
    }
    Mut(node)["outboundNodes"] = outbound;
    StopDaemons(&dag_id);
    if (failed) return MarkPhase(node, failed_phase);
    for (const DagTask& t : tasks) {
      Json* n = task_node(t.name);
      if (!n) continue;
      if (n->value("type", "") == "TaskGroup") {
        std::vector<const Json*> kids;
        for (const Json& c : n->value("children", Json::array())) if (const Json* k = FindId(c.get<std::string>())) kids.push_back(k);
        AddAggregateToScope("tasks." + t.name, kids, scope);
      } else {
        AddNodeToScope("tasks." + t.name, n, scope, arts);
      }
    }
    StatusOr<Json> outputs = TemplateOutputs(tmpl, scope, arts);
    node = FindId(dag_id);
    if (!outputs.ok()) return MarkPhase(node, "Error", outputs.status().message());
    if (!outputs->is_null()) {
      Mut(node)["outputs"] = *outputs;
      ExportGlobalOutputs(tmpl, *outputs);
    }
    return MarkPhase(node, "Succeeded");
  }

  // Hangs a task's node under its dependencies' outbound nodes (or the DAG node for a root task).
  void LinkTask(Json* dag, const DagTask& t, const std::string& dag_name, Json* task_node) {
    std::string id = task_node->value("id", "");
    if (t.deps.empty()) {
      AddChild(dag, id);
      return;
    }
    for (const std::string& d : t.deps) {
      Json* dn = Find(dag_name + "." + d);
      if (!dn) continue;
      for (const std::string& o : Outbound(dn->value("id", ""))) AddChild(FindId(o), id);
    }
  }

  Json* ExecuteTask(const DagTask& t, const std::string& task_name, Scope& base_scope, std::map<std::string, Json>& base_arts,
                    const ExecOptions& opts, int parallelism, int& active, const std::string& dag_name) {
    Json* existing = Find(task_name);
    bool is_new = !existing;
    if (existing && existing->value("type", "") == "Pod" && running_.count(existing->value("id", ""))) return existing;
    if (is_new && parallelism > 0 && active >= parallelism) return nullptr;
    std::string dag_id = opts.boundary_id;
    // The task resolved and expanded once: what it depends on has ended and does not change.
    auto cached = expansions_.find(task_name);
    if (cached == expansions_.end()) {
      // The task's scope: the DAG's, plus the outputs of the tasks it depends on.
      Scope scope = base_scope;
      std::map<std::string, Json> arts = base_arts;
      std::set<std::string> seen;
      std::vector<std::string> stack(t.deps.begin(), t.deps.end());
      for (const auto& var : VariablesIn(t.task->dump())) {
        if (var.rfind("tasks.", 0) == 0) stack.push_back(var.substr(6, var.find('.', 6) - 6));
      }
      while (!stack.empty()) {
        std::string d = stack.back();
        stack.pop_back();
        if (!seen.insert(d).second) continue;
        Json* dn = Find(dag_name + "." + d);
        if (!dn || !Done(*dn)) continue;
        if (dn->value("type", "") == "TaskGroup") {
          std::vector<const Json*> kids;
          for (const Json& c : dn->value("children", Json::array())) if (const Json* k = FindId(c.get<std::string>())) kids.push_back(k);
          AddAggregateToScope("tasks." + d, kids, scope);
        } else {
          AddNodeToScope("tasks." + d, dn, scope, arts);
        }
      }
      StatusOr<Json> task = ResolveCall(*t.task, scope, arts);
      Expansion expansion;
      StatusOr<std::vector<Expanded>> expanded =
          task.ok() ? Expand(*task, task_name, t.name, &expansion.is_loop) : StatusOr<std::vector<Expanded>>(task.status());
      if (!expanded.ok()) {
        Json* bad = existing ? existing : InitNode(task_name, t.name, "Skipped", t.task->value("template", ""), dag_id, "Error");
        if (is_new) LinkTask(FindId(dag_id), t, dag_name, bad);
        return MarkPhase(bad, "Error", expanded.status().message());
      }
      expansion.items = std::move(*expanded);
      cached = expansions_.emplace(task_name, std::move(expansion)).first;
    }
    const bool is_loop = cached->second.is_loop;
    const std::vector<Expanded>* expanded = &cached->second.items;
    if (!is_loop) {
      const Json& s = (*expanded)[0].step;
      if (is_new && s.contains("when")) {
        StatusOr<bool> proceed = EvaluateWhen(ParameterString(s["when"]));
        if (!proceed.ok() || !*proceed) {
          Json* n = InitNode(task_name, t.name, "Skipped", s.value("template", ""), dag_id,
                             proceed.ok() ? "Skipped" : "Error",
                             proceed.ok() ? "when '" + ParameterString(s["when"]) + "' evaluated false"
                                          : proceed.status().message());
          LinkTask(FindId(dag_id), t, dag_name, n);
          return n;
        }
      }
      Json* n = ExecuteTemplate(task_name, t.name, s, opts);
      if (n && is_new) {
        ++active;
        LinkTask(FindId(dag_id), t, dag_name, n);
      }
      return n;
    }
    // A loop: a TaskGroup node with one child per item.
    Json* group = existing;
    if (!group) {
      group = InitNode(task_name, t.name, "TaskGroup", t.task->value("template", ""), dag_id,
                       expanded->empty() ? "Skipped" : "Running", expanded->empty() ? "Skipped, empty params" : "");
      LinkTask(FindId(dag_id), t, dag_name, group);
      if (expanded->empty()) return Find(task_name);
    }
    std::string group_id = Find(task_name)->value("id", "");
    bool done = true;
    for (const Expanded& e : *expanded) {
      Json* c = Find(e.name);
      if (c && Fulfilled(*c)) continue;
      if (!c && e.step.contains("when")) {
        StatusOr<bool> proceed = EvaluateWhen(ParameterString(e.step["when"]));
        if (!proceed.ok() || !*proceed) {
          Json* n = InitNode(e.name, e.display, "Skipped", e.step.value("template", ""), dag_id,
                             proceed.ok() ? "Skipped" : "Error",
                             proceed.ok() ? "when '" + ParameterString(e.step["when"]) + "' evaluated false"
                                          : proceed.status().message());
          AddChild(FindId(group_id), n->value("id", ""));
          continue;
        }
      }
      if (!c && parallelism > 0 && active >= parallelism) {
        done = false;
        continue;
      }
      Json* n = ExecuteTemplate(e.name, e.display, e.step, opts);
      if (!n) {
        done = false;
        continue;
      }
      if (!c) ++active;
      AddChild(FindId(group_id), n->value("id", ""));
      if (!Done(*n)) done = false;
    }
    group = FindId(group_id);
    if (!done) return group;
    for (const Json& c : group->value("children", Json::array())) {
      Json* cn = FindId(c.get<std::string>());
      if (cn && FailedOrError(*cn) && !ContinuesOn(*t.task, cn->value("phase", ""))) {
        return MarkPhase(group, "Failed", "child '" + c.get<std::string>() + "' failed");
      }
    }
    return MarkPhase(group, "Succeeded");
  }

  // ---------------------------------------------------------------- the store

  // Picks up what other processes changed: spec.shutdown / spec.suspend, resumed suspend nodes.
  Status PollStore() {
    StatusOr<Json> spec = store_.GetSpec(name_);
    if (!spec.ok()) return spec.status();
    for (const char* f : {"shutdown", "suspend"}) {
      if (spec->contains(f)) spec_[f] = (*spec)[f];
      else spec_.erase(f);
    }
    for (auto it = suspended_.begin(); it != suspended_.end();) {
      Json* mine = FindId(*it);
      StatusOr<Json> stored = store_.GetNode(name_, *it);
      if (mine && stored.ok() && Fulfilled(*stored) && !Fulfilled(*mine)) {
        *mine = *stored;
        it = suspended_.erase(it);
      } else if (!mine || Fulfilled(*mine)) {
        it = suspended_.erase(it);
      } else {
        ++it;
      }
    }
    return OkStatus();
  }

  Status Persist() {
    if (dirty_.empty() && !status_dirty_) return OkStatus();
    LOOM_RETURN_IF_ERROR(store_.BeginBatch());
    // The status first: a workflow deleted meanwhile fails here, before any node row is written.
    Status s = status_dirty_ ? store_.UpdateStatus(name_, status_) : OkStatus();
    for (const std::string& id : dirty_) {
      if (!s.ok()) break;
      auto it = nodes_.find(id);
      if (it == nodes_.end()) continue;
      s = store_.PutNode(name_, it->second);
    }
    Status c = store_.CommitBatch();
    if (s.ok()) s = c;
    if (!s.ok()) return s;
    dirty_.clear();
    status_dirty_ = false;
    if (engine_.options.on_change) engine_.options.on_change(name_);
    return OkStatus();
  }

  Engine::Impl& engine_;
  Store& store_;
  PodRunner* pods_;
  std::string name_;
  Json head_, spec_, status_;
  std::unordered_map<std::string, Json> nodes_;
  std::set<std::string> dirty_;
  bool status_dirty_ = false;
  Scope globals_;
  std::map<std::string, Json> ref_cache_;
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
};

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

namespace {

}  // namespace

StatusOr<std::vector<std::pair<std::string, std::string>>> ReadParameterFile(const std::string& path) {
  LOOM_ASSIGN_OR_RETURN(Json params, ReadJsonOrYamlFile(path));
  if (!params.is_object()) return InvalidArgument(path + ": a parameter file is a map of name: value");
  std::vector<std::pair<std::string, std::string>> out;
  // As Argo's CLI reads it: a string as it is, anything else as its JSON text (a null is "null").
  for (auto it = params.begin(); it != params.end(); ++it)
    out.emplace_back(it.key(), it.value().is_null() ? "null" : ParameterString(it.value()));
  return out;
}

StatusOr<std::string> Engine::Submit(const Json& manifest, const SubmitOptions& options) {
  Store& store = *impl_->options.store;
  std::string source = options.source_name.empty() ? "workflow" : options.source_name;
  LOOM_RETURN_IF_ERROR(Lint(manifest, source, &store, options.source_lines));
  Json wf = manifest;
  if (wf.value("kind", "") == "WorkflowTemplate") {
    // Submitting a template runs it as a workflow, as `argo submit --from workflowtemplate/x`.
    std::string tname = wf["metadata"].value("name", "");
    wf["kind"] = "Workflow";
    wf["metadata"] = {{"generateName", tname + "-"}};
  }
  Json& spec = wf["spec"];
  if (spec.contains("workflowTemplateRef")) {
    std::string ref = spec["workflowTemplateRef"].value("name", "");
    LOOM_ASSIGN_OR_RETURN(Json wt, store.GetTemplate(ref));
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
    if (!params.is_array()) params = Json::array();
    for (const auto& [name, value] : overrides) {
      bool found = false;
      for (Json& p : params) {
        if (p.value("name", "") == name) {
          p["value"] = value;
          found = true;
        }
      }
      if (!found) params.push_back({{"name", name}, {"value", value}});
    }
  }
  if (spec.contains("arguments") && spec["arguments"].contains("parameters")) {
    for (size_t i = 0; i < spec["arguments"]["parameters"].size(); ++i) {
      const Json& p = spec["arguments"]["parameters"][i];
      std::string where = source + ": spec.arguments.parameters[" + std::to_string(i) + "]";
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
    if (s.ok()) return name;
    if (s.code() != StatusCode::kAlreadyExists || !generated) return s;
  }
  return Internal("could not find a free name for generateName " + meta.value("generateName", ""));
}

Status Engine::Run(const std::string& name) {
  if (!impl_->options.pods) return FailedPrecondition("EngineOptions.pods is required to run workflows");
  LOOM_ASSIGN_OR_RETURN(auto lock, RunLock::Acquire(impl_->home, name));
  WorkflowRun run(*impl_, name);
  {
    std::lock_guard<std::mutex> l(impl_->runs_mu);
    impl_->runs.insert(&run);
  }
  Status s = run.Run();
  {
    std::lock_guard<std::mutex> l(impl_->runs_mu);
    impl_->runs.erase(&run);
  }
  return s;
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
  for (auto& [id, node] : wf["status"]["nodes"].items()) {
    if (node.value("type", "") == "Suspend" && node.value("phase", "") == "Running") {
      node["phase"] = "Succeeded";
      node["finishedAt"] = Rfc3339(NowSeconds());
      LOOM_RETURN_IF_ERROR(store.PutNode(name, node));
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
  Json nodes = status["nodes"];
  std::vector<std::string> removed;
  std::set<std::string> removed_set;
  // Failed pods, skipped errors, failed retries and exit handlers go; failed parents run again.
  for (auto& [id, node] : nodes.items()) {
    // Omitted tasks are decided again too: what they depend on may succeed this time.
    bool omitted = node.value("phase", "") == "Omitted";
    if (!FailedOrError(node) && !omitted && node.value("name", "").find(".onExit") == std::string::npos) continue;
    std::string type = node.value("type", "");
    if (type == "Pod" || type == "Skipped" || type == "Retry" || type == "Suspend" ||
        node.value("name", "").find(".onExit") != std::string::npos) {
      removed.push_back(id);
      removed_set.insert(id);
    }
  }
  // Children of removed retry nodes and of removed exit handlers go with them.
  bool grew = true;
  while (grew) {
    grew = false;
    for (auto& [id, node] : nodes.items()) {
      if (removed_set.count(id)) continue;
      std::string b = node.value("boundaryID", "");
      if (removed_set.count(b)) {
        removed.push_back(id);
        removed_set.insert(id);
        grew = true;
      }
    }
    for (auto& [id, node] : nodes.items()) {
      if (!removed_set.count(id) || node.value("type", "") != "Retry") continue;
      for (const Json& c : node.value("children", Json::array())) {
        if (removed_set.insert(c.get<std::string>()).second) {
          removed.push_back(c.get<std::string>());
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
  for (auto& [id, node] : nodes.items()) {
    if (removed_set.count(id) || node.value("type", "") != "Pod" || !node.contains("podIP") ||
        node.value("phase", "") != "Succeeded") {
      continue;
    }
    const std::string boundary = node.value("boundaryID", "");
    if (!nodes.contains(boundary) || !FailedOrError(nodes[boundary])) continue;
    restarted.insert(id);
    std::string parent = node.value("name", "");
    if (const size_t open = parent.rfind('('); open != std::string::npos && parent.back() == ')') {
      parent = NodeId(name, parent.substr(0, open));
      if (nodes.contains(parent) && nodes[parent].value("type", "") == "Retry") restarted.insert(parent);
    }
  }
  for (const std::string& id : restarted) {
    Json& node = nodes[id];
    node["phase"] = "Running";
    node["daemoned"] = true;
    node.erase("message");
    node.erase("finishedAt");
  }
  LOOM_RETURN_IF_ERROR(store.BeginBatch());
  Status s = store.DeleteNodes(name, removed);
  for (auto& [id, node] : nodes.items()) {
    if (!s.ok() || removed_set.count(id)) continue;
    bool changed = restarted.count(id) > 0;
    if (node.contains("children")) {
      Json kept = Json::array();
      for (const Json& c : node["children"]) if (!removed_set.count(c.get<std::string>())) kept.push_back(c);
      if (kept.size() != node["children"].size()) {
        node["children"] = kept;
        changed = true;
      }
    }
    if (FailedOrError(node)) {
      node["phase"] = "Running";
      node.erase("message");
      node.erase("finishedAt");
      node.erase("outboundNodes");
      changed = true;
    }
    if (changed) s = store.PutNode(name, node);
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
  manifest["metadata"] = {{"generateName", name + "-"}};
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
