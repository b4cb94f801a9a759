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
#include "workflow/artifacts.h"
#include "workflow/expr.h"
#include "workflow/expr_lang.h"
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
    const std::vector<std::string> attempts = Attempts(*n);
    if (attempts.empty()) return {id};
    return Outbound(attempts.back());
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
  globals_["workflow.name"] = name_;
  globals_["workflow.namespace"] = metadata_.namespace_name.empty() ? "default" : metadata_.namespace_name;
  globals_["workflow.uid"] = metadata_.uid;
  globals_["workflow.creationTimestamp"] = metadata_.creation_timestamp;
  globals_["workflow.serviceAccountName"] =
      spec_.service_account_name.empty() ? "default" : spec_.service_account_name;
  globals_["workflow.mainEntrypoint"] = spec_.entrypoint;
  if (metadata_.labels.is_object()) {
    for (auto it = metadata_.labels.begin(); it != metadata_.labels.end(); ++it) {
      globals_["workflow.labels." + it.key()] = ParameterString(it.value());
    }
  }
  if (metadata_.annotations.is_object()) {
    for (auto it = metadata_.annotations.begin(); it != metadata_.annotations.end(); ++it) {
      globals_["workflow.annotations." + it.key()] = ParameterString(it.value());
    }
  }
  Json params = Json::array();
  for (const Parameter& p : spec_.arguments.parameters) {
    std::string v = ParameterString(p.value ? *p.value : p.default_value.value_or(Json("")));
    globals_["workflow.parameters." + p.name] = v;
    params.push_back({{"name", p.name}, {"value", v}});
  }
  globals_["workflow.parameters"] = params.dump();
  globals_["workflow.parameters.json"] = params.dump();
  globals_["workflow.labels.json"] = GoJson(metadata_.labels.is_object() ? metadata_.labels : Json::object());
  globals_["workflow.annotations.json"] =
      GoJson(metadata_.annotations.is_object() ? metadata_.annotations : Json::object());
  // The creation time by Argo's strftime characters (in UTC, as the API server keeps it), as
  // unix seconds (.s) and RFC 3339.
  static const std::pair<const char*, const char*> kStrftime[] = {
      {"B", "January"}, {"b", "Jan"}, {"m", "01"}, {"A", "Monday"}, {"a", "Mon"}, {"d", "02"},
      {"H", "15"},      {"I", "03"},  {"M", "04"}, {"S", "05"},     {"Y", "2006"}, {"y", "06"},
      {"p", "PM"},      {"Z", "MST"}, {"z", "-0700"}, {"L", ".000"}};
  const time_t created = static_cast<time_t>(ParseRfc3339(metadata_.creation_timestamp));
  for (const auto& [c, layout] : kStrftime) {
    globals_[std::string("workflow.creationTimestamp.") + c] = GoTimeFormat(layout, created, /*utc=*/true);
  }
  globals_["workflow.creationTimestamp.s"] = std::to_string(created);
  globals_["workflow.creationTimestamp.RFC3339"] = metadata_.creation_timestamp;
  if (status_.outputs) {
    for (const Parameter& p : status_.outputs->parameters) {
      globals_["workflow.outputs.parameters." + p.name] = ParameterString(p.value.value_or(Json("")));
    }
  }
}

void WorkflowRun::ExportGlobalOutputs(const Template& tmpl, const Outputs& outputs) {
  for (const Parameter& p : outputs.parameters) {
    std::string global = p.global_name;
    if (const Parameter* d = tmpl.OutputParameter(p.name); d && !d->global_name.empty()) global = d->global_name;
    if (global.empty()) continue;
    std::string value = ParameterString(p.value.value_or(Json("")));
    globals_["workflow.outputs.parameters." + global] = value;
    if (!status_.outputs) status_.outputs.emplace();
    bool found = false;
    for (Parameter& q : status_.outputs->parameters) {
      if (q.name == global) {
        q.value = value;
        found = true;
      }
    }
    if (!found) {
      Parameter q;
      q.name = global;
      q.value = value;
      status_.outputs->parameters.push_back(std::move(q));
    }
    status_dirty_ = true;
  }
  // Artifacts with a globalName: {{workflow.outputs.artifacts.<globalName>}} (GlobalArtifact).
  for (const Artifact& a : outputs.artifacts) {
    std::string global = a.global_name;
    if (tmpl.outputs) {
      for (const Artifact& d : tmpl.outputs->artifacts) {
        if (d.name == a.name && !d.global_name.empty()) global = d.global_name;
      }
    }
    if (global.empty()) continue;
    if (!status_.outputs) status_.outputs.emplace();
    Artifact g = a;
    g.name = global;
    g.global_name = global;
    auto& list = status_.outputs->artifacts;
    auto it = std::find_if(list.begin(), list.end(), [&](const Artifact& e) { return e.name == global; });
    if (it != list.end()) {
      *it = std::move(g);
    } else {
      list.push_back(std::move(g));
    }
    status_dirty_ = true;
  }
}

const Artifact* WorkflowRun::GlobalArtifact(const std::string& variable) const {
  static constexpr std::string_view kPrefix = "workflow.outputs.artifacts.";
  if (!status_.outputs || variable.compare(0, kPrefix.size(), kPrefix) != 0) return nullptr;
  const std::string name = variable.substr(kPrefix.size());
  for (const Artifact& a : status_.outputs->artifacts) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

void WorkflowRun::SetDuration() {
  // Argo's workflow.duration: seconds since the workflow started, as Go's %f writes them.
  char duration[32];
  snprintf(duration, sizeof duration, "%.6f", NowSeconds() - ParseRfc3339(status_.started_at));
  globals_["workflow.duration"] = duration;
}

void WorkflowRun::Operate() {
  SaveMemoized();  // pods that Succeeded since the last pass, before this pass looks keys up
  ReleaseEndedNodeLocks();
  double now = NowSeconds();
  shutdown_ = spec_.shutdown;
  if (!AcquireWorkflowLocks()) return;
  SetDuration();
  if (spec_.active_deadline_seconds) {
    double started = ParseRfc3339(status_.started_at);
    double deadline = started + static_cast<double>(*spec_.active_deadline_seconds);
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
    Step holder;
    holder.template_name = spec_.entrypoint;
    holder.arguments = spec_.arguments;
    root = ExecuteTemplate(name_, name_, holder, ExecOptions{});
  }
  if (root && root->daemoned) {  // the entrypoint itself is a daemon: ready is as far as it goes
    StopDaemons(nullptr);
    root = Find(name_);
  }
  // The workflow's hooks run while it does, and it waits for those that started.
  const bool hooks_ended = RunWorkflowHooks();
  root = Find(name_);
  if (!root || !root->Fulfilled() || !hooks_ended) {
    UpdateProgress();
    return;
  }
  NodePhase wf_phase = root->phase;
  if (wf_phase == NodePhase::kSkipped || wf_phase == NodePhase::kOmitted) wf_phase = NodePhase::kSucceeded;
  std::string message = root->message;
  if (deadline_exceeded_ && wf_phase != NodePhase::kSucceeded) message = "Step exceeded its deadline";
  if (!shutdown_.empty() && wf_phase != NodePhase::kSucceeded) message = "Stopped with strategy '" + shutdown_ + "'";

  // The exit handler: onExit, or hooks.exit (Argo's GetExitHook), given the workflow's
  // arguments unless the hook has its own.
  LifecycleHook exit_hook;
  if (!spec_.on_exit.empty()) {
    exit_hook.template_name = spec_.on_exit;
  } else if (auto it = spec_.hooks.find(kExitHook); it != spec_.hooks.end()) {
    exit_hook = it->second;
  }
  if (exit_hook.arguments.parameters.empty() && exit_hook.arguments.artifacts.empty()) {
    exit_hook.arguments = spec_.arguments;
  }
  if ((!exit_hook.template_name.empty() || exit_hook.template_ref) && shutdown_ != "Terminate") {
    globals_["workflow.status"] = ToString(wf_phase);
    SetDuration();
    globals_["workflow.failures"] = Failures();
    ExecOptions opts;
    opts.on_exit = true;
    bool started;
    NodeStatus* exit_node = RunHook(name_ + ".onExit", name_ + ".onExit", exit_hook, globals_, {}, opts, "", &started);
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
  status_.phase = ToString(wf_phase);
  status_.message = message;
  status_.finished_at = Rfc3339(NowSeconds());
  status_dirty_ = true;
  ReleaseLocks("");
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
  if (status_.progress != progress) {
    status_.progress = progress;
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

StatusOr<Template> WorkflowRun::ResolveTemplate(const Step& holder) {
  if (holder.inline_template) return *holder.inline_template;
  if (holder.template_ref) {
    const TemplateRef& ref = *holder.template_ref;
    // Argo's storedTemplates key: "namespaced/<name>/<template>" or "cluster/<name>/<template>".
    const bool cluster = ref.cluster_scope.value_or(false);
    std::string key = std::string(cluster ? "cluster/" : "namespaced/") + ref.name + "/" + ref.template_name;
    auto it = ref_cache_.find(key);
    if (it != ref_cache_.end()) return it->second;
    // Templates stored at first use, so a later change of the WorkflowTemplate does not change
    // a running workflow (Argo's storedTemplates).
    if (auto stored = status_.stored_templates.find(key); stored != status_.stored_templates.end()) {
      return ref_cache_[key] = stored->second;
    }
    StatusOr<Json> wt = store_.GetTemplate(cluster ? ref.name : ObjectKey(KeyNamespace(key_), ref.name), cluster);
    if (!wt.ok()) return wt.status();
    const std::string kind = cluster ? "ClusterWorkflowTemplate" : "WorkflowTemplate";
    const Json* t = wt->contains("spec") ? FindTemplate((*wt)["spec"], ref.template_name) : nullptr;
    if (!t) {
      return NotFound("template " + ref.template_name + " not found in " +
                      (cluster ? "cluster workflow template " : "workflow template ") + ref.name);
    }
    LOOM_ASSIGN_OR_RETURN(Template tmpl, TemplateFromJson(*t, kind + " " + ref.name + ": " + ref.template_name));
    // Inside a WorkflowTemplate's template, `template: X` is that WorkflowTemplate's X (Argo's
    // template scope): it becomes a templateRef to it.
    auto scope_to_ref = [&ref](Step& s) {
      if (s.template_ref || s.inline_template || s.template_name.empty()) return;
      s.template_ref = TemplateRef{ref.name, s.template_name, ref.cluster_scope};
      s.template_name.clear();
    };
    for (auto& group : tmpl.steps) for (Step& s : group) scope_to_ref(s);
    for (Step& s : tmpl.dag.tasks) scope_to_ref(s);
    status_.stored_templates[key] = tmpl;
    status_dirty_ = true;
    return ref_cache_[key] = std::move(tmpl);
  }
  const Template* t = spec_.FindTemplate(holder.template_name);
  if (!t) return NotFound("template " + holder.template_name + " not found");
  return *t;
}

StatusOr<Template> SubstituteTemplate(const Template& tmpl, const Scope& scope, bool (*keep)(std::string_view)) {
  LOOM_ASSIGN_OR_RETURN(Json j, SubstituteJson(ToJson(tmpl), scope, keep));
  return TemplateFromJson(j, tmpl.name);
}

StatusOr<Step> SubstituteStep(const Step& step, const Scope& scope, bool (*keep)(std::string_view)) {
  LOOM_ASSIGN_OR_RETURN(Json j, SubstituteJson(ToJson(step), scope, keep));
  return StepFromJson(j, step.name);
}

StatusOr<Template> WorkflowRun::ProcessInputs(const Template& tmpl, const Arguments& args, Scope& scope,
                                              Artifacts& arts) {
  scope = globals_;
  std::map<std::string, const Parameter*> arg_params;
  std::map<std::string, const Artifact*> arg_arts;
  for (const Parameter& p : args.parameters) arg_params[p.name] = &p;
  for (const Artifact& a : args.artifacts) arg_arts[a.name] = &a;
  Inputs inputs = tmpl.inputs;
  if (!inputs.parameters.empty()) {
    Json params = Json::array();
    for (Parameter& p : inputs.parameters) {
      auto it = arg_params.find(p.name);
      Json value;
      if (it != arg_params.end() && it->second->value) {
        value = *it->second->value;
      } else if (p.value) {
        value = *p.value;
      } else if (p.value_from && p.value_from->config_map_key_ref) {
        const std::string field = "inputs.parameters." + p.name + ".valueFrom.configMapKeyRef";
        LOOM_ASSIGN_OR_RETURN(auto from_map,
                              ConfigMapParameter(engine_.home, KeyNamespace(key_), *p.value_from->config_map_key_ref, field));
        if (from_map) {
          value = *from_map;
        } else if (p.default_value) {
          value = *p.default_value;
        } else {
          return InvalidArgument(field + ": optional and missing, and no default");
        }
      } else if (p.default_value) {
        value = *p.default_value;
      } else {
        return InvalidArgument("inputs.parameters." + p.name + " was not supplied");
      }
      std::string v = ParameterString(value);
      if (p.enum_values && p.enum_values->is_array()) {
        bool ok = false;
        for (const Json& e : *p.enum_values) ok = ok || ParameterString(e) == v;
        if (!ok) return InvalidArgument("inputs.parameters." + p.name + ": value '" + v + "' is not in the enum");
      }
      p.value = v;
      scope["inputs.parameters." + p.name] = v;
      params.push_back({{"name", p.name}, {"value", v}});
    }
    scope["inputs.parameters"] = params.dump();
  }
  // Parameters may refer to other inputs and globals themselves.
  for (Parameter& p : inputs.parameters) {
    std::string v = p.value->get<std::string>();
    if (v.find("{{") == std::string::npos) continue;
    LOOM_ASSIGN_OR_RETURN(v, SubstituteString(v, scope, KeepForLater));
    p.value = v;
    scope["inputs.parameters." + p.name] = v;
  }
  for (Artifact& a : inputs.artifacts) {
    auto it = arg_arts.find(a.name);
    if (it != arg_arts.end()) {
      // The caller's source, over the template's (its name, path and `from` stay the template's).
      const Artifact& given = *it->second;
      a.location.Override(given.location);
      if (given.optional) a.optional = true;
      if (!given.global_name.empty()) a.global_name = given.global_name;
    }
    if (!a.HasSource() && !a.optional) return InvalidArgument("inputs.artifacts." + a.name + " was not supplied");
    if (a.path) scope["inputs.artifacts." + a.name + ".path"] = *a.path;
    arts["inputs.artifacts." + a.name] = a;
  }
  // Everything but the inputs themselves and what later stages resolve.
  Template rest = tmpl;
  rest.inputs = Inputs();
  LOOM_ASSIGN_OR_RETURN(Template t, SubstituteTemplate(rest, scope, KeepForLater));
  t.inputs = std::move(inputs);
  return t;
}

NodeType WorkflowRun::NodeTypeFor(TemplateKind kind) {
  switch (kind) {
    case TemplateKind::kSteps: return NodeType::kSteps;
    case TemplateKind::kDag: return NodeType::kDAG;
    case TemplateKind::kSuspend: return NodeType::kSuspend;
    default: return NodeType::kPod;
  }
}

NodeStatus* WorkflowRun::ExecuteTemplate(const std::string& node_name, const std::string& display, const Step& holder,
    const ExecOptions& opts) {
  NodeStatus* node = Find(node_name);
  if (node && node->Fulfilled()) {
    SaveMemoized(*node);  // a pod that Succeeded since the last pass
    ReleaseLocks(node->id);
    return node;
  }
  // A running pod needs nothing from its template until it ends.
  if (node && node->type == NodeType::kPod && running_.count(node->id)) return node;

  // The template with its inputs bound, once per node: a node's arguments are fixed when it is
  // created, so later passes reuse what the first one worked out.
  const std::string id = NodeId(name_, node_name);
  auto cached = contexts_.find(id);
  if (cached == contexts_.end()) {
    StatusOr<Template> resolved = ResolveTemplate(holder);
    const std::string& tmpl_name = holder.CalledName();
    if (!resolved.ok()) {
      if (!node) node = InitNode(node_name, display, NodeType::kSkipped, tmpl_name, opts.boundary_id, NodePhase::kError);
      return MarkPhase(node, NodePhase::kError, resolved.status().message());
    }
    NodeContext ctx;
    StatusOr<Template> processed = ProcessInputs(*resolved, holder.arguments, ctx.scope, ctx.arts);
    if (!holder.name.empty()) {
      // Argo's {{steps.name}} / {{tasks.name}}: in the called template, the step's or task's name
      // (a step's node is "<parent>[i].<name>", a task's "<parent>.<name>").
      const size_t at = node_name.rfind("." + holder.name);
      const bool step = at != std::string::npos && at > 0 && node_name[at - 1] == ']';
      ctx.scope[step ? "steps.name" : "tasks.name"] = holder.name;
    }
    if (!processed.ok()) {
      if (!node) {
        node = InitNode(node_name, display, NodeTypeFor(resolved->kind), tmpl_name, opts.boundary_id, NodePhase::kError);
      }
      return MarkPhase(node, NodePhase::kError, processed.status().message());
    }
    ctx.tmpl = std::move(*processed);
    ctx.tmpl_name = tmpl_name.empty() ? ctx.tmpl.name : tmpl_name;
    StatusOr<std::optional<Memoize>> memo = MemoizeOf(ctx.tmpl);
    if (!memo.ok()) {
      if (!node) node = InitNode(node_name, display, NodeTypeFor(ctx.tmpl.kind), ctx.tmpl_name, opts.boundary_id, NodePhase::kError);
      return MarkPhase(node, NodePhase::kError, memo.status().message());
    }
    ctx.memoize = std::move(*memo);
    cached = contexts_.emplace(id, std::move(ctx)).first;
  }
  NodeContext& ctx = cached->second;
  if (!node && ctx.memoize) {
    if (NodeStatus* memoized = MemoizedNode(node_name, display, opts, ctx)) return memoized;
  }
  if (ctx.tmpl.pod.contains("synchronization") && !node_locks_held_.count(id)) {
    // Argo: the node waits, Pending, with why, until its template's locks are its own.
    std::string error;
    const std::string waiting = AcquireTemplateLocks(id, ctx.tmpl, &error);
    const NodeType type = ctx.tmpl.retry_strategy ? NodeType::kRetry : NodeTypeFor(ctx.tmpl.kind);
    if (!error.empty()) {
      if (!node) node = InitNode(node_name, display, type, ctx.tmpl_name, opts.boundary_id, NodePhase::kError);
      return MarkPhase(node, NodePhase::kError, error);
    }
    if (!waiting.empty()) {
      if (!node) {
        node = InitNode(node_name, display, type, ctx.tmpl_name, opts.boundary_id, NodePhase::kPending, waiting);
        if (type == NodeType::kPod) RecordInputs(node, ctx.tmpl);
      } else if (node->message != waiting) {
        Mut(node).message = waiting;
      }
      return node;
    }
    if (node && node->phase == NodePhase::kPending) {  // it waited: now it runs
      NodeStatus& n = Mut(node);
      n.message.clear();
      if (type != NodeType::kPod) n.phase = NodePhase::kRunning;
    }
  }
  NodeStatus* out = ctx.tmpl.retry_strategy ? ExecuteRetries(node_name, display, node, ctx, opts)
                                            : ExecuteKind(node_name, display, opts, node, 0, ctx);
  if (out && ctx.memoize && !out->memoization_status) {  // Argo's initializeCacheNode: a miss
    Mut(out).memoization_status = MemoizationStatus{false, ctx.memoize->key, ctx.memoize->cache_name};
  }
  if (out) SaveMemoized(*out);  // before anything after it in this pass looks the key up
  if (out && out->Fulfilled()) ReleaseLocks(out->id);
  return out;
}

NodeStatus* WorkflowRun::MemoizedNode(const std::string& node_name, const std::string& display, const ExecOptions& opts,
                                      const NodeContext& ctx) {
  const Memoize& memo = *ctx.memoize;
  MemoizationCache cache(JoinPath(engine_.home, "objects"), KeyNamespace(key_));
  StatusOr<std::optional<CacheEntry>> entry = cache.Load(memo, NowSeconds());
  const NodeType type = ctx.tmpl.retry_strategy ? NodeType::kRetry : NodeTypeFor(ctx.tmpl.kind);
  if (!entry.ok()) {
    return InitNode(node_name, display, type, ctx.tmpl_name, opts.boundary_id, NodePhase::kError, entry.status().message());
  }
  if (!*entry) return nullptr;
  // Argo's initializeCacheHitNode: Succeeded at once, with the outputs the cache kept.
  std::optional<Outputs> outputs;
  if ((*entry)->outputs.is_object()) {
    StatusOr<Outputs> read = OutputsFromJson((*entry)->outputs, memo.cache_name + "." + memo.key + ".outputs");
    if (!read.ok()) {
      return InitNode(node_name, display, type, ctx.tmpl_name, opts.boundary_id, NodePhase::kError,
                      "malformed cache entry: " + read.status().message());
    }
    outputs = std::move(*read);
  }
  NodeStatus* node = InitNode(node_name, display, type, ctx.tmpl_name, opts.boundary_id, NodePhase::kSucceeded);
  node->outputs = std::move(outputs);
  node->memoization_status = MemoizationStatus{true, memo.key, memo.cache_name};
  if (node->outputs) ExportGlobalOutputs(ctx.tmpl, *node->outputs);
  return node;
}

void WorkflowRun::SaveMemoized(NodeStatus& n) {
  if (!n.memoization_status || n.memoization_status->hit || n.phase != NodePhase::kSucceeded) return;
  if (!memo_saved_.insert(n.id).second) return;
  Memoize memo{n.memoization_status->key, "", n.memoization_status->cache_name};
  MemoizationCache cache(JoinPath(engine_.home, "objects"), KeyNamespace(key_));
  Status s = cache.Save(memo, n.id, n.outputs ? ToJson(*n.outputs) : Json(), NowSeconds());
  if (!s.ok()) MarkPhase(&n, NodePhase::kError, s.message());
}

void WorkflowRun::SaveMemoized() {
  for (const std::string& id : dirty_) {
    if (NodeStatus* n = FindId(id)) SaveMemoized(*n);
  }
}

NodeStatus* WorkflowRun::ExecuteKind(const std::string& node_name, const std::string& display, const ExecOptions& opts,
                                     NodeStatus* node, size_t attempt, NodeContext& ctx) {
  (void)node;
  switch (ctx.tmpl.kind) {
    case TemplateKind::kSteps:
      return ExecuteSteps(node_name, display, ctx.tmpl_name, ctx.tmpl, ctx.scope, ctx.arts, opts);
    case TemplateKind::kDag:
      if (!ctx.dag) ctx.dag = std::make_unique<DagPlan>(BuildDagPlan(ctx.tmpl));
      return ExecuteDag(node_name, display, ctx.tmpl_name, ctx.tmpl, ctx.scope, ctx.arts, opts, *ctx.dag);
    case TemplateKind::kSuspend:
      return ExecuteSuspend(node_name, display, ctx.tmpl_name, ctx.tmpl, opts);
    default:
      return ExecutePod(node_name, display, ctx.tmpl_name, ctx.tmpl, ctx.scope, opts, attempt);
  }
}

NodeStatus* WorkflowRun::OpenNode(const std::string& node_name, const std::string& display, NodeType type,
    const std::string& tmpl_name, const ExecOptions& opts) {
  if (NodeStatus* node = Find(node_name)) return node;
  std::string blocked = BlockedReason(opts);
  if (!blocked.empty()) return InitNode(node_name, display, type, tmpl_name, opts.boundary_id, NodePhase::kFailed, blocked);
  return InitNode(node_name, display, type, tmpl_name, opts.boundary_id, NodePhase::kRunning);
}

WorkflowRun::OpenScope WorkflowRun::OpenScopeNode(const std::string& node_name, const std::string& display,
                                                  NodeType type, const std::string& tmpl_name, const Template& tmpl,
                                                  const ExecOptions& opts) {
  OpenScope open{OpenNode(node_name, display, type, tmpl_name, opts), "", opts, tmpl.Parallelism()};
  open.id = open.node->id;
  open.child_opts.boundary_id = open.id;
  return open;
}

NodeStatus* WorkflowRun::ExecuteSuspend(const std::string& node_name, const std::string& display, const std::string& tmpl_name,
    const Template& tmpl, const ExecOptions& opts) {
  NodeStatus* node = OpenNode(node_name, display, NodeType::kSuspend, tmpl_name, opts);
  if (node->Fulfilled()) return node;
  std::string blocked = BlockedReason(opts);
  if (!blocked.empty()) return MarkPhase(node, NodePhase::kFailed, blocked);
  double duration = 0;
  if (tmpl.suspend_duration && DurationSeconds(*tmpl.suspend_duration, &duration)) {
    double until = ParseRfc3339(node->started_at) + duration;
    if (NowSeconds() >= until) return MarkPhase(node, NodePhase::kSucceeded);
    Timer(until);
  }
  suspended_.insert(node->id);
  return node;
}

void WorkflowRun::AddNodeToScope(const std::string& prefix, const NodeStatus* node, Scope& scope, Artifacts& arts) {
  if (node->type == NodeType::kRetry) {
    const std::vector<std::string> attempts = Attempts(*node);
    if (const NodeStatus* last = attempts.empty() ? nullptr : FindId(attempts.back())) node = last;
  }
  scope[prefix + ".id"] = node->id;
  if (!node->started_at.empty()) scope[prefix + ".startedAt"] = node->started_at;
  if (!node->finished_at.empty()) scope[prefix + ".finishedAt"] = node->finished_at;
  scope[prefix + ".status"] = ToString(node->phase);
  if (!node->pod_ip.empty()) scope[prefix + ".ip"] = node->pod_ip;
  if (!node->outputs && (node->phase == NodePhase::kSkipped || node->phase == NodePhase::kOmitted)) {
    // Argo: the declared output parameters of a step or task that never ran resolve to their
    // valueFrom.default; the others are absent (nil to an expression, vars.cc).
    const Template* t = spec_.FindTemplate(node->template_name);
    for (const Parameter& p : t && t->outputs ? t->outputs->parameters : std::vector<Parameter>()) {
      if (p.value_from && p.value_from->default_value) {
        scope[prefix + ".outputs.parameters." + p.name] = ParameterString(*p.value_from->default_value);
      }
    }
  }
  if (!node->outputs) return;
  const Outputs& out = *node->outputs;
  if (out.result) scope[prefix + ".outputs.result"] = ParameterString(*out.result);
  if (out.exit_code) scope[prefix + ".exitCode"] = ParameterString(*out.exit_code);
  for (const Parameter& p : out.parameters) {
    scope[prefix + ".outputs.parameters." + p.name] = ParameterString(p.value.value_or(Json("")));
  }
  for (const Artifact& a : out.artifacts) arts[prefix + ".outputs.artifacts." + a.name] = a;
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
    if (c->type == NodeType::kRetry) {
      const std::vector<std::string> attempts = Attempts(*c);
      if (const NodeStatus* last = attempts.empty() ? nullptr : FindId(attempts.back())) c = last;
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

StatusOr<Outputs> WorkflowRun::TemplateOutputs(const Template& tmpl, const Scope& scope, const Artifacts& arts) {
  Outputs out;
  if (!tmpl.outputs) return out;
  for (const Parameter& p : tmpl.outputs->parameters) {
    Parameter e;
    e.name = p.name;
    if (p.value_from && p.value_from->parameter) {
      StatusOr<std::string> v = SubstituteString(*p.value_from->parameter, scope);
      if (!v.ok()) {
        if (!p.value_from->default_value) return v.status();
        e.value = ParameterString(*p.value_from->default_value);
      } else {
        e.value = *v;
      }
    } else if (p.value_from && p.value_from->expression) {
      // Argo keeps the value as fmt.Sprint writes it; a failed expression takes the default.
      StatusOr<std::string> text = SubstituteString(*p.value_from->expression, scope);
      StatusOr<Json> v = text.ok() ? EvaluateExpression(*text, scope) : StatusOr<Json>(text.status());
      if (!v.ok()) {
        if (!p.value_from->default_value) return v.status();
        e.value = ParameterString(*p.value_from->default_value);
      } else {
        e.value = GoString(*v);
      }
    } else if (p.value) {
      LOOM_ASSIGN_OR_RETURN(std::string v, SubstituteString(ParameterString(*p.value), scope));
      e.value = v;
    }
    e.global_name = p.global_name;
    out.parameters.push_back(std::move(e));
  }
  for (const Artifact& a : tmpl.outputs->artifacts) {
    if (!a.from) continue;
    auto vars = VariablesIn(*a.from);
    if (vars.size() != 1) return InvalidArgument("outputs.artifacts." + a.name + ".from: expected one {{...}}");
    auto it = arts.find(*vars.begin());
    if (it == arts.end()) return InvalidArgument("Unable to resolve: " + *a.from);
    Artifact art = it->second;
    art.name = a.name;
    out.artifacts.push_back(std::move(art));
  }
  return out;
}

namespace {

// Argo's markAbsentOptionalArgs: an argument that is nothing but a reference to an output
// parameter of a step or task that was Skipped or Omitted (and has no default there) counts as
// not supplied, so the called template's input default applies.
bool AbsentOutput(const Json& value, const Scope& scope) {
  if (!value.is_string()) return false;
  const std::string text = value.get<std::string>();
  const std::set<std::string> vars = VariablesIn(text);
  if (vars.size() != 1) return false;
  const std::string& var = *vars.begin();
  const size_t open = text.find_first_not_of(" \t"), close = text.find_last_not_of(" \t");
  if (open == std::string::npos || text.compare(open, 2, "{{") != 0 || text.compare(close - 1, 2, "}}") != 0 ||
      text.find("{{", open + 2) != std::string::npos || scope.count(var)) {
    return false;
  }
  for (const char* prefix : {"steps.", "tasks."}) {
    const size_t n = std::string_view(prefix).size();
    if (var.compare(0, n, prefix) != 0) continue;
    const size_t dot = var.find('.', n);
    if (dot == std::string::npos || var.compare(dot, 20, ".outputs.parameters.") != 0) return false;
    auto status = scope.find(var.substr(0, dot) + ".status");
    return status != scope.end() && (status->second == "Skipped" || status->second == "Omitted");
  }
  return false;
}

}  // namespace

StatusOr<Step> WorkflowRun::ResolveCall(const Step& step, const Scope& scope, const Artifacts& arts) {
  Step rest = step;
  rest.arguments.artifacts.clear();
  for (Parameter& p : rest.arguments.parameters) {
    if (p.value && AbsentOutput(*p.value, scope)) p.value.reset();
  }
  rest.hooks.clear();  // resolved when they run, with the step's own outputs (exit_handler.cc)
  LOOM_ASSIGN_OR_RETURN(Step s, SubstituteStep(rest, scope, KeepItem));
  s.hooks = step.hooks;
  for (const Artifact& a : step.arguments.artifacts) {
    if (!a.from) {
      LOOM_ASSIGN_OR_RETURN(Json r, SubstituteJson(ToJson(a), scope, KeepItem));
      LOOM_ASSIGN_OR_RETURN(Arguments one, ArgumentsFromJson(Json{{"artifacts", Json::array({r})}}, "arguments"));
      s.arguments.artifacts.push_back(std::move(one.artifacts[0]));
      continue;
    }
    auto vars = VariablesIn(*a.from);
    auto it = vars.size() == 1 ? arts.find(*vars.begin()) : arts.end();
    const Artifact* global = it == arts.end() && vars.size() == 1 ? GlobalArtifact(*vars.begin()) : nullptr;
    if (it == arts.end() && !global) {
      if (a.optional) continue;
      return InvalidArgument("unable to resolve references: Unable to resolve: " + *a.from);
    }
    Artifact r = global ? *global : it->second;
    r.name = a.name;
    r.path.reset();
    if (a.sub_path) {
      LOOM_ASSIGN_OR_RETURN(std::string sub, SubstituteString(*a.sub_path, scope));
      Status appended = AppendToKey(&r, sub, "arguments.artifacts." + a.name);
      if (!appended.ok() && !a.optional) return appended;  // Argo's: an optional one keeps its key
    }
    s.arguments.artifacts.push_back(std::move(r));
  }
  return s;
}

StatusOr<std::optional<Json>> WorkflowRun::LoopItems(const Step& step) {
  if (step.with_items) return std::optional<Json>(*step.with_items);
  if (step.with_param) {
    std::string text = ParameterString(*step.with_param);
    Json items = Json::parse(text, nullptr, false);
    if (items.is_discarded() || !items.is_array()) {
      return InvalidArgument("withParam value could not be parsed as a JSON list: " + text);
    }
    return std::optional<Json>(items);
  }
  if (step.with_sequence) {
    const Sequence& s = *step.with_sequence;
    auto num = [&](const std::optional<Json>& f, long long def) -> long long {
      if (!f) return def;
      return std::atoll(ParameterString(*f).c_str());
    };
    long long start = num(s.start, 0), end;
    if (s.count) {
      long long count = num(s.count, 0);
      if (count <= 0) return std::optional<Json>(Json::array());
      end = start + count - 1;
    } else {
      end = num(s.end, 0);
    }
    Json items = Json::array();
    long long step_by = end >= start ? 1 : -1;
    for (long long i = start;; i += step_by) {
      if (s.format.empty()) {
        items.push_back(std::to_string(i));
      } else {
        char buf[128];
        snprintf(buf, sizeof buf, s.format.c_str(), i);
        items.push_back(std::string(buf));
      }
      if (i == end) break;
    }
    return std::optional<Json>(items);
  }
  return std::optional<Json>();
}

StatusOr<std::vector<Expanded>> WorkflowRun::Expand(const Step& step, const std::string& base_name,
                                                    const std::string& base_display, bool* is_loop) {
  LOOM_ASSIGN_OR_RETURN(std::optional<Json> items, LoopItems(step));
  std::vector<Expanded> out;
  *is_loop = items.has_value();
  if (!items) {
    out.push_back({base_name, base_display, step});
    return out;
  }
  Step body = step;
  body.with_items.reset();
  body.with_param.reset();
  body.with_sequence.reset();
  body.hooks.clear();
  const Json body_json = ToJson(body);
  for (size_t i = 0; i < items->size(); ++i) {
    Scope item_scope;
    AddItem((*items)[i], item_scope);
    LOOM_ASSIGN_OR_RETURN(Json j, SubstituteJson(body_json, item_scope, nullptr));
    LOOM_ASSIGN_OR_RETURN(Step s, StepFromJson(j, ""));
    s.hooks = step.hooks;
    std::string suffix = "(" + std::to_string(i) + ":" + ItemDescription((*items)[i]) + ")";
    out.push_back({base_name + suffix, base_display + suffix, std::move(s)});
  }
  return out;
}

}  // namespace loom::workflow
