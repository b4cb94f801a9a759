// `synchronization` (Argo's workflow/sync): mutexes and semaphores a workflow (spec.synchronization)
// or a template holds while it runs, in their singular (`mutex`, `semaphore`) and plural
// (`mutexes`, `semaphores`) forms, all taken at once or none.
//
// A mutex is "<namespace>/Mutex/<name>" (limit 1); a semaphore "<namespace>/ConfigMap/<name>/<key>",
// its limit the integer in that key of that ConfigMap (read each time it is asked for, so a
// changed limit applies). The namespace is the lock's own `namespace`, else the workflow's.
// Holders and waiters live in the state store (Store::AcquireLocks), so every engine on the
// machine, `loom wf submit`'s and `loom server`'s alike, sees the same locks. A holder is Argo's
// holder key: "<namespace>/<workflow>" for the workflow's own locks, "<namespace>/<workflow>/<node
// id>" for a template's.
#pragma once

#include <string>
#include <vector>

#include "core/json.h"
#include "core/status.h"
#include "workflow/store.h"

namespace loom::workflow {

// The locks of a synchronization field, with their limits. `objects_dir`: the ConfigMaps
// (container::ConfigStore). Errors are Argo's ("Sync configuration key 'k' not found in
// ConfigMap", ...).
StatusOr<std::vector<LockRequest>> SyncLocks(const Json& synchronization, const std::string& wf_namespace,
                                             const std::string& objects_dir);

// Argo's message for a lock not acquired: "Waiting for <lock> lock. Lock status: <free>/<limit>"
// (the first of `states` not acquired); "" when every one is.
std::string WaitingMessage(const std::vector<LockState>& states);

// Argo's status.synchronization of the workflow `holder_prefix` ("<namespace>/<workflow>") from
// the store's locks: {mutex: {holding: [{mutex, holder}], waiting: [...]}, semaphore: {holding:
// [{semaphore, holders: [...]}], waiting: [...]}}, holders as Argo names them (the workflow's
// name, or the node's id); null when it holds and waits for nothing.
Json SynchronizationStatus(const std::vector<LockHolding>& locks, const std::string& holder_prefix);

}  // namespace loom::workflow
