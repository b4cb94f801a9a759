#include "workflow/store.h"
#include "workflow/libraries.h"

#include <sqlite3.h>

#include "core/file.h"

namespace loom::workflow {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS workflows (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  head TEXT NOT NULL,      -- apiVersion, kind, metadata
  spec TEXT NOT NULL,
  status TEXT NOT NULL     -- without nodes
);
CREATE TABLE IF NOT EXISTS nodes (
  workflow TEXT NOT NULL,
  id TEXT NOT NULL,
  body TEXT NOT NULL,
  UNIQUE (workflow, id)
);
CREATE TABLE IF NOT EXISTS logs (
  workflow TEXT NOT NULL,
  node_id TEXT NOT NULL,
  start INTEGER NOT NULL,  -- byte offset of this chunk in the node's log
  data BLOB NOT NULL,
  PRIMARY KEY (workflow, node_id, start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS templates (
  name TEXT PRIMARY KEY,
  body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sync_locks (  -- synchronization: who holds or waits for each lock
  lock TEXT NOT NULL,     -- "<namespace>/Mutex/<name>", "<namespace>/ConfigMap/<name>/<key>"
  holder TEXT NOT NULL,   -- a workflow's key, or "<key>/<node id>" for a template's lock
  held INTEGER NOT NULL,  -- 1: holds it; 0: waits (in the order of `since`)
  since REAL NOT NULL,    -- when it started to wait
  seen REAL NOT NULL,     -- when its engine last asked: a waiter no engine asks for is passed over
  PRIMARY KEY (lock, holder)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS objects (  -- ClusterWorkflowTemplates, CronWorkflows
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (kind, name)
) WITHOUT ROWID;
)sql";

// Before names were unique per namespace, every object was kept under its bare name: one in a
// namespace other than "default" moves to its key (ObjectKey), once (user_version 0 -> 1).
constexpr const char* kNamespacedKeys = R"sql(
BEGIN IMMEDIATE;
CREATE TEMP TABLE IF NOT EXISTS renamed AS
  SELECT name AS old, json_extract(head, '$.metadata.namespace') || '/' || name AS new FROM workflows
  WHERE instr(name, '/') = 0 AND coalesce(json_extract(head, '$.metadata.namespace'), 'default') != 'default';
UPDATE nodes SET workflow = (SELECT new FROM renamed WHERE old = nodes.workflow)
  WHERE workflow IN (SELECT old FROM renamed);
UPDATE logs SET workflow = (SELECT new FROM renamed WHERE old = logs.workflow)
  WHERE workflow IN (SELECT old FROM renamed);
UPDATE workflows SET name = (SELECT new FROM renamed WHERE old = workflows.name)
  WHERE name IN (SELECT old FROM renamed);
UPDATE templates SET name = json_extract(body, '$.metadata.namespace') || '/' || name
  WHERE instr(name, '/') = 0 AND coalesce(json_extract(body, '$.metadata.namespace'), 'default') != 'default';
DROP TABLE renamed;
PRAGMA user_version = 1;
COMMIT;
)sql";

// One prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Stmt() { sqlite3_finalize(stmt_); }
  bool prepared() const { return rc_ == SQLITE_OK; }
  Stmt& Bind(int i, std::string_view text) {
    sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& BindBlob(int i, std::string_view bytes) {
    sqlite3_bind_blob(stmt_, i, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Stmt& BindDouble(int i, double v) {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  sqlite3_stmt* raw() const { return stmt_; }
  int Step() { return sqlite3_step(stmt_); }
  std::string Text(int col) const {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, col)) : "";
  }
  std::string Blob(int col) const {
    const void* p = sqlite3_column_blob(stmt_, col);
    return p ? std::string(static_cast<const char*>(p), sqlite3_column_bytes(stmt_, col)) : "";
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

Status DbError(sqlite3* db, const std::string& what) {
  return Internal("workflow store: " + what + ": " + sqlite3_errmsg(db));
}

StatusOr<Json> ParseStored(const std::string& text, const std::string& what) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return DataLoss("workflow store: " + what + " is not valid JSON");
  return j;
}

Json Head(const Json& workflow) {
  Json head = Json::object();
  head["apiVersion"] = workflow.value("apiVersion", "argoproj.io/v1alpha1");
  head["kind"] = workflow.value("kind", "Workflow");
  head["metadata"] = workflow.value("metadata", Json::object());
  return head;
}

// The labels Argo's operator keeps on a workflow as its phase changes (markWorkflowPhase):
// workflows.argoproj.io/phase and workflows.argoproj.io/completed ("true" once Succeeded,
// Failed or Error, "false" before); none before the workflow has a phase.
Json PhaseLabels(const Json& status) {
  const std::string phase = status.is_object() && status.contains("phase") && status["phase"].is_string()
                                ? status["phase"].get<std::string>() : "";
  if (phase.empty()) return Json::object();
  const bool completed = phase == "Succeeded" || phase == "Failed" || phase == "Error";
  return {{"workflows.argoproj.io/phase", phase}, {"workflows.argoproj.io/completed", completed ? "true" : "false"}};
}

// The head with PhaseLabels (the statement's next parameter) merged into metadata.labels, in SQL,
// so that a status write needs no read of the head.
constexpr const char* kPhaseLabelsSql =
    "json_set(head, '$.metadata.labels', json_patch(coalesce(json_extract(head, '$.metadata.labels'), '{}'), ?))";

Json StatusWithoutNodes(const Json& status) {
  Json s = status.is_object() ? status : Json::object();
  s.erase("nodes");
  return s;
}

// RFC 7386.
void MergePatch(Json& target, const Json& patch) {
  if (!patch.is_object()) {
    target = patch;
    return;
  }
  if (!target.is_object()) target = Json::object();
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (it.value().is_null()) {
      target.erase(it.key());
    } else {
      MergePatch(target[it.key()], it.value());
    }
  }
}

}  // namespace

std::string ObjectKey(const std::string& ns, const std::string& name) {
  return ns.empty() || ns == "default" ? name : ns + "/" + name;
}

std::string ObjectKey(const Json& object) {
  const Json meta = object.is_object() ? object.value("metadata", Json::object()) : Json::object();
  const Json ns = meta.is_object() ? meta.value("namespace", Json("default")) : Json("default");
  const Json name = meta.is_object() ? meta.value("name", Json("")) : Json("");
  return ObjectKey(ns.is_string() ? ns.get<std::string>() : "", name.is_string() ? name.get<std::string>() : "");
}

std::string KeyNamespace(const std::string& key) {
  const size_t slash = key.find('/');
  return slash == std::string::npos ? "default" : key.substr(0, slash);
}

std::string KeyName(const std::string& key) {
  const size_t slash = key.find('/');
  return slash == std::string::npos ? key : key.substr(slash + 1);
}

std::string DefaultStorePath() { return JoinPath(LoomHome(), "workflows.db"); }

StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& db_path) {
  std::string dir = Dirname(db_path);
  if (!dir.empty()) LOOM_RETURN_IF_ERROR(MakeDirs(dir));
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(db_path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Unavailable(db_path + ": cannot open the workflow store: " + msg);
  }
  std::unique_ptr<Store> store(new Store(db, db_path));
  sqlite3_busy_timeout(db, 30000);
  LOOM_RETURN_IF_ERROR(store->Exec("PRAGMA journal_mode=WAL"));
  LOOM_RETURN_IF_ERROR(store->Exec("PRAGMA synchronous=NORMAL"));
  LOOM_RETURN_IF_ERROR(store->Exec(kSchema));
  int64_t version = 0;
  {
    Stmt q(db, "PRAGMA user_version");
    if (q.Step() == SQLITE_ROW) version = q.Int(0);
  }
  if (version < 1) {
    if (Status s = store->Exec(kNamespacedKeys); !s.ok()) {
      (void)store->Exec("ROLLBACK");
      return s;
    }
  }
  return store;
}

Store::~Store() { sqlite3_close(db_); }

Status Store::Exec(const char* sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    return Internal("workflow store " + path_ + ": " + msg);
  }
  return OkStatus();
}

Status Store::BeginBatch() {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (batch_depth_ == 0) LOOM_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  // Stays locked until CommitBatch: other threads' writes wait instead of joining the batch.
  mu_.lock();
  ++batch_depth_;
  return OkStatus();
}

Status Store::CommitBatch() {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (batch_depth_ == 0) return Internal("workflow store: CommitBatch without BeginBatch");
  --batch_depth_;
  Status s = batch_depth_ == 0 ? Exec("COMMIT") : OkStatus();
  mu_.unlock();
  return s;
}

Status Store::InTransaction(const std::function<Status()>& body) {
  if (batch_depth_ > 0) return body();
  LOOM_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status s = body();
  Status end = Exec(s.ok() ? "COMMIT" : "ROLLBACK");
  return s.ok() ? end : s;
}

Status Store::CreateWorkflow(const Json& workflow) {
  if (workflow.value("metadata", Json::object()).value("name", "").empty())
    return InvalidArgument("workflow store: metadata.name is empty");
  const std::string name = ObjectKey(workflow);
  std::lock_guard<std::recursive_mutex> lock(mu_);
  return InTransaction([&]() -> Status {
    {
      Stmt check(db_, "SELECT 1 FROM workflows WHERE name = ?");
      check.Bind(1, name);
      if (check.Step() == SQLITE_ROW) {
        return AlreadyExists("workflow \"" + name + "\" already exists");
      }
    }
    Json status = workflow.value("status", Json::object());
    Json head = Head(workflow);
    const Json labels = PhaseLabels(status);
    if (!labels.empty() && head["metadata"].is_object()) head["metadata"]["labels"].merge_patch(labels);
    Stmt insert(db_, "INSERT INTO workflows (name, head, spec, status) VALUES (?, ?, ?, ?)");
    insert.Bind(1, name)
        .Bind(2, head.dump())
        .Bind(3, workflow.value("spec", Json::object()).dump())
        .Bind(4, StatusWithoutNodes(status).dump());
    if (insert.Step() != SQLITE_DONE) return DbError(db_, "insert " + name);
    if (status.contains("nodes") && status["nodes"].is_object()) {
      for (const auto& [id, node] : status["nodes"].items()) {
        Json n = node;
        n["id"] = id;
        Status s = PutNode(name, n);
        if (!s.ok()) return s;
      }
    }
    return OkStatus();
  });
}

StatusOr<Json> Store::GetWorkflowLocked(const std::string& name, bool with_nodes) const {
  Stmt q(db_, "SELECT head, spec, status FROM workflows WHERE name = ?");
  q.Bind(1, name);
  int rc = q.Step();
  if (rc == SQLITE_DONE) return NotFound("workflow \"" + name + "\" not found");
  if (rc != SQLITE_ROW) return DbError(db_, "read " + name);
  LOOM_ASSIGN_OR_RETURN(Json wf, ParseStored(q.Text(0), name + " metadata"));
  LOOM_ASSIGN_OR_RETURN(wf["spec"], ParseStored(q.Text(1), name + " spec"));
  LOOM_ASSIGN_OR_RETURN(wf["status"], ParseStored(q.Text(2), name + " status"));
  if (with_nodes) {
    Json nodes = Json::object();
    Stmt n(db_, "SELECT id, body FROM nodes WHERE workflow = ? ORDER BY rowid");
    n.Bind(1, name);
    while ((rc = n.Step()) == SQLITE_ROW) {
      LOOM_ASSIGN_OR_RETURN(Json node, ParseStored(n.Text(1), name + " node"));
      // Appended, not looked up: ids are the table's key, and a lookup in a Json object scans it
      // (quadratic over a 10,000-node workflow).
      nodes.get_ref<Json::object_t&>().Container::emplace_back(n.Text(0), std::move(node));
    }
    if (rc != SQLITE_DONE) return DbError(db_, "read nodes of " + name);
    wf["status"]["nodes"] = std::move(nodes);
  }
  return wf;
}

StatusOr<Json> Store::GetWorkflow(const std::string& name) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  // One read transaction, so the nodes match the status.
  if (batch_depth_ > 0) return GetWorkflowLocked(name, true);
  LOOM_RETURN_IF_ERROR(Exec("BEGIN"));
  StatusOr<Json> wf = GetWorkflowLocked(name, true);
  LOOM_RETURN_IF_ERROR(Exec("COMMIT"));
  return wf;
}

StatusOr<std::vector<Json>> Store::ListWorkflows() {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  std::vector<Json> out;
  Stmt q(db_, "SELECT head, spec, status FROM workflows ORDER BY seq DESC");
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    LOOM_ASSIGN_OR_RETURN(Json wf, ParseStored(q.Text(0), "workflow metadata"));
    LOOM_ASSIGN_OR_RETURN(wf["spec"], ParseStored(q.Text(1), "workflow spec"));
    LOOM_ASSIGN_OR_RETURN(wf["status"], ParseStored(q.Text(2), "workflow status"));
    out.push_back(std::move(wf));
  }
  if (rc != SQLITE_DONE) return DbError(db_, "list workflows");
  return out;
}

Status Store::UpdateWorkflow(const std::string& name, const Json& spec,
                             const Json& status_without_nodes) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  Stmt q(db_, ("UPDATE workflows SET spec = ?, status = ?, head = " + std::string(kPhaseLabelsSql) + " WHERE name = ?").c_str());
  q.Bind(1, spec.dump()).Bind(2, StatusWithoutNodes(status_without_nodes).dump());
  q.Bind(3, PhaseLabels(status_without_nodes).dump()).Bind(4, name);
  if (q.Step() != SQLITE_DONE) return DbError(db_, "update " + name);
  if (sqlite3_changes(db_) == 0) return NotFound("workflow \"" + name + "\" not found");
  return OkStatus();
}

Status Store::UpdateStatus(const std::string& name, const Json& status_without_nodes) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  Stmt q(db_, ("UPDATE workflows SET status = ?, head = " + std::string(kPhaseLabelsSql) + " WHERE name = ?").c_str());
  q.Bind(1, StatusWithoutNodes(status_without_nodes).dump());
  q.Bind(2, PhaseLabels(status_without_nodes).dump()).Bind(3, name);
  if (q.Step() != SQLITE_DONE) return DbError(db_, "update " + name);
  if (sqlite3_changes(db_) == 0) return NotFound("workflow \"" + name + "\" not found");
  return OkStatus();
}

Status Store::PutNode(const std::string& name, const Json& node) {
  std::string id = node.value("id", "");
  if (id.empty()) return InvalidArgument("workflow store: node without an id in " + name);
  std::lock_guard<std::recursive_mutex> lock(mu_);
  Stmt q(db_,
         "INSERT INTO nodes (workflow, id, body) VALUES (?, ?, ?) "
         "ON CONFLICT (workflow, id) DO UPDATE SET body = excluded.body");
  q.Bind(1, name).Bind(2, id).Bind(3, node.dump());
  if (q.Step() != SQLITE_DONE) return DbError(db_, "write node " + id);
  return OkStatus();
}

Status Store::PatchSpec(const std::string& name, const Json& merge_patch) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  return InTransaction([&]() -> Status {
    Stmt q(db_, "SELECT spec FROM workflows WHERE name = ?");
    q.Bind(1, name);
    int rc = q.Step();
    if (rc == SQLITE_DONE) return NotFound("workflow \"" + name + "\" not found");
    if (rc != SQLITE_ROW) return DbError(db_, "read " + name);
    LOOM_ASSIGN_OR_RETURN(Json spec, ParseStored(q.Text(0), name + " spec"));
    MergePatch(spec, merge_patch);
    Stmt u(db_, "UPDATE workflows SET spec = ? WHERE name = ?");
    u.Bind(1, spec.dump()).Bind(2, name);
    if (u.Step() != SQLITE_DONE) return DbError(db_, "update " + name);
    return OkStatus();
  });
}

Status Store::DeleteWorkflow(const std::string& name) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  return InTransaction([&]() -> Status {
    Stmt q(db_, "DELETE FROM workflows WHERE name = ?");
    q.Bind(1, name);
    if (q.Step() != SQLITE_DONE) return DbError(db_, "delete " + name);
    if (sqlite3_changes(db_) == 0) return NotFound("workflow \"" + name + "\" not found");
    for (const char* sql : {"DELETE FROM nodes WHERE workflow = ?", "DELETE FROM logs WHERE workflow = ?"}) {
      Stmt d(db_, sql);
      d.Bind(1, name);
      if (d.Step() != SQLITE_DONE) return DbError(db_, "delete " + name);
    }
    return ReleaseLocks(KeyNamespace(name) + "/" + KeyName(name), /*with_nodes=*/true);
  });
}

StatusOr<std::vector<LockState>> Store::AcquireLocks(const std::string& holder, const std::vector<LockRequest>& locks,
                                                     double now) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  std::vector<LockState> states;
  Status s = InTransaction([&]() -> Status {
    bool all = true;
    for (const LockRequest& r : locks) {
      LockState st;
      st.lock = r.lock;
      st.limit = r.limit;
      Stmt mine(db_, "SELECT held, since FROM sync_locks WHERE lock = ? AND holder = ?");
      mine.Bind(1, r.lock).Bind(2, holder);
      double since = now;
      if (mine.Step() == SQLITE_ROW) {
        st.acquired = sqlite3_column_int(mine.raw(), 0) != 0;
        since = sqlite3_column_double(mine.raw(), 1);
      } else {
        Stmt add(db_, "INSERT INTO sync_locks (lock, holder, held, since, seen) VALUES (?, ?, 0, ?, ?)");
        add.Bind(1, r.lock).Bind(2, holder).BindDouble(3, now).BindDouble(4, now);
        if (add.Step() != SQLITE_DONE) return DbError(db_, "wait for " + r.lock);
      }
      Stmt seen(db_, "UPDATE sync_locks SET seen = ? WHERE lock = ? AND holder = ?");
      seen.BindDouble(1, now).Bind(2, r.lock).Bind(3, holder);
      if (seen.Step() != SQLITE_DONE) return DbError(db_, "wait for " + r.lock);
      Stmt held(db_, "SELECT holder FROM sync_locks WHERE lock = ? AND held = 1 ORDER BY since, holder");
      held.Bind(1, r.lock);
      while (held.Step() == SQLITE_ROW) st.holders.push_back(held.Text(0));
      if (!st.acquired) {
        // Ahead in the queue: live waiters that started to wait first.
        Stmt ahead(db_, "SELECT count(*) FROM sync_locks WHERE lock = ? AND held = 0 AND holder != ? AND seen >= ? AND "
                        "(since < ? OR (since = ? AND holder < ?))");
        ahead.Bind(1, r.lock).Bind(2, holder).BindDouble(3, now - kLockWaiterTimeoutSeconds).BindDouble(4, since);
        ahead.BindDouble(5, since).Bind(6, holder);
        const int before = ahead.Step() == SQLITE_ROW ? sqlite3_column_int(ahead.raw(), 0) : 0;
        all = all && static_cast<int>(st.holders.size()) + before < r.limit;
      }
      states.push_back(std::move(st));
    }
    if (!all) return OkStatus();  // all or none (Argo's multiple locks)
    for (LockState& st : states) {
      if (st.acquired) continue;
      Stmt take(db_, "UPDATE sync_locks SET held = 1 WHERE lock = ? AND holder = ?");
      take.Bind(1, st.lock).Bind(2, holder);
      if (take.Step() != SQLITE_DONE) return DbError(db_, "take " + st.lock);
      st.acquired = true;
      st.holders.push_back(holder);
    }
    return OkStatus();
  });
  if (!s.ok()) return s;
  return states;
}

Status Store::ReleaseLocks(const std::string& holder, bool with_nodes) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  Stmt q(db_, with_nodes ? "DELETE FROM sync_locks WHERE holder = ? OR substr(holder, 1, length(?) + 1) = ? || '/'"
                         : "DELETE FROM sync_locks WHERE holder = ?");
  q.Bind(1, holder);
  if (with_nodes) q.Bind(2, holder).Bind(3, holder);
  if (q.Step() != SQLITE_DONE) return DbError(db_, "release the locks of " + holder);
  return OkStatus();
}

StatusOr<std::vector<LockHolding>> Store::ListLocks() const {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  std::vector<LockHolding> out;
  Stmt q(db_, "SELECT lock, holder, held FROM sync_locks ORDER BY lock, held DESC, since, holder");
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out.push_back({q.Text(0), q.Text(1), sqlite3_column_int(q.raw(), 2) != 0});
  if (rc != SQLITE_DONE) return DbError(db_, "list locks");
  return out;
}

StatusOr<Json> Store::GetSpec(const std::string& name) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  Stmt q(db_, "SELECT spec FROM workflows WHERE name = ?");
  q.Bind(1, name);
  int rc = q.Step();
  if (rc == SQLITE_DONE) return NotFound("workflow \"" + name + "\" not found");
  if (rc != SQLITE_ROW) return DbError(db_, "read " + name);
  return ParseStored(q.Text(0), name + " spec");
}

StatusOr<Json> Store::GetNode(const std::string& name, const std::string& node_id) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  Stmt q(db_, "SELECT body FROM nodes WHERE workflow = ? AND id = ?");
  q.Bind(1, name).Bind(2, node_id);
  int rc = q.Step();
  if (rc == SQLITE_DONE) return NotFound("workflow \"" + name + "\" has no node " + node_id);
  if (rc != SQLITE_ROW) return DbError(db_, "read node " + node_id);
  return ParseStored(q.Text(0), name + " node");
}

Status Store::DeleteNodes(const std::string& name, const std::vector<std::string>& node_ids) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  for (const std::string& id : node_ids) {
    Stmt q(db_, "DELETE FROM nodes WHERE workflow = ? AND id = ?");
    q.Bind(1, name).Bind(2, id);
    if (q.Step() != SQLITE_DONE) return DbError(db_, "delete node " + id);
  }
  return OkStatus();
}

Status Store::AppendLog(const std::string& name, const std::string& node_id, std::string_view bytes) {
  if (bytes.empty()) return OkStatus();
  std::lock_guard<std::recursive_mutex> lock(mu_);
  return InTransaction([&]() -> Status {
    int64_t size = 0;
    Stmt q(db_,
           "SELECT start + length(data) FROM logs WHERE workflow = ? AND node_id = ? "
           "ORDER BY start DESC LIMIT 1");
    q.Bind(1, name).Bind(2, node_id);
    if (q.Step() == SQLITE_ROW) size = q.Int(0);
    Stmt ins(db_, "INSERT INTO logs (workflow, node_id, start, data) VALUES (?, ?, ?, ?)");
    ins.Bind(1, name).Bind(2, node_id).Bind(3, size).BindBlob(4, bytes);
    if (ins.Step() != SQLITE_DONE) return DbError(db_, "append log of " + node_id);
    return OkStatus();
  });
}

StatusOr<std::string> Store::ReadLog(const std::string& name, const std::string& node_id,
                                     int64_t offset, int64_t limit, int64_t* total_size) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (offset < 0) offset = 0;
  int64_t size = 0;
  {
    Stmt q(db_,
           "SELECT start + length(data) FROM logs WHERE workflow = ? AND node_id = ? "
           "ORDER BY start DESC LIMIT 1");
    q.Bind(1, name).Bind(2, node_id);
    if (q.Step() == SQLITE_ROW) size = q.Int(0);
  }
  if (total_size) *total_size = size;
  int64_t end = limit < 0 ? size : std::min(size, offset + limit);
  std::string out;
  if (offset >= end) return out;
  // The chunk holding `offset` starts at or before it; the rest follow.
  Stmt q(db_,
         "SELECT start, data FROM logs WHERE workflow = ? AND node_id = ? AND start < ? AND "
         "start >= COALESCE((SELECT MAX(start) FROM logs WHERE workflow = ? AND node_id = ? AND "
         "start <= ?), 0) ORDER BY start");
  q.Bind(1, name).Bind(2, node_id).Bind(3, end).Bind(4, name).Bind(5, node_id).Bind(6, offset);
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    int64_t start = q.Int(0);
    std::string data = q.Blob(1);
    int64_t from = std::max<int64_t>(offset, start) - start;
    int64_t to = std::min<int64_t>(end, start + static_cast<int64_t>(data.size())) - start;
    if (to > from) out.append(data, from, to - from);
  }
  if (rc != SQLITE_DONE) return DbError(db_, "read log of " + node_id);
  return out;
}

Status Store::PutTemplate(const Json& workflow_template) {
  if (workflow_template.value("kind", "") == kClusterWorkflowTemplate) return PutObject(workflow_template);
  if (workflow_template.value("metadata", Json::object()).value("name", "").empty())
    return InvalidArgument("WorkflowTemplate: metadata.name is empty");
  const std::string name = ObjectKey(workflow_template);
  std::lock_guard<std::recursive_mutex> lock(mu_);
  Stmt q(db_,
         "INSERT INTO templates (name, body) VALUES (?, ?) "
         "ON CONFLICT (name) DO UPDATE SET body = excluded.body");
  q.Bind(1, name).Bind(2, workflow_template.dump());
  if (q.Step() != SQLITE_DONE) return DbError(db_, "write template " + name);
  return OkStatus();
}

StatusOr<Json> Store::GetTemplate(const std::string& name, bool cluster) const {
  if (cluster) return GetObject(kClusterWorkflowTemplate, name);
  std::lock_guard<std::recursive_mutex> lock(mu_);
  Stmt q(db_, "SELECT body FROM templates WHERE name = ?");
  q.Bind(1, name);
  int rc = q.Step();
  if (rc == SQLITE_DONE) return NotFound("WorkflowTemplate \"" + name + "\" not found");
  if (rc != SQLITE_ROW) return DbError(db_, "read template " + name);
  return ParseStored(q.Text(0), "WorkflowTemplate " + name);
}

StatusOr<std::vector<Json>> Store::ListTemplates(bool cluster) const {
  if (cluster) return ListObjects(kClusterWorkflowTemplate);
  std::lock_guard<std::recursive_mutex> lock(mu_);
  std::vector<Json> out;
  Stmt q(db_, "SELECT body FROM templates ORDER BY name");
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    LOOM_ASSIGN_OR_RETURN(Json t, ParseStored(q.Text(0), "WorkflowTemplate"));
    out.push_back(std::move(t));
  }
  if (rc != SQLITE_DONE) return DbError(db_, "list templates");
  return out;
}

Status Store::DeleteTemplate(const std::string& name, bool cluster) {
  if (cluster) return DeleteObject(kClusterWorkflowTemplate, name);
  std::lock_guard<std::recursive_mutex> lock(mu_);
  Stmt q(db_, "DELETE FROM templates WHERE name = ?");
  q.Bind(1, name);
  if (q.Step() != SQLITE_DONE) return DbError(db_, "delete template " + name);
  if (sqlite3_changes(db_) == 0) return NotFound("WorkflowTemplate \"" + name + "\" not found");
  return OkStatus();
}

Status Store::PutObject(const Json& object) {
  const std::string kind = object.value("kind", "");
  const std::string name = object.value("metadata", Json::object()).value("name", "");
  if (kind.empty() || name.empty()) return InvalidArgument(kind + ": kind and metadata.name are required");
  std::lock_guard<std::recursive_mutex> lock(mu_);
  Stmt q(db_,
         "INSERT INTO objects (kind, name, body) VALUES (?, ?, ?) "
         "ON CONFLICT (kind, name) DO UPDATE SET body = excluded.body");
  q.Bind(1, kind).Bind(2, name).Bind(3, object.dump());
  if (q.Step() != SQLITE_DONE) return DbError(db_, "write " + kind + " " + name);
  return OkStatus();
}

StatusOr<Json> Store::GetObject(const std::string& kind, const std::string& name) const {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  Stmt q(db_, "SELECT body FROM objects WHERE kind = ? AND name = ?");
  q.Bind(1, kind).Bind(2, name);
  int rc = q.Step();
  if (rc == SQLITE_DONE) return NotFound(kind + " \"" + name + "\" not found");
  if (rc != SQLITE_ROW) return DbError(db_, "read " + kind + " " + name);
  return ParseStored(q.Text(0), kind + " " + name);
}

StatusOr<std::vector<Json>> Store::ListObjects(const std::string& kind) const {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  std::vector<Json> out;
  Stmt q(db_, "SELECT body FROM objects WHERE kind = ? ORDER BY name");
  q.Bind(1, kind);
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    LOOM_ASSIGN_OR_RETURN(Json t, ParseStored(q.Text(0), kind));
    out.push_back(std::move(t));
  }
  if (rc != SQLITE_DONE) return DbError(db_, "list " + kind);
  return out;
}

Status Store::DeleteObject(const std::string& kind, const std::string& name) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  Stmt q(db_, "DELETE FROM objects WHERE kind = ? AND name = ?");
  q.Bind(1, kind).Bind(2, name);
  if (q.Step() != SQLITE_DONE) return DbError(db_, "delete " + kind + " " + name);
  if (sqlite3_changes(db_) == 0) return NotFound(kind + " \"" + name + "\" not found");
  return OkStatus();
}

}  // namespace loom::workflow

namespace loom::workflow {

std::string StoreLibraryVersion() {
  return sqlite3_libversion();
}

}  // namespace loom::workflow
