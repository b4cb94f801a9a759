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

DagPlan WorkflowRun::BuildDagPlan(const Template& tmpl) {
  DagPlan plan;
  std::vector<DagTask>& tasks = plan.tasks;
  std::map<std::string, size_t>& index = plan.index;
  std::set<std::string>& wanted = plan.wanted;
  std::map<std::string, const Step*> by_name;
  for (const Step& t : tmpl.dag.tasks) by_name[t.name] = &t;
  for (const Step& t : tmpl.dag.tasks) {
    DagTask d{&t, t.name, {}, ""};
    if (t.depends) {
      d.depends = *t.depends;
      StatusOr<std::set<std::string>> named = DependsTasks(d.depends);
      if (named.ok()) d.deps = *named;
    } else if (t.dependencies) {
      for (const std::string& n : *t.dependencies) {
        d.deps.insert(n);
        if (!d.depends.empty()) d.depends += " && ";
        // Argo: a plain dependency also accepts a failure its task continues on.
        auto found = by_name.find(n);
        const Step* dt = found == by_name.end() ? nullptr : found->second;
        std::string term = "(" + n + ".Succeeded || " + n + ".Skipped || " + n + ".Daemoned";
        if (dt && dt->ContinuesOn(NodePhase::kFailed)) term += " || " + n + ".Failed";
        if (dt && dt->ContinuesOn(NodePhase::kError)) term += " || " + n + ".Errored";
        d.depends += term + ")";
      }
    }
    index[d.name] = tasks.size();
    tasks.push_back(std::move(d));
  }
  // Targets: dag.target, or every task.
  if (tmpl.dag.target) {
    std::vector<std::string> stack;
    const std::string& targets = *tmpl.dag.target;
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

NodeStatus* WorkflowRun::ExecuteDag(const std::string& node_name, const std::string& display, const std::string& tmpl_name,
    const Template& tmpl, Scope& scope, Artifacts& arts, const ExecOptions& opts, DagPlan& plan) {
  OpenScope open = OpenScopeNode(node_name, display, NodeType::kDAG, tmpl_name, tmpl, opts);
  NodeStatus* node = open.node;
  if (node->Fulfilled()) return node;
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
  auto task_node = [&](const std::string& task) -> NodeStatus* {
    auto it = index.find(task);
    return it == index.end() ? nullptr : task_node_at(it->second);
  };
  // Argo's task results for depends.
  auto result = [&](const std::string& task, const std::string& what) -> bool {
    NodeStatus* n = task_node(task);
    if (!n) return false;
    const NodePhase phase = n->phase;
    if (what == "Succeeded") return phase == NodePhase::kSucceeded;
    if (what == "Failed") return phase == NodePhase::kFailed;
    if (what == "Errored") return phase == NodePhase::kError;
    if (what == "Skipped") return phase == NodePhase::kSkipped;
    if (what == "Omitted") return phase == NodePhase::kOmitted;
    if (what == "Daemoned") return n->daemoned;
    std::vector<std::string> kids = n->children;
    if (n->type != NodeType::kTaskGroup) kids = {n->id};
    if (what == "AnySucceeded") {
      for (const auto& k : kids) if (NodeStatus* c = FindId(k); c && c->phase == NodePhase::kSucceeded) return true;
      return false;
    }
    if (what == "AllFailed") {
      if (kids.empty()) return false;
      for (const auto& k : kids) if (NodeStatus* c = FindId(k); !c || c->phase != NodePhase::kFailed) return false;
      return true;
    }
    return false;
  };

  // What counts against the template's parallelism: tasks running, and for a loop (a TaskGroup)
  // its items running, not the group itself.
  int active = 0;
  for (size_t i : plan.open) {
    NodeStatus* n = task_node_at(i);
    if (!n || n->Fulfilled()) continue;
    if (n->type != NodeType::kTaskGroup) {
      ++active;
      continue;
    }
    for (const std::string& c : n->children) {
      if (NodeStatus* k = FindId(c); k && !k->Fulfilled()) ++active;
    }
  }
  // No new task starts after a failure nothing handles (dag.failFast, the default), or after any
  // failed child when the template has failFast: true; the tasks running go on to their end.
  const FailFastState template_fail_fast = TemplateFailFast(tmpl, dag_id);
  if (template_fail_fast == FailFastState::kEnded) {
    StopDaemons(&dag_id);
    return MarkPhase(FindId(dag_id), NodePhase::kFailed, kTemplateFailFast);
  }
  // Failures are seen as of the start of the pass, as Argo assesses a DAG after its pass: tasks
  // that fail while this pass starts others do not stop those.
  for (size_t i : plan.open) {
    const NodeStatus* n = task_node_at(i);
    if (n && n->FailedOrError() && !tasks[i].task->ContinuesOn(n->phase)) plan.failed.insert(i);
  }
  const bool stopped =
      template_fail_fast != FailFastState::kNone || (tmpl.dag.FailFast() && DagFailedFast(plan));
  bool all_done = true;
  std::vector<size_t> still_open;
  for (size_t i : plan.open) {
    const DagTask& t = tasks[i];
    NodeStatus* existing = task_node_at(i);
    const std::string prefix = "tasks." + t.name;
    if (existing && existing->Fulfilled()) {
      if (!RunLifecycleHooks(*t.task, existing, child_opts, prefix, scope, arts) ||
          !RunStepExitHandler(*t.task, existing, child_opts, prefix, scope, arts)) {
        all_done = false;
        still_open.push_back(i);
      }
      continue;
    }
    still_open.push_back(i);
    if (!existing && stopped) continue;  // failFast: never started
    if (existing && !daemons_.empty()) {
      // A daemon it depends on is starting again (a resume, a retry): wait for it to be ready.
      bool waiting = false;
      for (size_t d : plan.dep_index[i]) {
        if (NodeStatus* dn = task_node_at(d); dn && !dn->Done()) waiting = true;
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
        NodeStatus* dn = task_node_at(d);
        if (!dn || !dn->Done()) ready = false;
        else if (!dn->children.empty()) {
          if (NodeStatus* ex = Find(dn->name + ".onExit"); ex && !ex->Fulfilled()) ready = false;
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
          NodeStatus* bad = InitNode(task_name, t.name, NodeType::kSkipped, t.task->template_name, dag_id,
                                     NodePhase::kError, go.status().message());
          LinkTask(FindId(dag_id), t, node_name, bad);
          continue;
        }
        if (!*go) {
          NodeStatus* omitted = InitNode(task_name, t.name, NodeType::kSkipped, t.task->template_name, dag_id,
                                         NodePhase::kOmitted, "omitted: depends condition not met");
          LinkTask(FindId(dag_id), t, node_name, omitted);
          continue;
        }
      }
    }
    NodeStatus* n = ExecuteTask(t, task_name, scope, arts, child_opts, parallelism, active, node_name);
    if (n && !RunLifecycleHooks(*t.task, n, child_opts, prefix, scope, arts)) all_done = false;
    if (!n || !n->Done()) {
      all_done = false;
      continue;
    }
    if (!RunStepExitHandler(*t.task, n, child_opts, prefix, scope, arts)) all_done = false;
  }
  plan.open = std::move(still_open);
  // Scope for outputs (and for tasks started above, which saw it as it was).
  node = FindId(dag_id);
  if (!all_done) return node;

  // Phase: a branch that ends in a failure not handled downstream fails the DAG (Argo's
  // assessDAGPhase).
  std::map<std::string, std::vector<std::string>>& dependents = plan.dependents;
  // The phase a failing branch ends in (Succeeded when every branch from `task` ends well).
  std::map<std::pair<std::string, NodePhase>, NodePhase> memo;
  std::function<NodePhase(const std::string&, NodePhase)> fails = [&](const std::string& task,
                                                                      NodePhase carried) -> NodePhase {
    auto key = std::make_pair(task, carried);
    if (auto it = memo.find(key); it != memo.end()) return it->second;
    memo[key] = NodePhase::kSucceeded;
    NodeStatus* n = task_node(task);
    NodePhase branch = carried;
    if (n && n->phase != NodePhase::kOmitted) {
      branch = n->phase;
      if (IsFailedOrError(branch) && tasks[index[task]].task->ContinuesOn(branch)) branch = NodePhase::kSucceeded;
    }
    NodePhase failed = NodePhase::kSucceeded;
    std::vector<std::string> next;
    for (const std::string& d : dependents[task]) if (wanted.count(d) && task_node(d)) next.push_back(d);
    if (next.empty()) {
      if (IsFailedOrError(branch)) failed = branch;
    } else {
      for (const std::string& d : next) {
        if (failed == NodePhase::kSucceeded) failed = fails(d, branch);
      }
    }
    return memo[key] = failed;
  };
  NodePhase failed_phase = NodePhase::kSucceeded;
  for (const DagTask& t : tasks) {
    if (!wanted.count(t.name) || !t.deps.empty()) continue;
    if (failed_phase == NodePhase::kSucceeded) failed_phase = fails(t.name, NodePhase::kSucceeded);
  }
  const bool failed = failed_phase != NodePhase::kSucceeded;
  // Outbound: the wanted tasks nothing depends on.
  std::vector<std::string> outbound;
  for (const DagTask& t : tasks) {
    if (!wanted.count(t.name)) continue;
    bool leaf = true;
    for (const std::string& d : dependents[t.name]) leaf = leaf && !wanted.count(d);
    if (leaf) if (NodeStatus* n = task_node(t.name)) for (const std::string& o : Outbound(n->id)) outbound.push_back(o);
  }
  Mut(node).outbound_nodes = std::move(outbound);
  StopDaemons(&dag_id);
  if (failed) return MarkPhase(node, failed_phase);
  for (const DagTask& t : tasks) {
    NodeStatus* n = task_node(t.name);
    if (!n) continue;
    if (n->type == NodeType::kTaskGroup) {
      AddAggregateToScope("tasks." + t.name, Children(*n), scope);
    } else {
      AddNodeToScope("tasks." + t.name, n, scope, arts);
    }
  }
  StatusOr<Outputs> outputs = TemplateOutputs(tmpl, scope, arts);
  node = FindId(dag_id);
  if (!outputs.ok()) return MarkPhase(node, NodePhase::kError, outputs.status().message());
  if (!outputs->empty()) {
    ExportGlobalOutputs(tmpl, *outputs);
    Mut(node).outputs = std::move(*outputs);
  }
  return MarkPhase(node, NodePhase::kSucceeded);
}

bool WorkflowRun::DagFailedFast(const DagPlan& plan) {
  // A dependent handles a failure when it ran (any node but an Omitted one: Argo's branch phase
  // is then the dependent's), or may still run: its depends can be true with the dependencies
  // that ended as they ended and the others in any phase.
  auto phase_of = [&](size_t i) -> const NodeStatus* { return FindId(plan.node_ids[i]); };
  auto could_run = [&](size_t d) {
    const DagTask& t = plan.tasks[d];
    std::vector<size_t> unknown;
    for (size_t j : plan.dep_index[d]) {
      const NodeStatus* n = j == kNoTask ? nullptr : phase_of(j);
      if (j != kNoTask && !(n && n->Done())) unknown.push_back(j);
    }
    if (unknown.size() > 4) return true;  // 5^k assignments: past a few, assume it may
    static constexpr NodePhase kEnds[] = {NodePhase::kSucceeded, NodePhase::kFailed, NodePhase::kError,
                                          NodePhase::kSkipped, NodePhase::kOmitted};
    std::vector<size_t> pick(unknown.size(), 0);
    for (;;) {
      auto result = [&](const std::string& task, const std::string& what) -> bool {
        auto at = plan.index.find(task);
        if (at == plan.index.end()) return false;
        auto u = std::find(unknown.begin(), unknown.end(), at->second);
        NodePhase phase;
        bool daemoned = false;
        if (u != unknown.end()) {
          phase = kEnds[pick[u - unknown.begin()]];
        } else {
          const NodeStatus* n = phase_of(at->second);
          if (!n) return false;
          phase = n->phase;
          daemoned = n->daemoned;
        }
        if (what == "Succeeded" || what == "AnySucceeded") return phase == NodePhase::kSucceeded;
        if (what == "Failed" || what == "AllFailed") return phase == NodePhase::kFailed;
        if (what == "Errored") return phase == NodePhase::kError;
        if (what == "Skipped") return phase == NodePhase::kSkipped;
        if (what == "Omitted") return phase == NodePhase::kOmitted;
        if (what == "Daemoned") return daemoned;
        return false;
      };
      StatusOr<bool> go = EvaluateDepends(t.depends, result);
      if (!go.ok() || *go) return true;  // a bad depends errors the task: it is not omitted
      size_t k = 0;
      while (k < pick.size() && ++pick[k] == std::size(kEnds)) pick[k++] = 0;
      if (k == pick.size()) return false;
    }
  };
  for (size_t x : plan.failed) {
    auto deps = plan.dependents.find(plan.tasks[x].name);
    bool handled = false;
    if (deps != plan.dependents.end()) {
      for (const std::string& name : deps->second) {
        if (!plan.wanted.count(name)) continue;
        const size_t d = plan.index.at(name);
        const NodeStatus* n = phase_of(d);
        if (n ? n->phase != NodePhase::kOmitted : could_run(d)) {
          handled = true;
          break;
        }
      }
    }
    if (!handled) return true;
  }
  return false;
}

FailFastState WorkflowRun::TemplateFailFast(const Template& tmpl, const std::string& scope_id) {
  if (!tmpl.FailFast()) return FailFastState::kNone;
  bool failed = false, active = false;
  for (const auto& [id, n] : nodes_) {
    if (n.boundary_id != scope_id ||
        (n.type != NodeType::kPod && n.type != NodeType::kSteps && n.type != NodeType::kDAG)) {
      continue;
    }
    failed = failed || n.FailedOrError();
    active = active || !n.Done();
  }
  if (!failed) return FailFastState::kNone;
  return active ? FailFastState::kStopped : FailFastState::kEnded;
}

void WorkflowRun::LinkTask(NodeStatus* dag, const DagTask& t, const std::string& dag_name, NodeStatus* task_node) {
  const std::string id = task_node->id;
  if (t.deps.empty()) {
    AddChild(dag, id);
    return;
  }
  for (const std::string& d : t.deps) {
    NodeStatus* dn = Find(dag_name + "." + d);
    if (!dn) continue;
    for (const std::string& o : Outbound(dn->id)) AddChild(FindId(o), id);
  }
}

NodeStatus* WorkflowRun::ExecuteTask(const DagTask& t, const std::string& task_name, Scope& base_scope, Artifacts& base_arts,
    const ExecOptions& opts, int parallelism, int& active, const std::string& dag_name) {
  NodeStatus* existing = Find(task_name);
  bool is_new = !existing;
  if (existing && existing->type == NodeType::kPod && running_.count(existing->id)) return existing;
  if (is_new && parallelism > 0 && active >= parallelism) return nullptr;
  std::string dag_id = opts.boundary_id;
  // The task resolved and expanded once: what it depends on has ended and does not change.
  auto cached = expansions_.find(task_name);
  if (cached == expansions_.end()) {
    // The task's scope: the DAG's, plus the outputs of the tasks it depends on.
    Scope scope = base_scope;
    Artifacts arts = base_arts;
    std::set<std::string> seen;
    std::vector<std::string> stack(t.deps.begin(), t.deps.end());
    for (const auto& var : VariablesIn(ToJson(*t.task).dump())) {
      if (var.rfind("tasks.", 0) == 0) stack.push_back(var.substr(6, var.find('.', 6) - 6));
    }
    while (!stack.empty()) {
      std::string d = stack.back();
      stack.pop_back();
      if (!seen.insert(d).second) continue;
      NodeStatus* dn = Find(dag_name + "." + d);
      if (!dn || !dn->Done()) continue;
      if (dn->type == NodeType::kTaskGroup) {
        AddAggregateToScope("tasks." + d, Children(*dn), scope);
      } else {
        AddNodeToScope("tasks." + d, dn, scope, arts);
      }
    }
    StatusOr<Step> task = ResolveCall(*t.task, scope, arts);
    Expansion expansion;
    StatusOr<std::vector<Expanded>> expanded =
        task.ok() ? Expand(*task, task_name, t.name, &expansion.is_loop) : StatusOr<std::vector<Expanded>>(task.status());
    if (!expanded.ok()) {
      NodeStatus* bad = existing ? existing
                                 : InitNode(task_name, t.name, NodeType::kSkipped, t.task->template_name,
                                            dag_id, NodePhase::kError);
      if (is_new) LinkTask(FindId(dag_id), t, dag_name, bad);
      return MarkPhase(bad, NodePhase::kError, expanded.status().message());
    }
    expansion.items = std::move(*expanded);
    cached = expansions_.emplace(task_name, std::move(expansion)).first;
  }
  const bool is_loop = cached->second.is_loop;
  const std::vector<Expanded>* expanded = &cached->second.items;
  if (!is_loop) {
    const Step& s = (*expanded)[0].step;
    if (is_new && s.when) {
      StatusOr<bool> proceed = EvaluateWhen(*s.when);
      if (!proceed.ok() || !*proceed) {
        NodeStatus* n = InitNode(task_name, t.name, NodeType::kSkipped, s.template_name, dag_id,
                                 proceed.ok() ? NodePhase::kSkipped : NodePhase::kError,
                                 proceed.ok() ? "when '" + *s.when + "' evaluated false"
                                              : proceed.status().message());
        LinkTask(FindId(dag_id), t, dag_name, n);
        return n;
      }
    }
    NodeStatus* n = ExecuteTemplate(task_name, t.name, s, opts);
    if (n && is_new) {
      ++active;
      LinkTask(FindId(dag_id), t, dag_name, n);
    }
    return n;
  }
  // A loop: a TaskGroup node with one child per item.
  NodeStatus* group = existing;
  if (!group) {
    group = InitNode(task_name, t.name, NodeType::kTaskGroup, t.task->template_name, dag_id,
                     expanded->empty() ? NodePhase::kSkipped : NodePhase::kRunning,
                     expanded->empty() ? "Skipped, empty params" : "");
    LinkTask(FindId(dag_id), t, dag_name, group);
    if (expanded->empty()) return Find(task_name);
  }
  const std::string group_id = group->id;
  bool done = true;
  for (const Expanded& e : *expanded) {
    NodeStatus* c = Find(e.name);
    if (c && c->Fulfilled()) continue;
    if (!c && e.step.when) {
      StatusOr<bool> proceed = EvaluateWhen(*e.step.when);
      if (!proceed.ok() || !*proceed) {
        NodeStatus* n = InitNode(e.name, e.display, NodeType::kSkipped, e.step.template_name, dag_id,
                                 proceed.ok() ? NodePhase::kSkipped : NodePhase::kError,
                                 proceed.ok() ? "when '" + *e.step.when + "' evaluated false"
                                              : proceed.status().message());
        AddChild(FindId(group_id), n->id);
        continue;
      }
    }
    if (!c && parallelism > 0 && active >= parallelism) {
      done = false;
      continue;
    }
    NodeStatus* n = ExecuteTemplate(e.name, e.display, e.step, opts);
    if (!n) {
      done = false;
      continue;
    }
    if (!c) ++active;
    AddChild(FindId(group_id), n->id);
    if (!n->Done()) done = false;
  }
  group = FindId(group_id);
  if (!done) return group;
  for (const std::string& c : group->children) {
    NodeStatus* cn = FindId(c);
    if (cn && cn->FailedOrError() && !t.task->ContinuesOn(cn->phase)) {
      return MarkPhase(group, NodePhase::kFailed, "child '" + c + "' failed");
    }
  }
  return MarkPhase(group, NodePhase::kSucceeded);
}

}  // namespace loom::workflow
