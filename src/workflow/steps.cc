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

Json* WorkflowRun::ExecuteSteps(const std::string& node_name, const std::string& display, const std::string& tmpl_name,
    const Json& tmpl, Scope& scope, std::map<std::string, Json>& arts, const ExecOptions& opts) {
  OpenScope open = OpenScopeNode(node_name, display, "Steps", tmpl_name, tmpl, opts);
  Json* node = open.node;
  if (Fulfilled(*node)) return node;
  const std::string& node_id = open.id;
  const ExecOptions& child_opts = open.child_opts;
  const int parallelism = open.parallelism;
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

void WorkflowRun::UpdateStepsOutbound(Json* node, const std::string& node_name, size_t groups) {
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

Json* WorkflowRun::ExecuteStepGroup(const Json& group, const std::string& sg_name, Scope& scope,
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

}  // namespace loom::workflow
