// synchronization (synchronization.h) in the scheduling pass: the workflow's locks before its
// first node, a template's before its node starts, released as they end (Argo's operator.go
// around syncManager.TryAcquire / Release).
#include "core/file.h"
#include "core/time.h"
#include "workflow/synchronization.h"
#include "workflow/workflow_run.h"

namespace loom::workflow {

std::string WorkflowRun::HolderKey(const std::string& node_id) const {
  const std::string wf = KeyNamespace(key_) + "/" + name_;
  return node_id.empty() ? wf : wf + "/" + node_id;
}

bool WorkflowRun::AcquireWorkflowLocks() {
  if (workflow_locks_held_ || !spec_.other.contains("synchronization")) return true;
  const double now = NowSeconds();
  StatusOr<std::vector<LockRequest>> locks =
      SyncLocks(spec_.other["synchronization"], KeyNamespace(key_), JoinPath(engine_.home, "objects"));
  StatusOr<std::vector<LockState>> states =
      locks.ok() ? store_.AcquireLocks(HolderKey(), *locks, now) : StatusOr<std::vector<LockState>>(locks.status());
  sync_dirty_ = true;
  if (!locks.ok()) {  // Argo: markWorkflowFailed
    status_.phase = "Failed";
    status_.message = "Failed to acquire the synchronization lock. " + locks.status().message();
    status_.finished_at = Rfc3339(now);
    status_dirty_ = true;
    ReleaseLocks("");
    return false;
  }
  std::string waiting = states.ok() ? WaitingMessage(*states)
                                    : "Waiting to acquire the synchronization lock. " + states.status().message();
  if (waiting.empty()) {
    workflow_locks_held_ = true;
    if (status_.phase == "Pending") {
      status_.phase = "Running";
      status_.message.clear();
      status_dirty_ = true;
    }
    return true;
  }
  if (!shutdown_.empty()) {  // Argo's releaseLocksForPendingShuttingdownWfs
    status_.phase = "Failed";
    status_.message = "Stopped with strategy '" + shutdown_ + "'";
    status_.finished_at = Rfc3339(now);
    status_dirty_ = true;
    ReleaseLocks("");
    return false;
  }
  if (status_.phase != "Pending" || status_.message != waiting) {
    status_.phase = "Pending";
    status_.message = waiting;
    status_dirty_ = true;
  }
  Timer(now + 1);
  return false;
}

std::string WorkflowRun::AcquireTemplateLocks(const std::string& id, const Template& tmpl, std::string* error) {
  if (!tmpl.pod.contains("synchronization") || node_locks_held_.count(id)) return "";
  StatusOr<std::vector<LockRequest>> locks =
      SyncLocks(tmpl.pod["synchronization"], KeyNamespace(key_), JoinPath(engine_.home, "objects"));
  if (!locks.ok()) {
    *error = locks.status().message();
    return "";
  }
  const double now = NowSeconds();
  StatusOr<std::vector<LockState>> states = store_.AcquireLocks(HolderKey(id), *locks, now);
  sync_dirty_ = true;
  std::string waiting = states.ok() ? WaitingMessage(*states)
                                    : "Waiting to acquire the synchronization lock. " + states.status().message();
  if (waiting.empty()) {
    node_locks_held_.insert(id);
    return "";
  }
  Timer(now + 1);
  return waiting;
}

void WorkflowRun::ReleaseLocks(const std::string& node_id) {
  if (node_id.empty()) {
    if (!spec_.other.contains("synchronization") && node_locks_held_.empty() && !sync_dirty_) return;
    workflow_locks_held_ = false;
    node_locks_held_.clear();
    (void)store_.ReleaseLocks(HolderKey(), /*with_nodes=*/true);
  } else {
    if (!node_locks_held_.erase(node_id)) return;
    (void)store_.ReleaseLocks(HolderKey(node_id));
  }
  sync_dirty_ = true;
}

void WorkflowRun::ReleaseEndedNodeLocks() {
  std::vector<std::string> ended;
  for (const std::string& id : node_locks_held_) {
    const NodeStatus* n = FindId(id);
    if (!n || n->Fulfilled()) ended.push_back(id);
  }
  for (const std::string& id : ended) ReleaseLocks(id);
}

void WorkflowRun::UpdateSyncStatus() {
  if (!sync_dirty_) return;
  sync_dirty_ = false;
  StatusOr<std::vector<LockHolding>> locks = store_.ListLocks();
  if (!locks.ok()) return;
  Json status = SynchronizationStatus(*locks, HolderKey());
  const Json old = status_.other.value("synchronization", Json());
  if (status == old) return;
  if (status.is_null()) {
    status_.other.erase("synchronization");
  } else {
    status_.other["synchronization"] = std::move(status);
  }
  status_dirty_ = true;
}

}  // namespace loom::workflow
