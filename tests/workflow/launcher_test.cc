// The launcher: one spelling of a workflow's run lock and pods for the engine, the CLI and the
// server; BeingRun that never takes the lock (so an engine starting meanwhile is not turned
// away); server.json found only while its server lives; a parameter file read one way.
#include "workflow/launcher.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <thread>

#include "core/file.h"
#include "net/auth_token.h"
#include "workflow/engine.h"
#include "workflow/spec.h"
#include "test_util/test_env.h"

namespace loom::workflow {
namespace {

// A name that is not a file name as it is: the lock and the pods are spelled SafeFileName's way
// by every caller.
TEST(Launcher, OneSpellingOfTheLockAndPodPaths) {
  loom::testing::ScratchDir home;
  const std::string name = "odd name:1";
  EXPECT_EQ(RunLockPath(home.path(), name), home.Join("run/odd_name_1.lock"));
  EXPECT_EQ(EngineLogPath(home.path(), name), home.Join("run/odd_name_1.engine.log"));
  EXPECT_EQ(WorkflowPodsDir(home.path(), name), home.Join("pods/odd_name_1"));
  EXPECT_EQ(PodDir(home.path(), name, "odd name:1-42"), home.Join("pods/odd_name_1/odd_name_1-42"));

  auto before = BeingRun(home.path(), name);
  ASSERT_TRUE(before.ok()) << before.status().message();
  EXPECT_FALSE(*before);
  {
    auto lock = RunLock::Acquire(home.path(), name);
    ASSERT_TRUE(lock.ok()) << lock.status().message();
    EXPECT_TRUE(PathExists(home.Join("run/odd_name_1.lock")));
    auto held = BeingRun(home.path(), name);
    ASSERT_TRUE(held.ok());
    EXPECT_TRUE(*held);
    auto second = RunLock::Acquire(home.path(), name);
    EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(second.status().message(), "workflow odd name:1 is being run by pid " + std::to_string(getpid()));
  }
  auto after = BeingRun(home.path(), name);
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(*after);
}

// The same name in two namespaces: two locks, two pods folders, neither a default workflow's
// (a namespaced key's '/' becomes a '~', which SafeFileName never writes). Before, the lock of
// one was the other's: an engine running team/hello refused to run hello.
TEST(Launcher, EachNamespaceHasItsOwnLockAndPods) {
  loom::testing::ScratchDir home;
  EXPECT_EQ(RunLockPath(home.path(), "team/hello"), home.Join("run/team~hello.lock"));
  EXPECT_EQ(PodDir(home.path(), "team/hello", "hello-1"), home.Join("pods/team~hello/hello-1"));
  EXPECT_NE(WorkflowPodsDir(home.path(), "team/hello"), WorkflowPodsDir(home.path(), "team_hello"));
  EXPECT_NE(WorkflowPodsDir(home.path(), "team/hello"), WorkflowPodsDir(home.path(), "team~hello"));
  auto team = RunLock::Acquire(home.path(), "team/hello");
  ASSERT_TRUE(team.ok()) << team.status().message();
  auto plain = RunLock::Acquire(home.path(), "hello");
  EXPECT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_TRUE(*BeingRun(home.path(), "team/hello"));
  EXPECT_FALSE(*BeingRun(home.path(), "other/hello"));
}

// Another workflow's lock is not this one's.
TEST(Launcher, BeingRunIsPerWorkflow) {
  loom::testing::ScratchDir home;
  auto lock = RunLock::Acquire(home.path(), "a");
  ASSERT_TRUE(lock.ok());
  ASSERT_TRUE(WriteFileAtomic(RunLockPath(home.path(), "b"), "").ok());
  EXPECT_TRUE(*BeingRun(home.path(), "a"));
  EXPECT_FALSE(*BeingRun(home.path(), "b"));
}

// The CLI asking over and over while an engine takes and lets go of the lock: every take
// succeeds (a probe that took the lock itself, even for an instant, turned engines away).
TEST(Launcher, AskingNeverTurnsAnEngineAway) {
  loom::testing::ScratchDir home;
  ASSERT_TRUE(RunLock::Acquire(home.path(), "wf").ok());
  std::atomic<bool> stop{false};
  std::atomic<int> asked{0};
  std::thread cli([&] {
    while (!stop.load()) {
      auto held = BeingRun(home.path(), "wf");
      ASSERT_TRUE(held.ok());
      asked.fetch_add(1);
    }
  });
  while (asked.load() == 0) std::this_thread::yield();
  int refused = 0, held_seen = 0;
  for (int i = 0; i < 500; ++i) {
    auto lock = RunLock::Acquire(home.path(), "wf");
    if (!lock.ok()) {
      ++refused;
      continue;
    }
    held_seen += *BeingRun(home.path(), "wf") ? 1 : 0;
  }
  stop = true;
  cli.join();
  EXPECT_EQ(refused, 0) << "of 500 engines starting while the CLI asked " << asked.load() << " times";
  EXPECT_EQ(held_seen, 500);
  EXPECT_GT(asked.load(), 0);
}

TEST(Launcher, ServerFoundOnlyWhileItsProcessLives) {
  loom::testing::ScratchDir home;
  EXPECT_EQ(FindRunningServer(home.path()).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(WriteServerInfo(home.path(), {"127.0.0.1:2746", "http://127.0.0.1:2746", getpid()}).ok());
  // It wants a token (--auth-mode client) and there is none to read: an error, not "no server".
  EXPECT_EQ(FindRunningServer(home.path()).status().code(), StatusCode::kFailedPrecondition);
  auto token = net::LoadOrCreateToken(net::TokenPath(home.path()));
  ASSERT_TRUE(token.ok()) << token.status().message();
  auto found = FindRunningServer(home.path());
  ASSERT_TRUE(found.ok()) << found.status().message();
  EXPECT_EQ(found->url, "http://127.0.0.1:2746");
  EXPECT_EQ(found->address, "127.0.0.1:2746");
  EXPECT_EQ(found->pid, getpid());
  EXPECT_EQ(found->token, *token);
  // A server that died without removing server.json (kill -9): not found.
  pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  ASSERT_TRUE(WriteServerInfo(home.path(), {"127.0.0.1:2746", "http://127.0.0.1:2746", child}).ok());
  EXPECT_EQ(FindRunningServer(home.path()).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(WriteFileAtomic(home.Join("server.json"), "{\"pid\": \"x\"}").ok());
  EXPECT_EQ(FindRunningServer(home.path()).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(RemoveServerInfo(home.path()).ok());
  EXPECT_FALSE(PathExists(home.Join("server.json")));
}

TEST(Launcher, DeleteWorkflowDataRemovesRowsAndPods) {
  loom::testing::ScratchDir home;
  auto store = Store::Open(home.Join("workflows.db"));
  ASSERT_TRUE(store.ok());
  const std::string name = "odd name";
  ASSERT_TRUE((*store)->CreateWorkflow({{"apiVersion", "argoproj.io/v1alpha1"}, {"kind", "Workflow"},
                                        {"metadata", {{"name", name}}}, {"spec", {{"entrypoint", "main"}}},
                                        {"status", {{"phase", "Succeeded"}}}}).ok());
  ASSERT_TRUE(MakeDirs(PodDir(home.path(), name, "n1")).ok());
  ASSERT_TRUE(DeleteWorkflowData(**store, home.path(), name).ok());
  EXPECT_EQ((*store)->GetWorkflow(name).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(PathExists(WorkflowPodsDir(home.path(), name)));
  EXPECT_EQ(DeleteWorkflowData(**store, home.path(), name).code(), StatusCode::kNotFound);
}

// A parameter file's values as Argo's CLI reads them, whichever route the submission takes.
TEST(Launcher, ParameterFileValues) {
  loom::testing::ScratchDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.Join("p.yaml"), "a: text\nb: null\nc: 3\nd: [1, 2]\ne: ''\n").ok());
  auto values = ReadParameterFile(dir.Join("p.yaml"));
  ASSERT_TRUE(values.ok()) << values.status().message();
  std::map<std::string, std::string> got(values->begin(), values->end());
  EXPECT_EQ(got, (std::map<std::string, std::string>{{"a", "text"}, {"b", "null"}, {"c", "3"}, {"d", "[1,2]"}, {"e", ""}}));
  ASSERT_TRUE(WriteFileAtomic(dir.Join("list.yaml"), "- a\n").ok());
  EXPECT_EQ(ReadParameterFile(dir.Join("list.yaml")).status().code(), StatusCode::kInvalidArgument);
}

// Pods whose runner throws (a bug, or memory running out) for the workflows named "throw-*", and
// succeed otherwise.
class ThrowingPods : public PodRunner {
 public:
  PodResult Run(const PodRequest& request, Store&) override {
    if (request.workflow.rfind("throw-", 0) == 0) throw std::runtime_error("pod runner exploded");
    return {"Succeeded", "", Json::object()};
  }
};

// An exception escaping an engine's thread (the pod's, or the run's own) ends that workflow as
// an Error naming it; the process (a `loom server` running other workflows) lives on and runs
// the next one. Before the boundary the first throw ended the whole process.
TEST(Launcher, AnExceptionIsTheWorkflowsErrorNotTheProcesss) {
  loom::testing::ScratchDir home;
  auto store = Store::Open(home.Join("workflows.db"));
  ASSERT_TRUE(store.ok());
  ThrowingPods pods;
  std::atomic<bool> throw_on_change{false};
  EngineOptions options;
  options.store = store->get();
  options.pods = &pods;
  options.home = home.path();
  options.poll_interval_ms = 20;
  options.on_change = [&](const std::string& workflow) {
    if (workflow == "bad-pass" && throw_on_change.load()) throw std::logic_error("a pass went wrong");
  };
  auto engine = Engine::Create(options);
  ASSERT_TRUE(engine.ok());
  Launcher launcher(store->get(), engine->get(), home.path());
  auto submit = [&](const std::string& name) {
    auto manifest = LoadManifest(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: " + name + "}\nspec:\n  entrypoint: main\n  templates:\n"
        "  - name: main\n    container: {image: busybox, command: [\"true\"]}\n",
        "test.yaml");
    EXPECT_TRUE(manifest.ok()) << manifest.status().message();
    auto submitted = (*engine)->Submit(*manifest, {});
    EXPECT_TRUE(submitted.ok()) << submitted.status().message();
  };
  auto wait_for_end = [&](const std::string& name) {
    for (int i = 0; i < 500; ++i) {
      auto wf = (*store)->GetWorkflow(name);
      if (wf.ok() && IsCompletedPhase((*wf)["status"].value("phase", ""))) return *wf;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << name << " did not end";
    return Json::object();
  };

  submit("throw-pod");
  launcher.Start("throw-pod");
  Json wf = wait_for_end("throw-pod");
  EXPECT_EQ(wf["status"].value("phase", ""), "Error");
  EXPECT_EQ(wf["status"]["nodes"]["throw-pod"].value("phase", ""), "Error");
  EXPECT_EQ(wf["status"]["nodes"]["throw-pod"].value("message", ""),
            "internal error in the pod runner: pod runner exploded");

  submit("bad-pass");
  throw_on_change = true;
  launcher.Start("bad-pass");
  wf = wait_for_end("bad-pass");
  EXPECT_EQ(wf["status"].value("phase", ""), "Error");
  EXPECT_EQ(wf["status"].value("message", ""), "internal error in the workflow engine: a pass went wrong");
  throw_on_change = false;

  submit("fine");
  launcher.Start("fine");
  EXPECT_EQ(wait_for_end("fine")["status"].value("phase", ""), "Succeeded");
  for (int i = 0; i < 500 && launcher.active_runs() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(launcher.active_runs(), 0);
}

}  // namespace
}  // namespace loom::workflow
