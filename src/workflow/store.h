// Store: the workflow engine's durable state in one SQLite file (LoomHome()/workflows.db).
// Workflows are kept as Argo objects (apiVersion, kind, metadata, spec, status); status.nodes
// lives in its own table, one row per node, so a change to one node of a 500-node workflow
// writes one row. Pod logs are kept in chunks and read by byte offset. WorkflowTemplates are
// kept as they are. Both are found by their ObjectKey (namespace and name): every `name` below
// is a key.
//
// The file is opened in WAL mode with a busy timeout, so several processes (an engine, the CLI,
// the server) use it at once. A Store object is thread-safe (one connection behind a mutex).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/status.h"

struct sqlite3;

namespace loom::workflow {

// How the store, the engine and the launcher know a workflow or a WorkflowTemplate. Names are
// unique per namespace (Argo's rule, as Kubernetes'), so the key is "<namespace>/<name>", and
// the bare name in the namespace "default" (a name has no '/', so the two never meet).
std::string ObjectKey(const std::string& ns, const std::string& name);
// The key of an object from its metadata (namespace "default" when it names none).
std::string ObjectKey(const Json& object);
// The parts of a key: "team/hello" -> "team", "hello"; "hello" -> "default", "hello".
std::string KeyNamespace(const std::string& key);
std::string KeyName(const std::string& key);

// Synchronization (Argo's mutexes and semaphores): a lock by its name ("<namespace>/Mutex/<name>",
// "<namespace>/ConfigMap/<name>/<key>") and how many may hold it at once.
struct LockRequest {
  std::string lock;
  int limit = 1;
};
struct LockState {
  std::string lock;
  int limit = 1;
  bool acquired = false;             // the holder holds it (now or already)
  std::vector<std::string> holders;  // who holds it, the oldest first
};
struct LockHolding {
  std::string lock, holder;
  bool held = false;  // false: waiting
};
// A waiter whose engine has not asked for the lock for this long is passed over in the queue
// (its engine died); it keeps its place when its engine asks again.
inline constexpr double kLockWaiterTimeoutSeconds = 30;

class Store {
 public:
  // Opens (creating it and its directory if needed) the database at `db_path`.
  static StatusOr<std::unique_ptr<Store>> Open(const std::string& db_path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Workflows. CreateWorkflow stores metadata/spec/status (status.nodes, if any, as node rows)
  // under ObjectKey(workflow); AlreadyExists if the name is taken in its namespace.
  Status CreateWorkflow(const Json& workflow);
  // The whole object, status.nodes filled in (an object keyed by node id, as Argo's).
  StatusOr<Json> GetWorkflow(const std::string& name);
  // Newest first; each without status.nodes.
  StatusOr<std::vector<Json>> ListWorkflows();
  // Replaces spec and status (status_without_nodes["nodes"], if present, is ignored).
  Status UpdateWorkflow(const std::string& name, const Json& spec, const Json& status_without_nodes);
  // Replaces the status only (what a running engine writes on every pass).
  Status UpdateStatus(const std::string& name, const Json& status_without_nodes);
  // Inserts or replaces one node, keyed by node["id"].
  Status PutNode(const std::string& name, const Json& node);
  // JSON merge patch (RFC 7386) applied to the stored spec: how stop/terminate/suspend reach a
  // running engine.
  Status PatchSpec(const std::string& name, const Json& merge_patch);
  // Removes the workflow, its nodes and its logs. NotFound if there is none.
  Status DeleteWorkflow(const std::string& name);
  // Cheap reads for a running engine's polling: the stored spec; one node (NotFound if absent).
  StatusOr<Json> GetSpec(const std::string& name);
  StatusOr<Json> GetNode(const std::string& name, const std::string& node_id);
  // Removes nodes (for `retry`: failed nodes run again).
  Status DeleteNodes(const std::string& name, const std::vector<std::string>& node_ids);

  // Several writes as one transaction (one fsync): the engine wraps each scheduling pass in one.
  // Nested calls nest (only the outermost commits). REQUIRES: each Begin matched by one Commit.
  Status BeginBatch();
  Status CommitBatch();

  // Pod logs (stdout and stderr interleaved), appended in chunks.
  Status AppendLog(const std::string& name, const std::string& node_id, std::string_view bytes);
  // Up to `limit` bytes (limit < 0: all) from byte `offset`; *total_size (if not null) is the
  // log's size so far. An unknown node reads as an empty log.
  StatusOr<std::string> ReadLog(const std::string& name, const std::string& node_id,
                                int64_t offset, int64_t limit, int64_t* total_size);

  // WorkflowTemplates (for workflowTemplateRef / templateRef), by ObjectKey; with `cluster`,
  // ClusterWorkflowTemplates (templateRef.clusterScope, no namespace), by name, kept as objects
  // of their kind. PutTemplate creates or replaces either, by the object's kind.
  Status PutTemplate(const Json& workflow_template);
  StatusOr<Json> GetTemplate(const std::string& name, bool cluster = false) const;
  StatusOr<std::vector<Json>> ListTemplates(bool cluster = false) const;
  Status DeleteTemplate(const std::string& name, bool cluster = false);

  // Other Argo objects by kind and metadata.name (ClusterWorkflowTemplate, CronWorkflow), whole.
  // PutObject creates or replaces; NotFound reads `<kind> "<name>" not found`.
  Status PutObject(const Json& object);
  StatusOr<Json> GetObject(const std::string& kind, const std::string& name) const;
  StatusOr<std::vector<Json>> ListObjects(const std::string& kind) const;  // by name
  Status DeleteObject(const std::string& kind, const std::string& name);

  // Synchronization locks, kept here so that every engine on the machine (`loom wf submit`'s,
  // `loom server`'s) sees the same holders. AcquireLocks takes every lock of `locks` for
  // `holder`, or none (it then waits for each, in the order holders started to wait): a lock
  // goes to the waiters first in line while fewer than its limit hold it. Holding is kept
  // until ReleaseLocks; a holder asking again for what it holds gets it.
  StatusOr<std::vector<LockState>> AcquireLocks(const std::string& holder, const std::vector<LockRequest>& locks,
                                                double now);
  // Removes `holder` from every lock it holds or waits for; `with_nodes`: also the holders
  // "<holder>/..." (a workflow's templates). DeleteWorkflow does it for the workflow.
  Status ReleaseLocks(const std::string& holder, bool with_nodes = false);
  StatusOr<std::vector<LockHolding>> ListLocks() const;

  const std::string& path() const { return path_; }

 private:
  Store(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Status Exec(const char* sql) const;
  // Runs `body` in a transaction of its own (committed if it returns OK, else rolled back), or
  // inside the open batch when there is one. The caller holds mu_.
  Status InTransaction(const std::function<Status()>& body);
  StatusOr<Json> GetWorkflowLocked(const std::string& name, bool with_nodes) const;

  sqlite3* db_;
  std::string path_;
  mutable std::recursive_mutex mu_;
  int batch_depth_ = 0;
};

inline constexpr const char* kClusterWorkflowTemplate = "ClusterWorkflowTemplate";
inline constexpr const char* kCronWorkflow = "CronWorkflow";

// LoomHome()/workflows.db.
std::string DefaultStorePath();

}  // namespace loom::workflow
