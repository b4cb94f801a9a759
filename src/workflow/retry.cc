// retryStrategy (Argo's retry handling in operator.go): a Retry node and its attempts.
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

NodeStatus* WorkflowRun::ExecuteRetries(const std::string& node_name, const std::string& display, NodeStatus* node,
    NodeContext& ctx, const ExecOptions& opts) {
  if (!node) {
    node = OpenNode(node_name, display, NodeType::kRetry, ctx.tmpl_name, opts);
    if (node->Fulfilled()) return node;  // blocked: Failed at once
  }
  const RetryStrategy& rs = *ctx.tmpl.retry_strategy;
  for (int guard = 0; guard < 2; ++guard) {
    const std::vector<std::string> children = Attempts(*node);
    NodeStatus* last = children.empty() ? nullptr : FindId(children.back());
    if (last && last->Fulfilled()) {
      const NodePhase phase = last->phase;
      if (!last->FailedOrError()) {
        Mut(node).outputs = last->outputs;
        if (node->outputs && node->outputs->empty()) node->outputs.reset();
        return MarkPhase(node, NodePhase::kSucceeded, "", true);
      }
      // With an expression and no policy, the expression alone decides (Argo 3.5 and later).
      const std::string policy =
          !rs.retry_policy.empty() ? rs.retry_policy : rs.expression ? "Always" : "OnFailure";
      bool retry_failed = policy == "Always" || policy == "OnFailure";
      bool retry_error = policy == "Always" || policy == "OnError" || policy == "OnTransientError";
      if ((phase == NodePhase::kFailed && !retry_failed) || (phase == NodePhase::kError && !retry_error)) {
        return MarkPhase(node, phase, last->message);
      }
      int limit = rs.Limit();
      if (limit >= 0 && static_cast<int>(children.size()) > limit) {
        return MarkPhase(node, phase, "No more retries left");
      }
      if (rs.expression) {
        StatusOr<bool> again = RetryExpression(*rs.expression, ctx.scope, children.size(), *last);
        if (!again.ok()) return MarkPhase(node, NodePhase::kError, again.status().message());
        if (!*again) return MarkPhase(node, phase, "retryStrategy.expression evaluated to false");
      }
      if (!BlockedReason(opts).empty()) return MarkPhase(node, phase, last->message);
      if (rs.backoff) {
        const Backoff& b = *rs.backoff;
        double base = 0, max_duration = 0, cap = 0;
        DurationSeconds(b.duration.value_or(Json("0")), &base);
        double wait = base;
        double factor = 0;
        if (b.factor) factor = std::atof(ParameterString(*b.factor).c_str());  // IntOrString
        if (factor > 0) wait = base * std::pow(factor, static_cast<double>(children.size()) - 1);
        if (b.cap && DurationSeconds(*b.cap, &cap) && wait > cap) wait = cap;
        double first_started = ParseRfc3339(FindId(children.front())->started_at);
        double finished = ParseRfc3339(last->finished_at);
        if (b.max_duration && DurationSeconds(*b.max_duration, &max_duration)) {
          if (NowSeconds() >= first_started + max_duration) {
            return MarkPhase(node, phase, "Max duration limit exceeded");
          }
          if (finished + wait > first_started + max_duration) {
            return MarkPhase(node, phase, "Backoff would exceed max duration limit");
          }
        }
        // Times are kept to the second (as Argo's); a fresh attempt waits from the
        // finish recorded in memory when there is one.
        auto precise = finish_times_.find(last->id);
        if (precise != finish_times_.end()) finished = precise->second;
        if (NowSeconds() < finished + wait) {
          Timer(finished + wait);
          char msg[64];
          snprintf(msg, sizeof msg, "Backoff for %gs", wait);
          if (node->message != msg) MarkPhase(node, NodePhase::kRunning, msg);
          return node;
        }
        if (!node->message.empty()) MarkPhase(node, NodePhase::kRunning, "");
      }
      last = nullptr;  // a new attempt
    }
    std::string child_name = last ? last->name : node_name + "(" + std::to_string(children.size()) + ")";
    std::string child_display = display + "(" + std::to_string(last ? children.size() - 1 : children.size()) + ")";
    ExecOptions child_opts = opts;
    NodeStatus* child =
        ExecuteKind(child_name, child_display, child_opts, last, last ? children.size() - 1 : children.size(), ctx);
    if (!child) return node;
    node = Find(node_name);
    AddChild(node, child->id);
    if (!child->Fulfilled()) return node;
    // The attempt ended within this pass (an error before running): decide again.
  }
  return node;
}

Scope LastRetryScope(const NodeStatus* last, const std::string& no_exit_code) {
  if (!last) {
    return {{"lastRetry.exitCode", "0"}, {"lastRetry.status", ""}, {"lastRetry.duration", "0"}, {"lastRetry.message", ""}};
  }
  const double started = ParseRfc3339(last->started_at);
  const double finished = ParseRfc3339(last->finished_at);
  const bool has_exit_code = last->outputs && last->outputs->exit_code;
  return {{"lastRetry.exitCode", has_exit_code ? ParameterString(*last->outputs->exit_code) : no_exit_code},
          {"lastRetry.status", ToString(last->phase)},
          {"lastRetry.duration", GoString(Json(finished > started ? finished - started : 0.0))},
          {"lastRetry.message", last->message}};
}

StatusOr<bool> WorkflowRun::RetryExpression(const std::string& expression, const Scope& scope, size_t attempts,
                                            const NodeStatus& last) {
  // Argo's buildRetryStrategyLocalScope: the expression sees these variables alone, as strings.
  // {{...}} in it are filled first from the node's scope and these.
  Scope retry_scope = LastRetryScope(&last, "-1");
  retry_scope["retries"] = std::to_string(attempts - 1);
  Scope tag_scope = scope;
  for (const auto& [k, v] : retry_scope) tag_scope[k] = v;
  LOOM_ASSIGN_OR_RETURN(std::string text, SubstituteString(expression, tag_scope));
  LOOM_ASSIGN_OR_RETURN(Json v, EvaluateExpression(text, retry_scope));
  if (!v.is_boolean()) return InvalidArgument("unable to cast expression result '" + GoString(v) + "' to bool");
  return v.get<bool>();
}

NodeStatus* WorkflowRun::RetryParent(const NodeStatus& node) {
  const std::string& name = node.name;
  if (name.empty() || name.back() != ')') return nullptr;
  const size_t open = name.rfind('(');
  if (open == std::string::npos || open + 2 > name.size() - 1) return nullptr;
  for (size_t i = open + 1; i + 1 < name.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) return nullptr;
  }
  NodeStatus* parent = Find(name.substr(0, open));
  return parent && parent->type == NodeType::kRetry ? parent : nullptr;
}

std::vector<std::string> WorkflowRun::Attempts(const NodeStatus& retry) {
  std::vector<std::string> attempts;
  for (const std::string& c : retry.children) {
    const NodeStatus* n = FindId(c);
    if (n && n->name.size() > retry.name.size() && n->name.compare(0, retry.name.size(), retry.name) == 0 &&
        n->name[retry.name.size()] == '(') {
      attempts.push_back(c);
    }
  }
  return attempts;
}

}  // namespace loom::workflow
