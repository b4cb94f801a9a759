// DAG templates (Argo's dag.go): the plan (dependencies, depends, target), tasks as they
// become ready, the DAG's phase (assessDAGPhase).
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
namespace {

constexpr size_t kNoTask = static_cast<size_t>(-1);

}  // namespace

DagPlan WorkflowRun::BuildDagPlan(const Json& tmpl) {
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

Json* WorkflowRun::ExecuteDag(const std::string& node_name, const std::string& display, const std::string& tmpl_name,
    const Json& tmpl, Scope& scope, std::map<std::string, Json>& arts, const ExecOptions& opts,
    DagPlan& plan) {
  OpenScope open = OpenScopeNode(node_name, display, "DAG", tmpl_name, tmpl, opts);
  Json* node = open.node;
  if (Fulfilled(*node)) return node;
  const std::string& dag_id = open.id;
  const ExecOptions& child_opts = open.child_opts;
  const int parallelism = open.parallelism;

  std::vector<DagTask>& tasks = plan.tasks;
  std::map<std::string, size_t>& index = plan.index;
  const std::set<std::string>& wanted = plan.wanted;

  if (plan.node_ids.empty()) {
    for (const DagTask& t : tasks) {
      plan.node_ids.push_back(NodeId(name_, node_name + "." + t.name));
      std::vector<size_t> deps;
      for (const std::string& d : t.deps) {
        auto it = index.find(d);
        deps.push_back(it != index.end() ? it->second : kNoTask);  // no such task: never ready
      }
      plan.dep_index.push_back(std::move(deps));
    }
    for (size_t i : plan.order) {
      if (wanted.count(tasks[i].name)) plan.open.push_back(i);
    }
  }
  auto task_node_at = [&](size_t i) { return i == kNoTask ? nullptr : FindId(plan.node_ids[i]); };
  auto task_node = [&](const std::string& task) -> Json* {
    auto it = index.find(task);
    return it == index.end() ? nullptr : task_node_at(it->second);
  };
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
  for (size_t i : plan.open) {
    Json* n = task_node_at(i);
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
  std::vector<size_t> still_open;
  for (size_t i : plan.open) {
    const DagTask& t = tasks[i];
    Json* existing = task_node_at(i);
    if (existing && Fulfilled(*existing)) {
      if (!RunStepExitHandler(*t.task, existing, child_opts)) {
        all_done = false;
        still_open.push_back(i);
      }
      continue;
    }
    still_open.push_back(i);
    if (existing && !daemons_.empty()) {
      // A daemon it depends on is starting again (a resume, a retry): wait for it to be ready.
      bool waiting = false;
      for (size_t d : plan.dep_index[i]) {
        if (Json* dn = task_node_at(d); dn && !Done(*dn)) waiting = true;
      }
      if (waiting) {
        all_done = false;
        continue;
      }
    }
    if (!existing) {
      // Every dependency must have ended (with its exit handler), or be a daemon that is ready.
      bool ready = true;
      for (size_t d : plan.dep_index[i]) {
        Json* dn = task_node_at(d);
        if (!dn || !Done(*dn)) ready = false;
        else if (dn->contains("children")) {
          if (Json* ex = Find(dn->value("name", "") + ".onExit"); ex && !Fulfilled(*ex)) ready = false;
        }
      }
      if (!ready) {
        all_done = false;
        continue;
      }
    }
    const std::string task_name = node_name + "." + t.name;
    if (!existing) {
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
  plan.open = std::move(still_open);
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

void WorkflowRun::LinkTask(Json* dag, const DagTask& t, const std::string& dag_name, Json* task_node) {
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

Json* WorkflowRun::ExecuteTask(const DagTask& t, const std::string& task_name, Scope& base_scope, std::map<std::string, Json>& base_arts,
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

}  // namespace loom::workflow
