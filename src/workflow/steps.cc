// Steps templates (Argo's steps.go): step groups run in order, each group's steps at once.
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

NodeStatus* WorkflowRun::ExecuteSteps(const std::string& node_name, const std::string& display, const std::string& tmpl_name,
    const Template& tmpl, Scope& scope, Artifacts& arts, const ExecOptions& opts) {
  OpenScope open = OpenScopeNode(node_name, display, NodeType::kSteps, tmpl_name, tmpl, opts);
  NodeStatus* node = open.node;
  if (node->Fulfilled()) return node;
  const std::string& node_id = open.id;
  const ExecOptions& child_opts = open.child_opts;
  const int parallelism = open.parallelism;
  const std::vector<std::vector<Step>>& groups = tmpl.steps;
  // failFast: true: after a failed child no new step starts; once none runs, the last group and
  // the node fail (Argo's checkParallelism).
  const FailFastState fail_fast_state = TemplateFailFast(tmpl, node_id);
  const bool fail_fast = fail_fast_state != FailFastState::kNone;
  if (fail_fast_state == FailFastState::kEnded) {
    for (size_t i = groups.size(); i-- > 0;) {
      NodeStatus* sg = Find(node_name + "[" + std::to_string(i) + "]");
      if (!sg) continue;
      if (!sg->Fulfilled()) MarkPhase(sg, NodePhase::kFailed, kTemplateFailFast);
      break;
    }
    UpdateStepsOutbound(FindId(node_id), node_name, groups.size());
    StopDaemons(&node_id);
    return MarkPhase(FindId(node_id), NodePhase::kFailed, kTemplateFailFast);
  }
  for (size_t i = 0; i < groups.size(); ++i) {
    std::string sg_name = node_name + "[" + std::to_string(i) + "]";
    NodeStatus* sg = Find(sg_name);
    if (!sg) {
      sg = InitNode(sg_name, "[" + std::to_string(i) + "]", NodeType::kStepGroup, tmpl_name, node_id,
                    NodePhase::kRunning);
      node = FindId(node_id);
      if (i == 0) {
        AddChild(node, sg->id);
      } else {
        NodeStatus* prev = Find(node_name + "[" + std::to_string(i - 1) + "]");
        const std::string sg_id = sg->id;
        if (prev->children.empty()) {
          AddChild(prev, sg_id);
        } else {
          for (const std::string c : prev->children) {
            for (const std::string& o : Outbound(c)) AddChild(FindId(o), sg_id);
          }
        }
      }
      sg = Find(sg_name);
    }
    sg = ExecuteStepGroup(groups[i], sg_name, scope, arts, child_opts, parallelism, !fail_fast);
    node = FindId(node_id);
    if (!sg->Fulfilled() || WaitingForDaemon(*sg)) return node;
    if (sg->FailedOrError()) {
      UpdateStepsOutbound(node, node_name, groups.size());
      StopDaemons(&node_id);
      return MarkPhase(node, NodePhase::kFailed, sg->message);
    }
    // The outputs of this group's steps, for the next groups.
    for (const Step& step : groups[i]) {
      const std::string& step_name = step.name;
      std::string child_name = sg_name + "." + step_name;
      std::string prefix = "steps." + step_name;
      if (NodeStatus* child = Find(child_name); child && child->type != NodeType::kTaskGroup) {
        if (!(child->type == NodeType::kSkipped && child->message == "Skipped, empty params")) {
          AddNodeToScope(prefix, child, scope, arts);
          continue;
        }
      }
      std::vector<const NodeStatus*> expanded;
      for (const std::string& c : sg->children) {
        const NodeStatus* cn = FindId(c);
        if (cn && cn->name.rfind(child_name + "(", 0) == 0 && cn->type != NodeType::kSkipped) expanded.push_back(cn);
      }
      AddAggregateToScope(prefix, expanded, scope);
    }
  }
  UpdateStepsOutbound(node, node_name, groups.size());
  StopDaemons(&node_id);
  StatusOr<Outputs> outputs = TemplateOutputs(tmpl, scope, arts);
  if (!outputs.ok()) return MarkPhase(node, NodePhase::kError, outputs.status().message());
  if (!outputs->empty()) {
    ExportGlobalOutputs(tmpl, *outputs);
    Mut(node).outputs = std::move(*outputs);
  }
  return MarkPhase(node, NodePhase::kSucceeded);
}

void WorkflowRun::UpdateStepsOutbound(NodeStatus* node, const std::string& node_name, size_t groups) {
  for (size_t i = groups; i-- > 0;) {
    NodeStatus* sg = Find(node_name + "[" + std::to_string(i) + "]");
    if (!sg) continue;
    std::vector<std::string> outbound;
    for (const std::string& c : sg->children) {
      for (const std::string& o : Outbound(c)) outbound.push_back(o);
    }
    Mut(node).outbound_nodes = std::move(outbound);
    return;
  }
}

NodeStatus* WorkflowRun::ExecuteStepGroup(const std::vector<Step>& group, const std::string& sg_name, Scope& scope,
    Artifacts& arts, const ExecOptions& opts, int parallelism, bool start_new) {
  NodeStatus* sg = Find(sg_name);
  // An ended group is gone through again only for a daemon of it that is not ready (again).
  const bool revisit = sg->Fulfilled();
  if (revisit && !WaitingForDaemon(*sg)) return sg;
  const std::string sg_id = sg->id;
  std::map<std::string, const Step*> step_of;  // child node name -> its step
  int active = 0;
  for (const std::string& c : sg->children) {
    const NodeStatus* cn = FindId(c);
    if (cn && !cn->Fulfilled()) ++active;
  }
  for (const Step& raw_step : group) {
    std::string base = sg_name + "." + raw_step.name;
    // Resolved and expanded once: the scope of a step group does not change while it runs.
    auto cached = expansions_.find(base);
    if (cached == expansions_.end()) {
      StatusOr<Step> step = ResolveCall(raw_step, scope, arts);
      if (!step.ok()) return MarkPhase(FindId(sg_id), NodePhase::kError, step.status().message());
      Expansion expansion;
      StatusOr<std::vector<Expanded>> expanded = Expand(*step, base, raw_step.name, &expansion.is_loop);
      if (!expanded.ok()) return MarkPhase(FindId(sg_id), NodePhase::kError, expanded.status().message());
      expansion.items = std::move(*expanded);
      cached = expansions_.emplace(base, std::move(expansion)).first;
    }
    const bool is_loop = cached->second.is_loop;
    std::vector<Expanded>* expanded = &cached->second.items;
    if (is_loop && expanded->empty()) {
      if (!Find(base)) {
        NodeStatus* skipped = InitNode(base, raw_step.name, NodeType::kSkipped, raw_step.template_name,
                                       opts.boundary_id, NodePhase::kSkipped,
                                       "Skipped, empty params");
        AddChild(FindId(sg_id), skipped->id);
      }
      continue;
    }
    for (const Expanded& e : *expanded) {
      const Step& s = e.step;
      step_of[e.name] = &s;
      NodeStatus* existing = Find(e.name);
      if (existing && existing->Fulfilled()) continue;
      if (!existing) {
        if (s.when) {
          StatusOr<bool> proceed = EvaluateWhen(*s.when);
          if (!proceed.ok()) {
            NodeStatus* bad = InitNode(e.name, e.display, NodeType::kSkipped, s.template_name,
                                       opts.boundary_id, NodePhase::kError, proceed.status().message());
            AddChild(FindId(sg_id), bad->id);
            return MarkPhase(FindId(sg_id), NodePhase::kError, proceed.status().message());
          }
          if (!*proceed) {
            NodeStatus* skipped = InitNode(e.name, e.display, NodeType::kSkipped, s.template_name,
                                           opts.boundary_id, NodePhase::kSkipped,
                                           "when '" + *s.when + "' evaluated false");
            AddChild(FindId(sg_id), skipped->id);
            continue;
          }
        }
        if (!start_new || (parallelism > 0 && active >= parallelism)) continue;
      }
      NodeStatus* child = ExecuteTemplate(e.name, e.display, s, opts);
      if (!child) continue;
      if (!existing) ++active;
      AddChild(FindId(sg_id), child->id);
    }
  }
  if (revisit) return FindId(sg_id);
  // Done when every step (and its exit handler) has ended, or is a daemon that is ready.
  sg = FindId(sg_id);
  bool completed = true;
  const std::vector<std::string> children = sg->children;
  std::set<std::string> seen;
  for (const std::string& cid : children) {
    NodeStatus* c = FindId(cid);
    if (!c) continue;
    seen.insert(c->name);
    auto it = step_of.find(c->name);
    const Step* step = it == step_of.end() ? nullptr : it->second;
    const std::string prefix = step ? "steps." + step->name : "";
    if (step && !RunLifecycleHooks(*step, c, opts, prefix, scope, arts)) completed = false;
    if (!c->Done()) {
      completed = false;
      continue;
    }
    if (step && !RunStepExitHandler(*step, c, opts, prefix, scope, arts)) completed = false;
  }
  for (const auto& [n, s] : step_of) {
    if (!seen.count(n)) completed = false;  // not started yet (parallelism)
  }
  sg = FindId(sg_id);
  if (!completed) return sg;
  for (const std::string& cid : children) {
    NodeStatus* c = FindId(cid);
    if (!c || !c->FailedOrError()) continue;
    auto it = step_of.find(c->name);
    const Step* s = it == step_of.end() ? nullptr : it->second;
    if (!s || !s->ContinuesOn(c->phase)) {
      return MarkPhase(sg, NodePhase::kFailed, "child '" + cid + "' failed");
    }
  }
  return MarkPhase(sg, NodePhase::kSucceeded);
}

}  // namespace loom::workflow
