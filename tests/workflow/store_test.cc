// The SQLite store: workflows with nodes in their own rows, logs paged by offset, templates, and
// two connections (two processes' worth) on one file.
#include "workflow/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "test_util/test_env.h"

namespace loom::workflow {
namespace {

Json Workflow(const std::string& name) {
  return {{"apiVersion", "argoproj.io/v1alpha1"},
          {"kind", "Workflow"},
          {"metadata", {{"name", name}}},
          {"spec", {{"entrypoint", "main"}}},
          {"status", {{"phase", "Pending"}}}};
}

TEST(Store, WorkflowsAndNodes) {
  loom::testing::ScratchDir dir;
  auto store = Store::Open(dir.Join("sub/workflows.db"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Store& s = **store;
  ASSERT_TRUE(s.CreateWorkflow(Workflow("a")).ok());
  ASSERT_TRUE(s.CreateWorkflow(Workflow("b")).ok());
  EXPECT_EQ(s.CreateWorkflow(Workflow("a")).code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(s.PutNode("a", {{"id", "a"}, {"name", "a"}, {"phase", "Running"}}).ok());
  ASSERT_TRUE(s.PutNode("a", {{"id", "a-1"}, {"name", "a.x"}, {"phase", "Pending"}}).ok());
  ASSERT_TRUE(s.PutNode("a", {{"id", "a-1"}, {"name", "a.x"}, {"phase", "Succeeded"}}).ok());
  auto wf = s.GetWorkflow("a");
  ASSERT_TRUE(wf.ok());
  EXPECT_EQ((*wf)["status"]["nodes"].size(), 2u);
  EXPECT_EQ((*wf)["status"]["nodes"]["a-1"]["phase"], "Succeeded");
  EXPECT_EQ((*wf)["metadata"]["name"], "a");
  auto list = s.ListWorkflows();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0]["metadata"]["name"], "b");  // newest first
  EXPECT_FALSE((*list)[1]["status"].contains("nodes"));
  ASSERT_TRUE(s.UpdateWorkflow("a", {{"entrypoint", "other"}}, {{"phase", "Running"}, {"nodes", {{"x", 1}}}}).ok());
  ASSERT_TRUE(s.PatchSpec("a", {{"shutdown", "Stop"}, {"entrypoint", nullptr}}).ok());
  auto spec = s.GetSpec("a");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(*spec, (Json{{"shutdown", "Stop"}}));
  ASSERT_TRUE(s.UpdateStatus("a", {{"phase", "Succeeded"}}).ok());  // the spec stays as patched
  EXPECT_EQ(*s.GetSpec("a"), (Json{{"shutdown", "Stop"}}));
  EXPECT_EQ((*s.GetWorkflow("a"))["status"]["phase"], "Succeeded");
  EXPECT_EQ(s.UpdateStatus("zz", {}).code(), StatusCode::kNotFound);
  EXPECT_EQ((*s.GetWorkflow("a"))["status"]["nodes"].size(), 2u);
  EXPECT_EQ(s.GetNode("a", "a-1")->value("phase", ""), "Succeeded");
  EXPECT_EQ(s.GetNode("a", "zz").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(s.DeleteNodes("a", {"a-1"}).ok());
  EXPECT_EQ((*s.GetWorkflow("a"))["status"]["nodes"].size(), 1u);
  ASSERT_TRUE(s.AppendLog("a", "a", "hello").ok());
  ASSERT_TRUE(s.DeleteWorkflow("a").ok());
  EXPECT_EQ(s.GetWorkflow("a").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(s.DeleteWorkflow("a").code(), StatusCode::kNotFound);
  EXPECT_EQ(*s.ReadLog("a", "a", 0, -1, nullptr), "");
}

TEST(Store, LogsArePagedByOffset) {
  loom::testing::ScratchDir dir;
  auto s = std::move(Store::Open(dir.Join("w.db"))).value();
  std::string all;
  for (int i = 0; i < 50; ++i) {
    std::string chunk = "line " + std::to_string(i) + "\n";
    all += chunk;
    ASSERT_TRUE(s->AppendLog("wf", "n1", chunk).ok());
  }
  ASSERT_TRUE(s->AppendLog("wf", "n2", "other").ok());
  int64_t total = 0;
  EXPECT_EQ(*s->ReadLog("wf", "n1", 0, -1, &total), all);
  EXPECT_EQ(total, static_cast<int64_t>(all.size()));
  for (int64_t off : {0, 3, 7, 100, 250}) {
    for (int64_t lim : {1, 5, 13, 1000}) {
      EXPECT_EQ(*s->ReadLog("wf", "n1", off, lim, nullptr), all.substr(std::min<size_t>(off, all.size()), lim))
          << off << "+" << lim;
    }
  }
  EXPECT_EQ(*s->ReadLog("wf", "n1", 10000, 10, nullptr), "");
}

TEST(Store, TemplatesAndSecondConnection) {
  loom::testing::ScratchDir dir;
  auto a = std::move(Store::Open(dir.Join("w.db"))).value();
  auto b = std::move(Store::Open(dir.Join("w.db"))).value();
  Json t = {{"apiVersion", "argoproj.io/v1alpha1"}, {"kind", "WorkflowTemplate"}, {"metadata", {{"name", "t1"}}},
            {"spec", {{"templates", Json::array()}}}};
  ASSERT_TRUE(a->PutTemplate(t).ok());
  EXPECT_EQ(b->GetTemplate("t1")->value("kind", ""), "WorkflowTemplate");
  EXPECT_EQ(b->ListTemplates()->size(), 1u);
  EXPECT_EQ(b->GetTemplate("nope").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(b->DeleteTemplate("t1").ok());
  EXPECT_EQ(a->GetTemplate("t1").status().code(), StatusCode::kNotFound);
  // A batch on one connection; the other sees all of it after the commit.
  ASSERT_TRUE(a->CreateWorkflow(Workflow("w")).ok());
  ASSERT_TRUE(a->BeginBatch().ok());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(a->PutNode("w", {{"id", "n" + std::to_string(i)}}).ok());
  ASSERT_TRUE(a->CommitBatch().ok());
  EXPECT_EQ((*b->GetWorkflow("w"))["status"]["nodes"].size(), 100u);
}

// Names are unique per namespace, as in Argo: the same name in two namespaces is two workflows
// (and two templates), each found by its key. Before, the second was refused as existing.
TEST(Store, SameNameInTwoNamespaces) {
  loom::testing::ScratchDir dir;
  auto store = Store::Open(dir.Join("workflows.db"));
  ASSERT_TRUE(store.ok());
  Store& s = **store;
  Json in_team = Workflow("hello");
  in_team["metadata"]["namespace"] = "team";
  ASSERT_TRUE(s.CreateWorkflow(Workflow("hello")).ok());
  ASSERT_TRUE(s.CreateWorkflow(in_team).ok());
  EXPECT_EQ(s.CreateWorkflow(in_team).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(ObjectKey(in_team), "team/hello");
  EXPECT_EQ(ObjectKey(Workflow("hello")), "hello");
  EXPECT_EQ(ObjectKey("default", "hello"), "hello");
  EXPECT_EQ(KeyNamespace("team/hello"), "team");
  EXPECT_EQ(KeyName("team/hello"), "hello");
  EXPECT_EQ(KeyNamespace("hello"), "default");
  ASSERT_TRUE(s.PutNode("team/hello", {{"id", "hello"}, {"name", "hello"}, {"phase", "Failed"}}).ok());
  ASSERT_TRUE(s.AppendLog("team/hello", "hello", "team's log").ok());
  EXPECT_EQ((*s.GetWorkflow("team/hello"))["status"]["nodes"]["hello"]["phase"], "Failed");
  EXPECT_TRUE((*s.GetWorkflow("hello"))["status"]["nodes"].empty());
  EXPECT_EQ(*s.ReadLog("hello", "hello", 0, -1, nullptr), "");
  ASSERT_TRUE(s.DeleteWorkflow("team/hello").ok());
  EXPECT_TRUE(s.GetWorkflow("hello").ok());

  Json t = {{"apiVersion", "argoproj.io/v1alpha1"}, {"kind", "WorkflowTemplate"}, {"metadata", {{"name", "t"}}},
            {"spec", {{"entrypoint", "default-one"}}}};
  ASSERT_TRUE(s.PutTemplate(t).ok());
  t["metadata"]["namespace"] = "team";
  t["spec"]["entrypoint"] = "team-one";
  ASSERT_TRUE(s.PutTemplate(t).ok());
  EXPECT_EQ((*s.GetTemplate("t"))["spec"]["entrypoint"], "default-one");
  EXPECT_EQ((*s.GetTemplate("team/t"))["spec"]["entrypoint"], "team-one");
}

// A store written when every object was kept under its bare name: those of other namespaces
// move to their keys when it is opened.
TEST(Store, OlderStoreMovesToNamespacedKeys) {
  loom::testing::ScratchDir dir;
  const std::string path = dir.Join("workflows.db");
  {
    auto store = Store::Open(path);
    ASSERT_TRUE(store.ok());
  }
  // What an older loom wrote: "team"'s workflow and template under their bare names.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  const char* older = R"sql(
    PRAGMA user_version = 0;
    INSERT INTO workflows (name, head, spec, status)
      VALUES ('old', '{"metadata": {"name": "old", "namespace": "team"}}', '{}', '{}');
    INSERT INTO nodes (workflow, id, body) VALUES ('old', 'old', '{"id": "old"}');
    INSERT INTO logs (workflow, node_id, start, data) VALUES ('old', 'old', 0, x'6869');
    INSERT INTO workflows (name, head, spec, status) VALUES ('plain', '{"metadata": {"name": "plain"}}', '{}', '{}');
    INSERT INTO templates (name, body) VALUES ('t', '{"metadata": {"name": "t", "namespace": "team"}}');
  )sql";
  EXPECT_EQ(sqlite3_exec(db, older, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
  auto store = Store::Open(path);
  ASSERT_TRUE(store.ok()) << store.status().message();
  EXPECT_EQ((*store)->GetWorkflow("old").status().code(), StatusCode::kNotFound);
  auto moved = (*store)->GetWorkflow("team/old");
  ASSERT_TRUE(moved.ok()) << moved.status().message();
  EXPECT_TRUE((*moved)["status"]["nodes"].contains("old"));
  EXPECT_EQ(*(*store)->ReadLog("team/old", "old", 0, -1, nullptr), "hi");
  EXPECT_TRUE((*store)->GetWorkflow("plain").ok());
  EXPECT_TRUE((*store)->GetTemplate("team/t").ok());
  EXPECT_EQ((*store)->GetTemplate("t").status().code(), StatusCode::kNotFound);
}

}  // namespace
// Locks through two connections (two engines' processes): a semaphore of 2 goes to the first
// two in line, the third waits its turn; a request for several locks takes all or none; a
// waiter whose engine stopped asking is passed over; deleting a workflow releases its locks.
// The phase labels follow every status write.
TEST(Store, LocksAcrossConnectionsAndPhaseLabels) {
  loom::testing::ScratchDir dir;
  auto one = Store::Open(dir.Join("workflows.db"));
  auto two = Store::Open(dir.Join("workflows.db"));
  ASSERT_TRUE(one.ok() && two.ok());
  const std::vector<LockRequest> sem = {{"default/ConfigMap/limits/w", 2}};
  EXPECT_TRUE((*one)->AcquireLocks("default/a", sem, 100).value()[0].acquired);
  auto b = (*two)->AcquireLocks("default/b", sem, 101).value();
  EXPECT_TRUE(b[0].acquired);
  EXPECT_EQ(b[0].holders, (std::vector<std::string>{"default/a", "default/b"}));
  EXPECT_FALSE((*one)->AcquireLocks("default/c", sem, 102).value()[0].acquired);
  EXPECT_FALSE((*two)->AcquireLocks("default/d", sem, 103).value()[0].acquired);
  ASSERT_TRUE((*two)->ReleaseLocks("default/a").ok());
  // c waited first: d may not jump the queue, c gets the place.
  EXPECT_FALSE((*two)->AcquireLocks("default/d", sem, 104).value()[0].acquired);
  EXPECT_TRUE((*one)->AcquireLocks("default/c", sem, 105).value()[0].acquired);
  // All or none: e gets the mutex only with the semaphore, which is full.
  const std::vector<LockRequest> both = {{"default/Mutex/m", 1}, sem[0]};
  auto e = (*one)->AcquireLocks("default/e/node-1", both, 106).value();
  EXPECT_FALSE(e[0].acquired);
  EXPECT_FALSE(e[1].acquired);
  // e is in line for the mutex too, so f, after it, does not get it though it is free.
  EXPECT_FALSE((*two)->AcquireLocks("default/f", {both[0]}, 107).value()[0].acquired);
  // d's engine stopped asking: after the timeout e is first in line for the semaphore.
  ASSERT_TRUE((*one)->ReleaseLocks("default/b").ok());
  ASSERT_TRUE((*one)->ReleaseLocks("default/f").ok());
  const double later = 106 + kLockWaiterTimeoutSeconds + 1;
  EXPECT_TRUE((*one)->AcquireLocks("default/e/node-1", both, later).value()[1].acquired);
  // Deleting workflow e releases what its templates hold.
  ASSERT_TRUE((*one)->CreateWorkflow(Workflow("e")).ok());
  ASSERT_TRUE((*one)->DeleteWorkflow("e").ok());
  const std::vector<LockHolding> left = (*two)->ListLocks().value();
  for (const LockHolding& l : left) EXPECT_NE(l.holder, "default/e/node-1");
  // Labels: Argo's phase and completed, with every status write.
  ASSERT_TRUE((*one)->CreateWorkflow(Workflow("g")).ok());
  Json labels = (*two)->GetWorkflow("g").value()["metadata"]["labels"];
  EXPECT_EQ(labels["workflows.argoproj.io/phase"], "Pending");
  EXPECT_EQ(labels["workflows.argoproj.io/completed"], "false");
  ASSERT_TRUE((*two)->UpdateStatus("g", {{"phase", "Failed"}}).ok());
  labels = (*one)->GetWorkflow("g").value()["metadata"]["labels"];
  EXPECT_EQ(labels["workflows.argoproj.io/phase"], "Failed");
  EXPECT_EQ(labels["workflows.argoproj.io/completed"], "true");
}

}  // namespace loom::workflow
