// Exit handlers and lifecycle hooks (Argo's exit_handler.go and hooks.go): a step's or task's
// onExit / hooks.exit, its expression hooks, and the workflow's expression hooks. The workflow's
// own exit handler runs from Operate.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/file.h"
#include "core/logging.h"
#include "core/time.h"
#include "workflow/expr.h"
#include "workflow/expr_lang.h"
#include "workflow/launcher.h"
#include "workflow/spec.h"
#include "workflow/vars.h"
#include "workflow/workflow_run.h"

namespace loom::workflow {
namespace {

// A hook's expression: true, false, or why it could not be evaluated (Argo's EvalBool).
StatusOr<bool> HookHolds(const std::string& expression, const Scope& scope) {
  LOOM_ASSIGN_OR_RETURN(std::string text, SubstituteString(expression, scope));
  LOOM_ASSIGN_OR_RETURN(Json v, EvaluateExpression(text, scope));
  if (!v.is_boolean()) return InvalidArgument("expected bool, but got " + GoString(v));
  return v.get<bool>();
}

}  // namespace

NodeStatus* WorkflowRun::RunHook(const std::string& name, const std::string& display, const LifecycleHook& hook,
                                 const Scope& scope, const Artifacts& arts, const ExecOptions& opts,
                                 const std::string& parent_id, bool* started) {
  NodeStatus* node = Find(name);
  *started = true;
  auto fail = [&](const std::string& message) {
    if (!node) node = InitNode(name, display, NodeType::kSkipped, hook.template_name, opts.boundary_id, NodePhase::kError);
    MarkPhase(node, NodePhase::kError, message);
    AddChild(FindId(parent_id), node->id);
    return node;
  };
  if (!node && !hook.expression.empty()) {
    StatusOr<bool> run = HookHolds(hook.expression, scope);
    if (!run.ok()) return fail(run.status().message());
    if (!*run) {
      *started = false;
      return nullptr;
    }
  }
  Step holder;
  holder.template_name = hook.template_name;
  holder.template_ref = hook.template_ref;
  holder.arguments = hook.arguments;
  StatusOr<Step> call = ResolveCall(holder, scope, arts);
  if (!call.ok()) return fail(call.status().message());
  node = ExecuteTemplate(name, display, *call, opts);
  if (node) AddChild(FindId(parent_id), node->id);
  return node;
}

bool WorkflowRun::RunStepExitHandler(const Step& step, const NodeStatus* child, const ExecOptions& opts,
                                     const std::string& prefix, const Scope& scope, const Artifacts& arts) {
  if (!child || !child->Fulfilled()) return true;
  LifecycleHook on_exit;
  const LifecycleHook* hook = nullptr;
  if (!step.on_exit.empty()) {
    on_exit.template_name = step.on_exit;
    hook = &on_exit;
  } else if (auto it = step.hooks.find(kExitHook); it != step.hooks.end()) {
    hook = &it->second;
  }
  if (!hook) return true;
  // Argo's resolveExitTmplArgument: the step's own outputs and status are in scope.
  Scope own = scope;
  Artifacts own_arts = arts;
  AddNodeToScope(prefix, child, own, own_arts);
  ExecOptions exit_opts = opts;
  exit_opts.on_exit = true;
  bool started;
  NodeStatus* exit = RunHook(child->name + ".onExit", child->display_name + ".onExit", *hook, own, own_arts,
                             exit_opts, child->id, &started);
  if (!started) return true;
  return exit && exit->Fulfilled();
}

bool WorkflowRun::RunLifecycleHooks(const Step& step, const NodeStatus* child, const ExecOptions& opts,
                                    const std::string& prefix, const Scope& scope, const Artifacts& arts) {
  if (!child || step.hooks.empty() || (step.hooks.size() == 1 && step.hooks.count(kExitHook))) return true;
  const std::string child_id = child->id, child_name = child->name, child_display = child->display_name;
  Scope own = scope;
  Artifacts own_arts = arts;
  AddNodeToScope(prefix, child, own, own_arts);
  bool all_ended = true;
  for (const auto& [event, hook] : step.hooks) {
    if (event == kExitHook) continue;
    bool started;
    NodeStatus* node = RunHook(child_name + ".hooks." + event, child_display + ".hooks." + event, hook, own,
                               own_arts, opts, child_id, &started);
    if (started && !(node && node->Fulfilled())) all_ended = false;
  }
  return all_ended;
}

bool WorkflowRun::RunWorkflowHooks() {
  Scope scope = globals_;
  scope["workflow.status"] = "Running";  // the workflow's phase while it runs, as Argo's globals have it
  const std::string root_id = NodeId(name_, name_);
  bool all_ended = true;
  for (const auto& [event, hook] : spec_.hooks) {
    if (event == kExitHook) continue;
    const std::string name = name_ + ".hooks." + event;
    bool started;
    NodeStatus* node = RunHook(name, name, hook, scope, {}, ExecOptions{}, root_id, &started);
    if (started && !(node && node->Fulfilled())) all_ended = false;
  }
  return all_ended;
}

}  // namespace loom::workflow
