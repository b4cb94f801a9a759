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
    const std::vector<std::string> children = node->children;
    NodeStatus* last = children.empty() ? nullptr : FindId(children.back());
    if (last && last->Fulfilled()) {
      const NodePhase phase = last->phase;
      if (!last->FailedOrError()) {
        Mut(node).outputs = last->outputs;
        if (node->outputs && node->outputs->empty()) node->outputs.reset();
        return MarkPhase(node, NodePhase::kSucceeded, "", true);
      }
      const std::string policy = rs.retry_policy.empty() ? "OnFailure" : rs.retry_policy;
      bool retry_failed = policy == "Always" || policy == "OnFailure";
      bool retry_error = policy == "Always" || policy == "OnError" || policy == "OnTransientError";
      if ((phase == NodePhase::kFailed && !retry_failed) || (phase == NodePhase::kError && !retry_error)) {
        return MarkPhase(node, phase, last->message);
      }
      int limit = rs.Limit();
      if (limit >= 0 && static_cast<int>(children.size()) > limit) {
        return MarkPhase(node, phase, "No more retries left");
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

}  // namespace loom::workflow
