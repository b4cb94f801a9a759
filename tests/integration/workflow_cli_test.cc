// `loom workflow` as a user runs it: submit --wait/--watch, list, get (argo's tree), logs, wait,
// a detached engine, lint errors, templates, and kill -9 of the engine then resume: the workflow
// finishes and no finished node runs twice. Each test has its own LOOM_HOME.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>

#include "core/file.h"
#include "core/json.h"
#include "test_util/subprocess.h"
#include "test_util/test_env.h"

namespace loom {
namespace {

using testing::ProcessResult;

class WorkflowCliTest : public ::testing::Test {
 protected:
  ProcessResult Loom(std::vector<std::string> args) {
    args.insert(args.begin(), testing::LoomBinary());
    return testing::Run(args, logs_.path(), {"LOOM_HOME=" + home_.path()});
  }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = work_.Join(name);
    EXPECT_TRUE(WriteFileAtomic(path, text).ok());
    return path;
  }
  static size_t Count(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  }
  // The pid of `loom workflow run NAME` (the detached engine), or 0.
  static pid_t EnginePid(const std::string& name) {
    auto entries = ListDir("/proc");
    if (!entries.ok()) return 0;
    const std::string want = std::string("workflow") + '\0' + "run" + '\0' + name + '\0';
    for (const std::string& e : *entries) {
      if (e.find_first_not_of("0123456789") != std::string::npos) continue;
      auto cmdline = ReadFile("/proc/" + e + "/cmdline");
      if (cmdline.ok() && cmdline->find(want) != std::string::npos) return std::stoi(e);
    }
    return 0;
  }

  static std::string ReadOrEmpty(const std::string& path) {
    auto text = ReadFile(path);
    return text.ok() ? *text : "";
  }

  testing::ScratchDir home_, work_, logs_;
};

constexpr char kSteps[] = R"(apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: steps-
spec:
  entrypoint: main
  arguments:
    parameters: [{name: who, value: world}]
  templates:
  - name: main
    steps:
    - - name: hello
        template: say
        arguments: {parameters: [{name: text, value: "hello {{workflow.parameters.who}}"}]}
    - - name: left
        template: say
        arguments: {parameters: [{name: text, value: left}]}
      - name: right
        template: say
        arguments: {parameters: [{name: text, value: "{{steps.hello.outputs.result}}!"}]}
  - name: say
    inputs: {parameters: [{name: text}]}
    container: {image: alpine, command: [echo, "{{inputs.parameters.text}}"]}
)";

TEST_F(WorkflowCliTest, SubmitWaitGetListLogs) {
  const std::string file = Write("steps.yaml", kSteps);
  ProcessResult r = Loom({"workflow", "submit", file, "--wait", "-p", "who=loom", "-o", "name"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string name = r.out.substr(0, r.out.find('\n'));
  EXPECT_EQ(name.rfind("steps-", 0), 0u) << r.out;
  EXPECT_EQ(name.size(), 11u) << name;  // generateName + Argo's 5-character suffix

  ProcessResult get = Loom({"wf", "get", name});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_NE(get.out.find("Status:              Succeeded"), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("STEP"), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("✔ hello"), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("✔ left"), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("✔ right"), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("who:"), std::string::npos) << get.out;

  ProcessResult json = Loom({"wf", "get", name, "-o", "json"});
  auto doc = ParseJson(json.out, "get -o json");
  ASSERT_TRUE(doc.ok()) << json.out;
  int pods = 0;
  for (const auto& [id, node] : (*doc)["status"]["nodes"].items()) {
    if (node["type"] == "Pod") {
      ++pods;
      EXPECT_EQ(node["phase"], "Succeeded") << node.dump();
    }
  }
  EXPECT_EQ(pods, 3);

  ProcessResult list = Loom({"wf", "list"});
  EXPECT_NE(list.out.find("NAME"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find(name), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("Succeeded"), std::string::npos) << list.out;

  ProcessResult logs = Loom({"wf", "logs", name});
  EXPECT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_NE(logs.out.find("hello loom"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("hello loom!"), std::string::npos) << logs.out;  // result passed on
  ProcessResult one = Loom({"wf", "logs", name, name + "[1].right"});
  EXPECT_EQ(one.out, "hello loom!\n") << one.out << one.err;
}

TEST_F(WorkflowCliTest, FailingWorkflowExitsNonZero) {
  const std::string file = Write("fail.yaml", R"(apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: fails}
spec:
  entrypoint: main
  templates:
  - name: main
    container: {image: alpine, command: [sh, -c, "echo about to fail; exit 3"]}
)");
  ProcessResult r = Loom({"workflow", "submit", file, "--wait"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("fails Failed"), std::string::npos) << r.out;
  ProcessResult get = Loom({"wf", "get", "fails"});
  EXPECT_NE(get.out.find("✖ fails"), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("Error (exit code 3)"), std::string::npos) << get.out;
  ProcessResult wait = Loom({"wf", "wait", "fails"});
  EXPECT_EQ(wait.exit_code, 1);
  ProcessResult del = Loom({"wf", "delete", "fails"});
  EXPECT_EQ(del.exit_code, 0) << del.err;
  EXPECT_NE(Loom({"wf", "get", "fails"}).exit_code, 0);
}

TEST_F(WorkflowCliTest, LintNamesThePlace) {
  const std::string good = Write("good.yaml", kSteps);
  ProcessResult ok = Loom({"wf", "lint", good});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  std::string text = kSteps;
  text.replace(text.find("template: say"), 13, "template: sya");
  const std::string bad = Write("bad.yaml", text);
  ProcessResult r = Loom({"wf", "lint", bad});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.yaml:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sya"), std::string::npos) << r.err;
  // Nothing is started by a bad submit.
  ProcessResult submit = Loom({"wf", "submit", bad, "--wait"});
  EXPECT_NE(submit.exit_code, 0);
  EXPECT_EQ(Loom({"wf", "list", "-o", "name"}).out, "");
}

TEST_F(WorkflowCliTest, DetachedSubmitThenWait) {
  const std::string file = Write("steps.yaml", kSteps);
  ProcessResult r = Loom({"wf", "submit", file, "-o", "name"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string name = r.out.substr(0, r.out.find('\n'));
  ProcessResult wait = Loom({"wf", "wait", name});
  EXPECT_EQ(wait.exit_code, 0) << wait.out << wait.err;
  EXPECT_EQ(wait.out, name + " Succeeded\n");
  EXPECT_TRUE(PathExists(home_.Join("run/" + name + ".engine.log")));
}

TEST_F(WorkflowCliTest, Templates) {
  const std::string file = Write("tmpl.yaml", R"(apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: greeter}
spec:
  entrypoint: main
  templates:
  - name: main
    container: {image: alpine, command: [echo, hi]}
)");
  ProcessResult create = Loom({"template", "create", file});
  EXPECT_EQ(create.exit_code, 0) << create.err;
  EXPECT_NE(Loom({"template", "list"}).out.find("greeter"), std::string::npos);
  EXPECT_NE(Loom({"template", "get", "greeter"}).out.find("name: \"greeter\""), std::string::npos);
  EXPECT_EQ(Loom({"template", "delete", "greeter"}).exit_code, 0);
  EXPECT_EQ(Loom({"template", "list"}).out.find("greeter"), std::string::npos);
  // A Workflow is not a template.
  const std::string wf = Write("wf.yaml", kSteps);
  ProcessResult wrong = Loom({"template", "create", wf});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("kind: expected WorkflowTemplate"), std::string::npos) << wrong.err;
}

// A workflow that waits at a suspend step until it is resumed, then writes three lines.
constexpr char kGate[] = R"(apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: gate}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: approve, template: wait-here}
    - - {name: after, template: talk}
  - name: wait-here
    suspend: {}
  - name: talk
    script: {image: alpine, command: [sh], source: "for i in 1 2 3; do echo line $i; sleep 0.2; done"}
)";

// The verbs that steer a running workflow from another process: suspend/resume (a suspend
// template), terminate, resubmit, and logs -f following a pod until the workflow ends.
TEST_F(WorkflowCliTest, SteeringVerbs) {
  const std::string gate = Write("gate.yaml", kGate);
  ASSERT_EQ(Loom({"wf", "submit", gate}).exit_code, 0);
  // Bounded wait for the suspend node to be reached.
  bool suspended = false;
  for (int i = 0; i < 500 && !suspended; ++i, usleep(10000)) {
    suspended = Loom({"wf", "get", "gate"}).out.find("approve") != std::string::npos;
  }
  ASSERT_TRUE(suspended) << Loom({"wf", "get", "gate"}).out;
  EXPECT_NE(Loom({"wf", "get", "gate"}).out.find("Running"), std::string::npos);
  ProcessResult resume = Loom({"wf", "resume", "gate"});
  EXPECT_EQ(resume.exit_code, 0) << resume.err;
  ProcessResult follow = Loom({"wf", "logs", "gate", "-f"});
  EXPECT_EQ(follow.exit_code, 0) << follow.err;
  EXPECT_NE(follow.out.find("line 1"), std::string::npos) << follow.out;
  EXPECT_NE(follow.out.find("line 3"), std::string::npos) << follow.out;
  EXPECT_EQ(Loom({"wf", "wait", "gate"}).out, "gate Succeeded\n");

  const std::string slow = Write("slow.yaml", R"(apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: slow}
spec:
  entrypoint: main
  templates:
  - name: main
    container: {image: alpine, command: [sleep, "300"]}
)");
  ASSERT_EQ(Loom({"wf", "submit", slow}).exit_code, 0);
  ProcessResult terminate = Loom({"wf", "terminate", "slow"});
  EXPECT_EQ(terminate.exit_code, 0) << terminate.err;
  ProcessResult waited = Loom({"wf", "wait", "slow"});
  EXPECT_EQ(waited.exit_code, 1);
  EXPECT_EQ(waited.out.find("slow Succeeded"), std::string::npos) << waited.out;

  ProcessResult again = Loom({"wf", "resubmit", "gate"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("(from gate)"), std::string::npos) << again.out;
  // The new one waits at its suspend step too: terminate it, so no engine outlives the test.
  const std::string copy = again.out.substr(9, again.out.find(' ', 9) - 9);
  EXPECT_EQ(Loom({"wf", "terminate", copy}).exit_code, 0) << copy;
  EXPECT_EQ(Loom({"wf", "wait", copy}).exit_code, 1);
}

// A name that is not a file name as it is (the engine spells its run lock and pods SafeFileName's
// way): `resume` sees the engine that runs it and starts no second one; `delete` removes its pods.
TEST_F(WorkflowCliTest, OddNameKeepsOneEngineAndLeavesNoPods) {
  const std::string gate = Write("gate.yaml", kGate);
  const std::string name = "odd gate:1";
  ASSERT_EQ(Loom({"wf", "submit", gate, "--name", name}).exit_code, 0);
  bool suspended = false;
  for (int i = 0; i < 500 && !suspended; ++i, usleep(10000)) {
    suspended = Loom({"wf", "get", name}).out.find("approve") != std::string::npos;
  }
  ASSERT_TRUE(suspended) << Loom({"wf", "get", name}).out;
  ProcessResult resume = Loom({"wf", "resume", name});
  EXPECT_EQ(resume.exit_code, 0) << resume.err;
  EXPECT_EQ(resume.out, "workflow " + name + " resumed\n");
  EXPECT_EQ(Loom({"wf", "wait", name}).out, name + " Succeeded\n");
  const std::string log = ReadOrEmpty(home_.Join("run/odd_gate_1.engine.log"));
  EXPECT_EQ(log.find("being run by pid"), std::string::npos) << log;
  EXPECT_TRUE(PathExists(home_.Join("pods/odd_gate_1")));
  ProcessResult del = Loom({"wf", "delete", name});
  EXPECT_EQ(del.exit_code, 0) << del.err;
  EXPECT_FALSE(PathExists(home_.Join("pods/odd_gate_1")));
}

// A parameter file's null reaches the workflow as Argo's CLI passes it ("null"), whether the CLI
// runs the engine itself or hands the workflow to `loom server`.
TEST_F(WorkflowCliTest, NullParameterSameByBothRoutes) {
  const std::string file = Write("say.yaml", R"(apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: say-}
spec:
  entrypoint: main
  arguments:
    parameters: [{name: who, value: world}]
  templates:
  - name: main
    container: {image: alpine, command: [echo, "hello [{{workflow.parameters.who}}]"]}
)");
  const std::string params = Write("params.yaml", "who: null\n");
  ProcessResult direct = Loom({"wf", "submit", file, "--parameter-file", params, "--wait", "-o", "name"});
  ASSERT_EQ(direct.exit_code, 0) << direct.out << direct.err;
  const std::string direct_name = direct.out.substr(0, direct.out.find('\n'));
  EXPECT_EQ(Loom({"wf", "logs", direct_name}).out, direct_name + ": hello [null]\n");

  testing::Process server({testing::LoomBinary(), "server", "--port=0"}, logs_.path(), {"LOOM_HOME=" + home_.path()});
  for (int i = 0; i < 3000 && !PathExists(home_.Join("server.json")); ++i) usleep(10000);
  ASSERT_TRUE(PathExists(home_.Join("server.json"))) << "loom server did not write server.json";
  ProcessResult served = Loom({"wf", "submit", file, "--parameter-file", params, "--wait", "-o", "name"});
  ASSERT_EQ(served.exit_code, 0) << served.out << served.err;
  const std::string served_name = served.out.substr(0, served.out.find('\n'));
  EXPECT_EQ(Loom({"wf", "logs", served_name}).out, served_name + ": hello [null]\n");
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait().exit_code, 0);
}

// argo list: one namespace ("default", or -n), every namespace with -A and a NAMESPACE column.
TEST_F(WorkflowCliTest, ListByNamespace) {
  std::string text = kSteps;
  text.replace(text.find("generateName: steps-"), 20, "generateName: steps-\n  namespace: team-a");
  ProcessResult r = Loom({"wf", "submit", Write("team.yaml", text), "-o", "name", "--wait"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Loom({"wf", "list", "-o", "name"}).out, "");
  EXPECT_EQ(Loom({"wf", "list", "-n", "team-a", "-o", "name"}).out, r.out);
  ProcessResult all = Loom({"wf", "list", "-A"});
  EXPECT_EQ(all.out.rfind("NAMESPACE  NAME", 0), 0u) << all.out;
  EXPECT_NE(all.out.find("team-a     " + r.out.substr(0, r.out.find('\n'))), std::string::npos) << all.out;
  ProcessResult both = Loom({"wf", "list", "-A", "-n", "team-a"});
  EXPECT_EQ(both.exit_code, 1);
  EXPECT_NE(both.err.find("-A lists every namespace"), std::string::npos) << both.err;
}

// With `loom server` up (LoomHome()/server.json), submit hands the workflow to it: the server's
// engine runs it, no detached engine of the CLI is started.
TEST_F(WorkflowCliTest, SubmitGoesToARunningServer) {
  testing::Process server({testing::LoomBinary(), "server", "--port=0"}, logs_.path(), {"LOOM_HOME=" + home_.path()});
  const std::string info = home_.Join("server.json");
  for (int i = 0; i < 3000 && !PathExists(info); ++i) usleep(10000);
  ASSERT_TRUE(PathExists(info)) << "loom server did not write server.json";
  const std::string file = Write("steps.yaml", kSteps);
  ProcessResult r = Loom({"wf", "submit", file, "--wait"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Server:"), std::string::npos) << r.out;
  const std::string name = r.out.substr(r.out.find("Name:") + 5, r.out.find('\n') - r.out.find("Name:") - 5);
  const std::string trimmed = name.substr(name.find_first_not_of(' '));
  EXPECT_EQ(Loom({"wf", "wait", trimmed}).out, trimmed + " Succeeded\n");
  EXPECT_FALSE(PathExists(home_.Join("run/" + trimmed + ".engine.log")));
  // The server's errors name the file and line as the CLI's own would; nothing is created.
  std::string text = kSteps;
  text.replace(text.find("template: say"), 13, "template: sya");
  const std::string bad = Write("bad.yaml", text);
  ProcessResult rejected = Loom({"wf", "submit", bad});
  EXPECT_EQ(rejected.exit_code, 1);
  EXPECT_NE(rejected.err.find(bad + ":"), std::string::npos) << rejected.err;
  EXPECT_NE(rejected.err.find("sya"), std::string::npos) << rejected.err;
  EXPECT_EQ(Loom({"wf", "list", "-o", "name"}).out, trimmed + "\n");
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait().exit_code, 0);
}

// Two engines in two processes, one lock: a detached engine runs `first`, which holds the mutex
// until a file appears; `second`, submitted to `loom server`, waits for it (Pending, with Argo's
// message and status.synchronization), then runs. Labels follow the phases (list -l), and the
// server deletes `second` by its ttlStrategy once it has finished.
TEST_F(WorkflowCliTest, MutexAcrossEnginesLabelsAndTtl) {
  const std::string gate = work_.Join("go");
  const std::string wf = std::string(R"(apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: NAME}
spec:
  entrypoint: main
  synchronization: {mutex: {name: one-at-a-time}}
  ttlStrategy: {secondsAfterCompletion: TTL}
  volumes: [{name: work, hostPath: {path: ")") + work_.path() + R"("}}]
  templates:
  - name: main
    container:
      image: alpine
      command: [sh, -c, "while [ ! -f /work/go ]; do sleep 0.05; done; echo NAME >> /work/order"]
      volumeMounts: [{name: work, mountPath: /work}]
)";
  auto named = [&](const std::string& name, const std::string& ttl) {
    std::string text = wf;
    for (size_t p; (p = text.find("NAME")) != std::string::npos;) text.replace(p, 4, name);
    text.replace(text.find("TTL"), 3, ttl);
    return Write(name + ".yaml", text);
  };
  ASSERT_EQ(Loom({"wf", "submit", named("first", "3600")}).exit_code, 0);
  auto get = [&](const std::string& name) {
    auto j = ParseJson(Loom({"wf", "get", name, "-o", "json"}).out, name);
    return j.ok() ? *j : Json();
  };
  for (int i = 0; i < 1000 && get("first")["status"].value("phase", "") != "Running"; ++i) usleep(10000);
  ASSERT_EQ(get("first")["status"].value("phase", ""), "Running");
  testing::Process server({testing::LoomBinary(), "server", "--port=0"}, logs_.path(), {"LOOM_HOME=" + home_.path()});
  for (int i = 0; i < 3000 && !PathExists(home_.Join("server.json")); ++i) usleep(10000);
  ASSERT_TRUE(PathExists(home_.Join("server.json")));
  ASSERT_EQ(Loom({"wf", "submit", named("second", "0")}).exit_code, 0);
  Json second;
  for (int i = 0; i < 1000; ++i, usleep(10000)) {
    second = get("second");
    if (second["status"].value("phase", "") == "Pending" && !second["status"].value("message", "").empty()) break;
  }
  EXPECT_EQ(second["status"].value("message", ""), "Waiting for default/Mutex/one-at-a-time lock. Lock status: 0/1");
  EXPECT_EQ(second["status"]["synchronization"]["mutex"]["waiting"][0].value("holder", ""), "second") << second.dump();
  const Json first = get("first");
  EXPECT_EQ(first["status"]["synchronization"]["mutex"]["holding"][0].value("mutex", ""), "default/Mutex/one-at-a-time");
  EXPECT_EQ(first["metadata"]["labels"].value("workflows.argoproj.io/phase", ""), "Running");
  EXPECT_EQ(first["metadata"]["labels"].value("workflows.argoproj.io/completed", ""), "false");
  EXPECT_EQ(Loom({"wf", "list", "-o", "name", "-l", "workflows.argoproj.io/phase=Pending"}).out, "second\n");
  EXPECT_NE(Loom({"wf", "get", "second"}).out.find("Waiting for default/Mutex/one-at-a-time lock"), std::string::npos);
  ASSERT_TRUE(WriteFileAtomic(gate, "").ok());
  EXPECT_EQ(Loom({"wf", "wait", "first"}).out, "first Succeeded\n");
  // `second` runs after `first` let go, then the server deletes it (secondsAfterCompletion: 0).
  for (int i = 0; i < 1000 && Loom({"wf", "get", "second"}).exit_code == 0; ++i) usleep(10000);
  EXPECT_NE(Loom({"wf", "get", "second"}).exit_code, 0);
  EXPECT_EQ(ReadOrEmpty(work_.Join("order")), "first\nsecond\n");
  EXPECT_EQ(Loom({"wf", "list", "-o", "name", "-l", "workflows.argoproj.io/completed=true,!nothing"}).out, "first\n");
  EXPECT_EQ(Loom({"wf", "list", "-o", "name", "-l", "workflows.argoproj.io/completed!=true"}).out, "");
  ProcessResult bad = Loom({"wf", "list", "-l", "a in (b)"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("--selector"), std::string::npos) << bad.err;
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait().exit_code, 0);
}

// kill -9 of the engine while the second step runs; `loom wf resume` carries on. Each step
// appends its name to a file on a hostPath volume: the finished first step is not run again, and
// the second's first attempt died with its engine (its "done" is written once, by the new one).
TEST_F(WorkflowCliTest, KillEngineThenResume) {
  const std::string marks = work_.Join("marks");
  ASSERT_TRUE(MakeDirs(marks).ok());
  const std::string file = Write("three.yaml", R"(apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: three}
spec:
  entrypoint: main
  volumes: [{name: marks, hostPath: {path: )" + marks + R"(}}]
  templates:
  - name: main
    steps:
    - - {name: one, template: mark, arguments: {parameters: [{name: n, value: one}, {name: s, value: "0"}]}}
    - - {name: two, template: mark, arguments: {parameters: [{name: n, value: two}, {name: s, value: "3"}]}}
    - - {name: three, template: mark, arguments: {parameters: [{name: n, value: three}, {name: s, value: "0"}]}}
  - name: mark
    inputs: {parameters: [{name: n}, {name: s}]}
    script:
      image: alpine
      command: [sh]
      volumeMounts: [{name: marks, mountPath: /marks}]
      source: |
        echo {{inputs.parameters.n}} started >> /marks/log
        sleep {{inputs.parameters.s}}
        echo {{inputs.parameters.n}} done >> /marks/log
)");
  ProcessResult r = Loom({"wf", "submit", file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string log = JoinPath(marks, "log");
  // Bounded wait for what the workflow reports: step two has started.
  for (int i = 0; i < 3000; ++i) {
    auto text = ReadFile(log);
    if (text.ok() && text->find("two started") != std::string::npos) break;
    usleep(10000);
  }
  ASSERT_NE(ReadOrEmpty(log).find("two started"), std::string::npos);
  pid_t engine = 0;
  for (int i = 0; i < 500 && engine == 0; ++i, usleep(10000)) engine = EnginePid("three");
  ASSERT_GT(engine, 0);
  ASSERT_EQ(kill(engine, SIGKILL), 0);
  for (int i = 0; i < 500 && kill(engine, 0) == 0; ++i) usleep(10000);

  ProcessResult get = Loom({"wf", "get", "three"});
  EXPECT_NE(get.out.find("Running"), std::string::npos) << get.out;
  ProcessResult resume = Loom({"wf", "resume", "three"});
  EXPECT_EQ(resume.exit_code, 0) << resume.err;
  ProcessResult wait = Loom({"wf", "wait", "three"});
  EXPECT_EQ(wait.exit_code, 0) << wait.out << wait.err << Loom({"wf", "get", "three"}).out;
  const std::string text = ReadOrEmpty(log);
  EXPECT_EQ(Count(text, "one started"), 1u) << text;
  EXPECT_EQ(Count(text, "one done"), 1u) << text;
  EXPECT_EQ(Count(text, "two started"), 2u) << text;
  EXPECT_EQ(Count(text, "two done"), 1u) << text;
  EXPECT_EQ(Count(text, "three started"), 1u) << text;
}

}  // namespace
}  // namespace loom
