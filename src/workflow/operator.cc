// The scheduling pass (Argo's operator.go): node state, workflow globals, templates and their
// inputs, executeTemplate, suspend nodes, outputs and the scopes steps and tasks read.
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

NodeStatus* WorkflowRun::Find(const std::string& node_name) {
  auto it = nodes_.find(NodeId(name_, node_name));
  return it == nodes_.end() ? nullptr : &it->second;
}

NodeStatus* WorkflowRun::FindId(const std::string& id) {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : &it->second;
}

NodeStatus& WorkflowRun::Mut(NodeStatus* node) {
  dirty_.insert(node->id);
  return *node;
}

NodeStatus* WorkflowRun::InitNode(const std::string& node_name, const std::string& display, NodeType type,
    const std::string& template_name, const std::string& boundary_id, NodePhase phase,
    const std::string& message) {
  NodeStatus node;
  node.id = NodeId(name_, node_name);
  node.name = node_name;
  node.display_name = display;
  node.type = type;
  node.template_name = template_name;
  node.template_scope = "local/" + name_;
  node.phase = phase;
  node.boundary_id = boundary_id;
  node.message = message;
  node.started_at = Rfc3339(NowSeconds());
  if (IsCompleted(phase)) node.finished_at = node.started_at;
  const std::string id = node.id;
  auto [it, inserted] = nodes_.insert_or_assign(id, std::move(node));
  dirty_.insert(id);
  return &it->second;
}

NodeStatus* WorkflowRun::MarkPhase(NodeStatus* node, NodePhase phase, const std::string& message, bool set_message) {
  NodeStatus& n = Mut(node);
  n.phase = phase;
  if (set_message) n.message = message;
  if (IsCompleted(phase) && n.finished_at.empty()) n.finished_at = Rfc3339(NowSeconds());
  return node;
}

void WorkflowRun::AddChild(NodeStatus* parent, const std::string& child_id) {
  if (!parent || parent->HasChild(child_id)) return;
  Mut(parent).children.push_back(child_id);
}

std::vector<std::string> WorkflowRun::Outbound(const std::string& id) {
  NodeStatus* n = FindId(id);
  if (!n) return {};
  if (n->type == NodeType::kPod || n->type == NodeType::kSkipped || n->type == NodeType::kSuspend) return {id};
  if (n->type == NodeType::kRetry) {
    if (n->children.empty()) return {id};
    return Outbound(n->children.back());
  }
  if (!n->outbound_nodes.empty()) return n->outbound_nodes;
  if (n->type == NodeType::kTaskGroup || n->type == NodeType::kStepGroup) {
    std::vector<std::string> out;
    for (const std::string& c : n->children) {
      for (auto& o : Outbound(c)) out.push_back(o);
    }
    if (!out.empty()) return out;
  }
  return {id};
}

void WorkflowRun::InitGlobals() {
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

void WorkflowRun::ExportGlobalOutputs(const Json& tmpl, const Outputs& outputs) {
  const Json decl = tmpl.contains("outputs") ? tmpl["outputs"].value("parameters", Json::array()) : Json::array();
  for (const Parameter& p : outputs.parameters) {
    std::string global = p.global_name;
    for (const Json& d : decl) {
      if (d.value("name", "") == p.name && d.contains("globalName")) global = d["globalName"];
    }
    if (global.empty()) continue;
    std::string value = ParameterString(p.value.value_or(Json("")));
    globals_["workflow.outputs.parameters." + global] = value;
    if (!status_.contains("outputs")) status_["outputs"] = {{"parameters", Json::array()}};
    SetNamedValue(status_["outputs"]["parameters"], global, value);
    status_dirty_ = true;
  }
}

void WorkflowRun::Operate() {
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

  NodeStatus* root = nullptr;
  {
    Json holder = {{"template", spec_.value("entrypoint", "")}};
    if (spec_.contains("arguments")) holder["arguments"] = spec_["arguments"];
    root = ExecuteTemplate(name_, name_, holder, ExecOptions{});
  }
  if (root && root->daemoned) {  // the entrypoint itself is a daemon: ready is as far as it goes
    StopDaemons(nullptr);
    root = Find(name_);
  }
  if (!root || !root->Fulfilled()) {
    UpdateProgress();
    return;
  }
  NodePhase wf_phase = root->phase;
  if (wf_phase == NodePhase::kSkipped || wf_phase == NodePhase::kOmitted) wf_phase = NodePhase::kSucceeded;
  std::string message = root->message;
  if (deadline_exceeded_ && wf_phase != NodePhase::kSucceeded) message = "Step exceeded its deadline";
  if (!shutdown_.empty() && wf_phase != NodePhase::kSucceeded) message = "Stopped with strategy '" + shutdown_ + "'";

  if (spec_.contains("onExit") && spec_["onExit"].is_string() && shutdown_ != "Terminate") {
    globals_["workflow.status"] = ToString(wf_phase);
    char duration[32];
    snprintf(duration, sizeof duration, "%.6f", NowSeconds() - ParseRfc3339(status_.value("startedAt", "")));
    globals_["workflow.duration"] = duration;
    globals_["workflow.failures"] = Failures();
    Json holder = {{"template", spec_["onExit"]}};
    ExecOptions opts;
    opts.on_exit = true;
    NodeStatus* exit_node = ExecuteTemplate(name_ + ".onExit", name_ + ".onExit", holder, opts);
    if (!exit_node || !exit_node->Fulfilled()) {
      UpdateProgress();
      return;
    }
    if (exit_node->FailedOrError() && wf_phase == NodePhase::kSucceeded) {
      wf_phase = exit_node->phase;
      message = exit_node->message;
    }
  }
  UpdateProgress();
  StopDaemons(nullptr);  // none should be left: each was stopped as its scope ended
  if (!running_.empty()) return;  // cancelled pods still ending
  status_["phase"] = ToString(wf_phase);
  if (message.empty()) status_.erase("message");
  else status_["message"] = message;
  status_["finishedAt"] = Rfc3339(NowSeconds());
  status_dirty_ = true;
}

std::string WorkflowRun::Failures() {
  Json failures = Json::array();
  for (const auto& [id, n] : nodes_) {
    if (!n.FailedOrError()) continue;
    Json f = Json::object();
    f["displayName"] = n.display_name;
    f["message"] = n.message;
    f["templateName"] = n.template_name;
    f["phase"] = ToString(n.phase);
    f["podName"] = id;
    f["finishedAt"] = n.finished_at;
    failures.push_back(std::move(f));
  }
  return failures.dump();
}

void WorkflowRun::UpdateProgress() {
  int total = 0, done = 0;
  for (const auto& [id, n] : nodes_) {
    if (n.type != NodeType::kPod) continue;
    ++total;
    if (n.phase == NodePhase::kSucceeded) ++done;
  }
  std::string progress = std::to_string(done) + "/" + std::to_string(total);
  if (status_.value("progress", "") != progress) {
    status_["progress"] = progress;
    status_dirty_ = true;
  }
}

std::string WorkflowRun::BlockedReason(const ExecOptions& opts) const {
  if (deadline_exceeded_ && !opts.on_exit) return "Step exceeded its deadline";
  if (shutdown_ == "Terminate" || (shutdown_ == "Stop" && !opts.on_exit)) {
    return "Stopped with strategy '" + shutdown_ + "'";
  }
  return "";
}

StatusOr<Json> WorkflowRun::ResolveTemplate(const Json& holder) {
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

StatusOr<Json> WorkflowRun::ProcessInputs(const Json& tmpl, const Json& args, Scope& scope, std::map<std::string, Json>& arts) {
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

std::string WorkflowRun::TemplateKind(const Json& t) {
  for (const char* k : {"container", "script", "resource", "steps", "dag", "suspend"}) {
    if (t.contains(k)) return k;
  }
  return "";
}

NodeType WorkflowRun::NodeTypeFor(const std::string& kind) {
  if (kind == "steps") return NodeType::kSteps;
  if (kind == "dag") return NodeType::kDAG;
  if (kind == "suspend") return NodeType::kSuspend;
  return NodeType::kPod;
}

NodeStatus* WorkflowRun::ExecuteTemplate(const std::string& node_name, const std::string& display, const Json& holder,
    const ExecOptions& opts) {
  NodeStatus* node = Find(node_name);
  if (node && node->Fulfilled()) return node;
  // A running pod needs nothing from its template until it ends.
  if (node && node->type == NodeType::kPod && running_.count(node->id)) return node;

  // The template with its inputs bound, once per node: a node's arguments are fixed when it is
  // created, so later passes reuse what the first one worked out.
  const std::string id = NodeId(name_, node_name);
  auto cached = contexts_.find(id);
  if (cached == contexts_.end()) {
    StatusOr<Json> resolved = ResolveTemplate(holder);
    std::string tmpl_name = holder.value("template", holder.contains("templateRef") ? holder["templateRef"].value("template", "") : "");
    if (!resolved.ok()) {
      if (!node) node = InitNode(node_name, display, NodeType::kSkipped, tmpl_name, opts.boundary_id, NodePhase::kError);
      return MarkPhase(node, NodePhase::kError, resolved.status().message());
    }
    NodeContext ctx;
    StatusOr<Json> processed = ProcessInputs(*resolved, holder.value("arguments", Json::object()), ctx.scope, ctx.arts);
    ctx.kind = TemplateKind(*resolved);
    if (!processed.ok()) {
      if (!node) node = InitNode(node_name, display, NodeTypeFor(ctx.kind), tmpl_name, opts.boundary_id, NodePhase::kError);
      return MarkPhase(node, NodePhase::kError, processed.status().message());
    }
    ctx.tmpl = std::move(*processed);
    ctx.tmpl_name = tmpl_name.empty() ? ctx.tmpl.value("name", "") : tmpl_name;
    cached = contexts_.emplace(id, std::move(ctx)).first;
  }
  NodeContext& ctx = cached->second;
  if (!ctx.tmpl.contains("retryStrategy")) {
    return ExecuteKind(node_name, display, ctx.kind, ctx.tmpl_name, ctx.tmpl, ctx.scope, ctx.arts, opts, node, 0, ctx);
  }
  return ExecuteRetries(node_name, display, node, ctx, opts);
}

NodeStatus* WorkflowRun::ExecuteKind(const std::string& node_name, const std::string& display, const std::string& kind,
    const std::string& tmpl_name, const Json& tmpl, Scope& scope,
    std::map<std::string, Json>& arts, const ExecOptions& opts, NodeStatus* node, size_t attempt,
    NodeContext& ctx) {
  if (kind == "steps") return ExecuteSteps(node_name, display, tmpl_name, tmpl, scope, arts, opts);
  if (kind == "dag") {
    if (!ctx.dag) ctx.dag = std::make_unique<DagPlan>(BuildDagPlan(tmpl));
    return ExecuteDag(node_name, display, tmpl_name, tmpl, scope, arts, opts, *ctx.dag);
  }
  if (kind == "suspend") return ExecuteSuspend(node_name, display, tmpl_name, tmpl, opts);
  return ExecutePod(node_name, display, tmpl_name, tmpl, scope, opts, attempt);
}

NodeStatus* WorkflowRun::OpenNode(const std::string& node_name, const std::string& display, NodeType type,
    const std::string& tmpl_name, const ExecOptions& opts) {
  if (NodeStatus* node = Find(node_name)) return node;
  std::string blocked = BlockedReason(opts);
  if (!blocked.empty()) return InitNode(node_name, display, type, tmpl_name, opts.boundary_id, NodePhase::kFailed, blocked);
  return InitNode(node_name, display, type, tmpl_name, opts.boundary_id, NodePhase::kRunning);
}

WorkflowRun::OpenScope WorkflowRun::OpenScopeNode(const std::string& node_name, const std::string& display,
                                                  NodeType type, const std::string& tmpl_name, const Json& tmpl,
                                                  const ExecOptions& opts) {
  OpenScope open{OpenNode(node_name, display, type, tmpl_name, opts), "", opts, tmpl.value("parallelism", 0)};
  open.id = open.node->id;
  open.child_opts.boundary_id = open.id;
  return open;
}

NodeStatus* WorkflowRun::ExecuteSuspend(const std::string& node_name, const std::string& display, const std::string& tmpl_name,
    const Json& tmpl, const ExecOptions& opts) {
  NodeStatus* node = OpenNode(node_name, display, NodeType::kSuspend, tmpl_name, opts);
  if (node->Fulfilled()) return node;
  std::string blocked = BlockedReason(opts);
  if (!blocked.empty()) return MarkPhase(node, NodePhase::kFailed, blocked);
  double duration = 0;
  if (tmpl["suspend"].contains("duration") && DurationSeconds(tmpl["suspend"]["duration"], &duration)) {
    double until = ParseRfc3339(node->started_at) + duration;
    if (NowSeconds() >= until) return MarkPhase(node, NodePhase::kSucceeded);
    Timer(until);
  }
  suspended_.insert(node->id);
  return node;
}

void WorkflowRun::AddNodeToScope(const std::string& prefix, const NodeStatus* node, Scope& scope,
                                 std::map<std::string, Json>& arts) {
  if (node->type == NodeType::kRetry && !node->children.empty()) {
    if (const NodeStatus* last = FindId(node->children.back())) node = last;
  }
  scope[prefix + ".id"] = node->id;
  if (!node->started_at.empty()) scope[prefix + ".startedAt"] = node->started_at;
  if (!node->finished_at.empty()) scope[prefix + ".finishedAt"] = node->finished_at;
  scope[prefix + ".status"] = ToString(node->phase);
  if (!node->pod_ip.empty()) scope[prefix + ".ip"] = node->pod_ip;
  if (!node->outputs) return;
  const Outputs& out = *node->outputs;
  if (out.result) scope[prefix + ".outputs.result"] = ParameterString(*out.result);
  if (out.exit_code) scope[prefix + ".exitCode"] = ParameterString(*out.exit_code);
  for (const Parameter& p : out.parameters) {
    scope[prefix + ".outputs.parameters." + p.name] = ParameterString(p.value.value_or(Json("")));
  }
  for (const Artifact& a : out.artifacts) arts[prefix + ".outputs.artifacts." + a.name] = ToJson(a);
}

std::vector<const NodeStatus*> WorkflowRun::Children(const NodeStatus& node) {
  std::vector<const NodeStatus*> kids;
  for (const std::string& c : node.children) {
    if (const NodeStatus* k = FindId(c)) kids.push_back(k);
  }
  return kids;
}

void WorkflowRun::AddAggregateToScope(const std::string& prefix, const std::vector<const NodeStatus*>& children,
                                      Scope& scope) {
  Json params = Json::array(), results = Json::array();
  std::map<std::string, Json> per_name;
  for (const NodeStatus* c : children) {
    if (c->type == NodeType::kRetry && !c->children.empty()) {
      if (const NodeStatus* last = FindId(c->children.back())) c = last;
    }
    if (!c->outputs) continue;
    const Outputs& out = *c->outputs;
    if (!out.parameters.empty()) {
      Json m = Json::object();
      for (const Parameter& p : out.parameters) {
        std::string v = ParameterString(p.value.value_or(Json("")));
        m[p.name] = v;
        per_name[p.name].push_back(v);
      }
      params.push_back(m);
    }
    if (out.result) {
      std::string r = ParameterString(*out.result);
      Json parsed = Json::parse(r, nullptr, false);
      results.push_back(parsed.is_discarded() ? Json(r) : parsed);
    }
  }
  scope[prefix + ".outputs.result"] = results.dump();
  scope[prefix + ".outputs.parameters"] = params.dump();
  for (auto& [n, list] : per_name) scope[prefix + ".outputs.parameters." + n] = list.dump();
}

StatusOr<Outputs> WorkflowRun::TemplateOutputs(const Json& tmpl, const Scope& scope,
                                                const std::map<std::string, Json>& arts) {
  Outputs out;
  if (!tmpl.contains("outputs")) return out;
  const Json& decl = tmpl["outputs"];
  for (const Json& p : decl.value("parameters", Json::array())) {
    Parameter e;
    e.name = p.value("name", "");
    if (p.contains("valueFrom") && p["valueFrom"].contains("parameter")) {
      StatusOr<std::string> v = SubstituteString(ParameterString(p["valueFrom"]["parameter"]), scope);
      if (!v.ok()) {
        if (!p["valueFrom"].contains("default")) return v.status();
        e.value = ParameterString(p["valueFrom"]["default"]);
      } else {
        e.value = *v;
      }
    } else if (p.contains("value")) {
      LOOM_ASSIGN_OR_RETURN(std::string v, SubstituteString(ParameterString(p["value"]), scope));
      e.value = v;
    }
    e.global_name = p.value("globalName", "");
    out.parameters.push_back(std::move(e));
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
    LOOM_ASSIGN_OR_RETURN(Outputs one, OutputsFromJson(Json{{"artifacts", Json::array({art})}}, "outputs"));
    out.artifacts.push_back(std::move(one.artifacts[0]));
  }
  return out;
}

StatusOr<Json> WorkflowRun::ResolveCall(const Json& step, const Scope& scope, const std::map<std::string, Json>& arts) {
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

StatusOr<std::optional<Json>> WorkflowRun::LoopItems(const Json& step) {
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

StatusOr<std::vector<Expanded>> WorkflowRun::Expand(const Json& step, const std::string& base_name, const std::string& base_display,
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

}  // namespace loom::workflow
