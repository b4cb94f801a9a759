// The engine's life cycle on the real pod runner: a kill -9 halfway and a resume that re-runs no
// finished node, the run lock, shutdown and resume in one process, retry, resubmit, terminate,
// workflow-level suspend, and submit's names and parameters.
#include "workflow/engine.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <thread>

#include "core/file.h"
#include "test_util/test_env.h"
#include "workflow/engine_fixture.h"
#include "workflow/engine_process.h"
#include "workflow/pod_runner.h"
#include "workflow/spec.h"

namespace loom::workflow {
namespace {

// A workflow whose steps append their names to <dir>/ran (a hostPath volume), one slow step in
// the middle.
std::string AppendingWorkflow(const std::string& name) {
  return R"(apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: )" + name + R"(}
spec:
  entrypoint: main
  arguments:
    parameters: [{name: dir}]
  volumes:
  - {name: shared, hostPath: {path: "{{workflow.parameters.dir}}"}}
  templates:
  - name: main
    steps:
    - - {name: one, template: append, arguments: {parameters: [{name: what, value: one}, {name: secs, value: "0"}]}}
    - - {name: two, template: append, arguments: {parameters: [{name: what, value: two}, {name: secs, value: "5"}]}}
      - {name: side, template: append, arguments: {parameters: [{name: what, value: side}, {name: secs, value: "0"}]}}
    - - {name: three, template: append, arguments: {parameters: [{name: what, value: three}, {name: secs, value: "0"}]}}
  - name: append
    inputs:
      parameters: [{name: what}, {name: secs}]
    script:
      image: alpine:3.18
      command: [sh]
      source: |
        sleep {{inputs.parameters.secs}}
        echo {{inputs.parameters.what}} >> /shared/ran
      volumeMounts: [{name: shared, mountPath: /shared}]
)";
}

class EngineTest : public RealEngineTest {
 protected:
  void SetUp() override {
    StartEngine(1);
    ASSERT_TRUE(MakeDirs(home_.Join("shared")).ok());
  }
  // Polls the store until `node_name` is in `phase` (or 60 s pass: then the test fails).
  bool WaitForPhase(const std::string& wf, const std::string& node_name, const std::string& phase) {
    for (int i = 0; i < 3000; ++i) {
      if (Node(wf, node_name).value("phase", "") == phase) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  std::string Phase(const std::string& wf) { return (*store_->GetWorkflow(wf))["status"].value("phase", ""); }
  std::string Ran() {
    auto text = ReadFile(home_.Join("shared/ran"));
    return text.ok() ? *text : "";
  }
  static int Count(const std::string& text, const std::string& line) {
    int n = 0;
    for (size_t p = 0; (p = text.find(line + "\n", p)) != std::string::npos; p += line.size() + 1) {
      if (p == 0 || text[p - 1] == '\n') ++n;
    }
    return n;
  }

};

TEST_F(EngineTest, KillNineHalfwayThenResumeRunsNoFinishedNodeTwice) {
  SubmitOptions options;
  options.parameters = {{"dir", home_.Join("shared")}};
  std::string name = Submit(AppendingWorkflow("killed"), options);
  pid_t pid = StartEngineProcess(home_.path(), name);
  ASSERT_GT(pid, 0);
  // Kill it while `two` runs: `one` and `side` have finished by then.
  ASSERT_TRUE(WaitForPhase(name, "killed[1].side", "Succeeded"));
  ASSERT_TRUE(WaitForPhase(name, "killed[1].two", "Running"));
  std::string one_finished = Node(name, "killed[0].one").value("finishedAt", "");
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_EQ(Phase(name), "Running");
  EXPECT_EQ(Node(name, "killed[1].two").value("phase", ""), "Running");

  // Resume in a new process: it ends, and nothing that had finished runs again.
  pid = StartEngineProcess(home_.path(), name);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(Phase(name), "Succeeded");
  std::string ran = Ran();
  EXPECT_EQ(Count(ran, "one"), 1) << ran;
  EXPECT_EQ(Count(ran, "side"), 1) << ran;
  EXPECT_EQ(Count(ran, "three"), 1) << ran;
  // `two` was running when the engine died: it runs again (its first process, orphaned by the
  // kill, may have finished too).
  EXPECT_GE(Count(ran, "two"), 1) << ran;
  EXPECT_EQ(Node(name, "killed[0].one").value("finishedAt", ""), one_finished);
}

TEST_F(EngineTest, OneRunAtATime) {
  SubmitOptions options;
  options.parameters = {{"dir", home_.Join("shared")}};
  std::string name = Submit(AppendingWorkflow("locked"), options);
  std::thread first([&] { EXPECT_TRUE(engine_->Run(name).ok()); });
  ASSERT_TRUE(WaitForPhase(name, "locked[1].two", "Running"));
  Status second = NewEngine()->Run(name);
  EXPECT_EQ(second.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(second.message(), "workflow locked is being run by pid " + std::to_string(getpid()));
  first.join();
  EXPECT_EQ(Phase(name), "Succeeded");
  EXPECT_TRUE(engine_->Run(name).ok());  // a finished workflow: nothing to do
  Status stop = engine_->Stop(name);
  EXPECT_EQ(stop.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(stop.message(), "cannot stop workflow locked: it has already ended (Succeeded)");
  EXPECT_EQ(engine_->Suspend("nope").code(), StatusCode::kNotFound);
}

TEST_F(EngineTest, ShutdownLeavesItRunningAndANewEngineFinishesIt) {
  SubmitOptions options;
  options.parameters = {{"dir", home_.Join("shared")}};
  std::string name = Submit(AppendingWorkflow("paused"), options);
  std::thread stopper([&] {
    WaitForPhase(name, "paused[1].two", "Running");
    engine_->RequestShutdown();
  });
  Status s = engine_->Run(name);
  stopper.join();
  EXPECT_EQ(s.code(), StatusCode::kCancelled) << s.ToString();
  EXPECT_EQ(Phase(name), "Running");
  EXPECT_EQ(Node(name, "paused[1].two").value("phase", ""), "Running");
  auto again = NewEngine();
  ASSERT_TRUE(again->Run(name).ok());
  EXPECT_EQ(Phase(name), "Succeeded");
  std::string ran = Ran();
  EXPECT_EQ(Count(ran, "one"), 1) << ran;
  EXPECT_EQ(Count(ran, "two"), 1) << ran;  // the cancelled attempt was killed before it wrote
  EXPECT_EQ(Count(ran, "three"), 1) << ran;
}

constexpr const char* kFlaky = R"(apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: flaky-}
spec:
  entrypoint: main
  arguments:
    parameters: [{name: dir}]
  volumes:
  - {name: shared, hostPath: {path: "{{workflow.parameters.dir}}"}}
  onExit: bye
  templates:
  - name: main
    steps:
    - - {name: first, template: ok}
    - - {name: flaky, template: flaky}
  - name: ok
    script: {image: alpine, command: [sh], source: "echo first >> /shared/ran", volumeMounts: [{name: shared, mountPath: /shared}]}
  - name: flaky
    script:
      image: alpine
      command: [sh]
      source: |
        echo flaky >> /shared/ran
        [ $(grep -c flaky /shared/ran) -ge 2 ]
      volumeMounts: [{name: shared, mountPath: /shared}]
  - name: bye
    script: {image: alpine, command: [sh], source: "echo bye-{{workflow.status}} >> /shared/ran", volumeMounts: [{name: shared, mountPath: /shared}]}
)";

TEST_F(EngineTest, RetryRunsTheFailedNodesAgainUnderTheSameName) {
  SubmitOptions options;
  options.parameters = {{"dir", home_.Join("shared")}};
  std::string name = Submit(kFlaky, options);
  EXPECT_TRUE(std::regex_match(name, std::regex("flaky-[bcdfghjklmnpqrstvwxz2456789]{5}"))) << name;
  ASSERT_TRUE(engine_->Run(name).ok());
  EXPECT_EQ(Phase(name), "Failed");
  EXPECT_EQ(engine_->Retry("nope").status().code(), StatusCode::kNotFound);
  auto retried = engine_->Retry(name);
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_EQ(*retried, name);
  EXPECT_EQ(Phase(name), "Running");
  ASSERT_TRUE(engine_->Run(name).ok());
  EXPECT_EQ(Phase(name), "Succeeded");
  EXPECT_EQ(Ran(), "first\nflaky\nbye-Failed\nflaky\nbye-Succeeded\n");
  EXPECT_EQ(engine_->Retry(name).status().code(), StatusCode::kFailedPrecondition);

  auto again = engine_->Resubmit(name);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_NE(*again, name);
  EXPECT_EQ(again->rfind(name + "-", 0), 0u) << *again;
  EXPECT_EQ(Phase(*again), "Pending");
  ASSERT_TRUE(engine_->Run(*again).ok());
  EXPECT_EQ(Phase(*again), "Succeeded");
}

TEST_F(EngineTest, TerminateSkipsTheExitHandler) {
  SubmitOptions options;
  options.parameters = {{"dir", home_.Join("shared")}};
  std::string name = Submit(AppendingWorkflow("terminated"), options);
  ASSERT_TRUE(store_->PatchSpec(name, {{"onExit", "append"}}).ok());
  std::thread stopper([&] {
    WaitForPhase(name, "terminated[1].two", "Running");
    EXPECT_TRUE(engine_->Terminate(name).ok());
  });
  ASSERT_TRUE(engine_->Run(name).ok());
  stopper.join();
  auto wf = store_->GetWorkflow(name);
  EXPECT_EQ((*wf)["status"]["phase"], "Failed");
  EXPECT_EQ((*wf)["status"]["message"], "Stopped with strategy 'Terminate'");
  EXPECT_EQ(Node(name, "terminated[1].two").value("message", ""), "workflow shutdown with strategy: Terminate");
  EXPECT_FALSE(Node(name, "terminated[2]").contains("phase"));
  EXPECT_FALSE(Node(name, "terminated.onExit").contains("phase"));
}

TEST_F(EngineTest, SuspendedWorkflowStartsNoPodUntilResumed) {
  SubmitOptions options;
  options.parameters = {{"dir", home_.Join("shared")}};
  std::string name = Submit(AppendingWorkflow("held"), options);
  ASSERT_TRUE(engine_->Suspend(name).ok());
  std::thread runner([&] { EXPECT_TRUE(engine_->Run(name).ok()); });
  ASSERT_TRUE(WaitForPhase(name, "held[0].one", "Pending"));
  EXPECT_EQ(Ran(), "");
  ASSERT_TRUE(engine_->Resume(name).ok());
  runner.join();
  EXPECT_EQ(Phase(name), "Succeeded");
  EXPECT_EQ(Count(Ran(), "one"), 1);
}

TEST_F(EngineTest, SubmitAppliesParametersAndRefusesWhatCannotRun) {
  ASSERT_TRUE(WriteFileAtomic(home_.Join("params.yaml"), "dir: /from/file\nextra: 7\n").ok());
  SubmitOptions options;
  options.parameter_file = home_.Join("params.yaml");
  options.parameters = {{"extra", "8"}};
  options.name = "named";
  std::string name = Submit(AppendingWorkflow("ignored"), options);
  EXPECT_EQ(name, "named");
  auto wf = store_->GetWorkflow(name);
  Json params = (*wf)["spec"]["arguments"]["parameters"];
  EXPECT_EQ(params, (Json::parse(R"([{"name":"dir","value":"/from/file"},{"name":"extra","value":"8"}])")));
  EXPECT_EQ((*wf)["status"]["phase"], "Pending");
  EXPECT_EQ((*wf)["metadata"]["namespace"], "default");
  EXPECT_EQ((*wf)["metadata"]["uid"].get<std::string>().size(), 36u);
  // The same name again; a missing parameter value.
  SubmitOptions again;
  again.source_name = "again.yaml";
  again.parameters = {{"dir", "/x"}};
  auto m = LoadManifest(AppendingWorkflow("named"), "again.yaml");
  EXPECT_EQ(engine_->Submit(*m, again).status().code(), StatusCode::kAlreadyExists);
  again.parameters.clear();
  auto m2 = LoadManifest(AppendingWorkflow("other"), "again.yaml");
  EXPECT_EQ(engine_->Submit(*m2, again).status().message(),
            "again.yaml: spec.arguments.parameters[0]: parameter \"dir\" has no value (give one with -p dir=...)");
}

}  // namespace
}  // namespace loom::workflow
