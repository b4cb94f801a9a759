// Daemon templates (`daemon: true`) on the real engine and pod runner: a server daemon that later
// steps (steps and dag) reach through {{steps.X.ip}} / {{tasks.X.ip}}, stopped when its scope
// ends; readiness probes (httpGet, tcpSocket, exec); a daemon that exits or fails its probe
// before it is ready; a daemon that dies after; terminate; kill -9 of the engine and resume. Each
// daemon writes its pid to a shared directory, and the tests check the process is gone.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "core/file.h"
#include "test_util/loopback.h"
#include "test_util/test_env.h"
#include "workflow/engine_fixture.h"
#include "workflow/engine_process.h"
#include "workflow/engine.h"
#include "workflow/pod_runner.h"
#include "workflow/probe.h"
#include "workflow/spec.h"

namespace loom::workflow {
namespace {

// A TCP port nothing listens on right now (bound to port 0, then released).

// Gone: no such process, or a zombie nobody reaped yet (an orphan's parent may be a PID 1 that
// does not reap).
bool ProcessGone(pid_t pid) {
  if (kill(pid, 0) != 0) return errno == ESRCH;
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return true;
  const size_t paren = stat->rfind(')');
  return paren != std::string::npos && paren + 2 < stat->size() && (*stat)[paren + 2] == 'Z';
}

// The pids a workflow's daemons appended to <shared>/pids, one a line.
std::vector<pid_t> Pids(const std::string& shared) {
  std::vector<pid_t> out;
  auto text = ReadFile(JoinPath(shared, "pids"));
  if (!text.ok()) return out;
  std::istringstream in(*text);
  for (long pid; in >> pid;) out.push_back(static_cast<pid_t>(pid));
  return out;
}

// The header every test workflow shares: parameters dir (a hostPath volume at /shared) and port.
std::string Header(const std::string& name) {
  return R"(apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: )" + name + R"(}
spec:
  arguments:
    parameters: [{name: dir}, {name: port}]
  volumes:
  - {name: shared, hostPath: {path: "{{workflow.parameters.dir}}"}}
)";
}

// An HTTP server daemon on the port, serving /shared, ready when GET /hello.txt answers 200.
constexpr const char* kServerTemplate = R"(
  - name: server
    daemon: true
    container:
      image: python:3.11
      command: [sh, -c]
      args: ["echo $$ >> /shared/pids && exec /usr/bin/python3 -m http.server {{workflow.parameters.port}} --bind 127.0.0.1"]
      workingDir: /shared
      volumeMounts: [{name: shared, mountPath: /shared}]
      readinessProbe:
        httpGet: {path: /hello.txt, port: "{{workflow.parameters.port}}"}
        periodSeconds: 1
        failureThreshold: 30
  - name: client
    inputs:
      parameters: [{name: ip}]
    container:
      image: curlimages/curl
      command: [curl, -sSf, "http://{{inputs.parameters.ip}}:{{workflow.parameters.port}}/hello.txt"]
)";

// A workflow whose main steps are the server daemon, then the step `then` (a YAML flow map), with
// kServerTemplate's templates and `more`; `spec` adds fields to the spec.
std::string ServerThen(const std::string& name, const std::string& then, const std::string& more = "",
                       const std::string& spec = "") {
  return Header(name) + spec + R"(  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: server, template: server}
    - - )" + then + "\n" + more + kServerTemplate;
}

constexpr const char* kLong = R"(  - name: long
    container: {image: alpine, command: [sleep, "600"]}
)";
constexpr const char* kClientStep = R"({name: client, template: client, arguments: {parameters: [{name: ip, value: "{{steps.server.ip}}"}]}})";

class DaemonTest : public RealEngineTest {
 protected:
  void SetUp() override {
    StartEngine(2);
    shared_ = home_.Join("shared");
    ASSERT_TRUE(MakeDirs(shared_).ok());
    ASSERT_TRUE(WriteFileAtomic(JoinPath(shared_, "hello.txt"), "hello from the daemon\n").ok());
    port_ = testing::FreeLoopbackPort();
  }
  // With the parameters every test's workflow takes: dir (shared_) and port (a free one).
  std::string Submit(const std::string& yaml) {
    SubmitOptions options;
    options.parameters = {{"dir", shared_}, {"port", std::to_string(port_)}};
    return RealEngineTest::Submit(yaml, options);
  }
  Json WfStatus(const std::string& wf) { return (*store_->GetWorkflow(wf))["status"]; }
  // Every node's name, phase and message, for failure messages.
  std::string Nodes(const std::string& wf) {
    std::string out;
    auto w = store_->GetWorkflow(wf);
    if (!w.ok()) return w.status().ToString();
    for (const auto& [id, n] : (*w)["status"]["nodes"].items()) {
      out += "\n  " + n.value("name", "") + ": " + n.value("phase", "") + " " + n.value("message", "") + " | " +
             Log(wf, n.value("name", "")).substr(0, 300);
    }
    return out;
  }
  std::string Log(const std::string& wf, const std::string& node_name) {
    auto log = store_->ReadLog(wf, NodeId(wf, node_name), 0, -1, nullptr);
    return log.ok() ? *log : "";
  }
  bool WaitFor(const std::function<bool()>& done) {
    for (int i = 0; i < 3000; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  // Every pid the daemons wrote is gone (and there are `count` of them).
  void ExpectDaemonsGone(size_t count) {
    std::vector<pid_t> pids = Pids(shared_);
    ASSERT_EQ(pids.size(), count);
    for (pid_t pid : pids) EXPECT_TRUE(ProcessGone(pid)) << "daemon pid " << pid << " is still running";
  }

  std::string shared_;
  int port_ = 0;
};

TEST_F(DaemonTest, StepsReachTheDaemonThroughItsIpAndItStopsWithTheirScope) {
  std::string name = Submit(Header("steps-daemon") + R"(  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: server, template: server}
    - - {name: client, template: client, arguments: {parameters: [{name: ip, value: "{{steps.server.ip}}"}]}}
    - - {name: again, template: client, arguments: {parameters: [{name: ip, value: "{{steps.server.ip}}"}]}}
)" + kServerTemplate);
  ASSERT_TRUE(engine_->Run(name).ok());
  EXPECT_EQ(WfStatus(name)["phase"], "Succeeded") << Nodes(name);
  Json server = Node(name, "steps-daemon[0].server");
  EXPECT_EQ(server["phase"], "Succeeded") << server.dump();
  EXPECT_EQ(server["podIP"], "127.0.0.1");
  EXPECT_FALSE(server.contains("daemoned")) << server.dump();
  EXPECT_FALSE(server.contains("message")) << server.dump();
  for (const char* step : {"steps-daemon[1].client", "steps-daemon[2].again"}) {
    Json client = Node(name, step);
    EXPECT_EQ(client["phase"], "Succeeded") << client.dump();
    EXPECT_EQ(client["outputs"].value("result", ""), "hello from the daemon");
    EXPECT_EQ(client["inputs"]["parameters"][0]["value"], "127.0.0.1");
  }
  // The daemon ran until its scope ended: it answered both clients (http.server logs each GET).
  std::string log = Log(name, "steps-daemon[0].server");
  size_t gets = 0;
  for (size_t p = 0; (p = log.find("\"GET /hello.txt HTTP/1.1\" 200", p)) != std::string::npos; ++p) ++gets;
  EXPECT_GE(gets, 3u) << log;  // the probe's and the two clients'
  ExpectDaemonsGone(1);
  EXPECT_EQ(WfStatus(name)["progress"], "3/3");
}

TEST_F(DaemonTest, TheDaemonExampleRunsUnchanged) {
  auto manifest = LoadManifestFile(JoinPath(loom::testing::SourceDir(), "examples/daemon/workflow.yaml"));
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  SubmitOptions options;
  options.parameters = {{"port", std::to_string(port_)}};
  auto name = engine_->Submit(*manifest, options);
  ASSERT_TRUE(name.ok()) << name.status().ToString();
  ASSERT_TRUE(engine_->Run(*name).ok());
  EXPECT_EQ(WfStatus(*name)["phase"], "Succeeded") << Nodes(*name);
  for (const char* step : {"[1].first-request", "[1].second-request"}) {
    EXPECT_EQ(Node(*name, *name + step)["outputs"].value("result", ""), "200") << Nodes(*name);
  }
  const std::string server = NodeId(*name, *name + "[0].server");
  EXPECT_EQ(Node(*name, *name + "[0].server")["phase"], "Succeeded");
  EXPECT_TRUE(PodProcesses(*name, {server}).empty());
}

TEST_F(DaemonTest, AReadyDaemonDoesNotCountAgainstTheEnginesPodLimit) {
  EngineOptions options;
  options.store = store_.get();
  options.pods = pods_.get();
  options.home = home_.path();
  options.poll_interval_ms = 20;
  options.max_running_pods = 1;
  engine_ = std::move(Engine::Create(options)).value();
  std::string name = Submit(ServerThen("limited", kClientStep));
  ASSERT_TRUE(engine_->Run(name).ok());
  EXPECT_EQ(WfStatus(name)["phase"], "Succeeded") << Nodes(name);
  ExpectDaemonsGone(1);
}

TEST_F(DaemonTest, ADaemonStopsWhenTheTemplateThatStartedItEndsNotTheWorkflow) {
  // The daemon belongs to `inner`; `after` (in `main`) runs once `inner` has ended, by when the
  // daemon's node has Succeeded and its process is gone, while the workflow still runs.
  std::string name = Submit(Header("nested") + R"(  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: inner, template: inner}
    - - {name: after, template: after}
  - name: inner
    steps:
    - - {name: server, template: server}
    - - )" + kClientStep + R"(
  - name: after
    container:
      image: alpine
      command: [sh, -c, "while [ ! -f /shared/go ]; do sleep 0.05; done"]
      volumeMounts: [{name: shared, mountPath: /shared}]
)" + kServerTemplate);
  bool server_done_first = false, gone_first = false;
  std::thread checker([&] {
    EXPECT_TRUE(WaitFor([&] { return Node(name, "nested[1].after").value("phase", "") == "Running"; })) << Nodes(name);
    server_done_first = Node(name, "nested[0].inner[0].server").value("phase", "") == "Succeeded";
    // SIGTERM was sent as `inner` ended; the process may take a moment to exit.
    gone_first = WaitFor([&] { return Pids(shared_).size() == 1 && ProcessGone(Pids(shared_)[0]); });
    EXPECT_EQ(WfStatus(name)["phase"], "Running");
    EXPECT_TRUE(WriteFileAtomic(JoinPath(shared_, "go"), "").ok());
  });
  ASSERT_TRUE(engine_->Run(name).ok());
  checker.join();
  EXPECT_TRUE(server_done_first) << Nodes(name);
  EXPECT_TRUE(gone_first);
  EXPECT_EQ(WfStatus(name)["phase"], "Succeeded") << Nodes(name);
  EXPECT_EQ(Node(name, "nested[0].inner[1].client")["outputs"].value("result", ""), "hello from the daemon");
}

TEST_F(DaemonTest, DagTasksReachTheDaemonThroughTasksIp) {
  std::string name = Submit(Header("dag-daemon") + R"(  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: server, template: server}
      - {name: client, template: client, dependencies: [server], arguments: {parameters: [{name: ip, value: "{{tasks.server.ip}}"}]}}
      - {name: after, template: client, depends: "client && server.Daemoned", arguments: {parameters: [{name: ip, value: "{{tasks.server.ip}}"}]}}
)" + kServerTemplate);
  ASSERT_TRUE(engine_->Run(name).ok());
  EXPECT_EQ(WfStatus(name)["phase"], "Succeeded") << Nodes(name);
  EXPECT_EQ(Node(name, "dag-daemon.server")["phase"], "Succeeded");
  EXPECT_EQ(Node(name, "dag-daemon.client")["outputs"].value("result", ""), "hello from the daemon");
  EXPECT_EQ(Node(name, "dag-daemon.after")["phase"], "Succeeded") << Node(name, "dag-daemon.after").dump();
  ExpectDaemonsGone(1);
}

TEST_F(DaemonTest, ADaemonThatExitsBeforeItIsReadyFailsItsStep) {
  std::string name = Submit(Header("early-exit") + R"(  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: server, template: server}
    - - {name: never, template: client, arguments: {parameters: [{name: ip, value: "{{steps.server.ip}}"}]}}
  - name: server
    daemon: true
    retryStrategy: {limit: 1}
    container:
      image: alpine
      command: [sh, -c, "echo $$ >> /shared/pids; echo starting; exit 3"]
      volumeMounts: [{name: shared, mountPath: /shared}]
      readinessProbe:
        tcpSocket: {port: "{{workflow.parameters.port}}"}
        periodSeconds: 1
  - name: client
    inputs: {parameters: [{name: ip}]}
    container: {image: alpine, command: [echo, "{{inputs.parameters.ip}}"]}
)");
  ASSERT_TRUE(engine_->Run(name).ok());
  Json status = WfStatus(name);
  EXPECT_EQ(status["phase"], "Failed");
  // Retried as any pod; each attempt fails with the reason.
  for (const char* attempt : {"early-exit[0].server(0)", "early-exit[0].server(1)"}) {
    Json n = Node(name, attempt);
    EXPECT_EQ(n["phase"], "Failed") << n.dump();
    EXPECT_EQ(n["message"], "Error (exit code 3): the daemon exited before it was ready");
    EXPECT_EQ(Log(name, attempt), "starting\n");
  }
  EXPECT_EQ(Node(name, "early-exit[0].server")["message"], "No more retries left");
  EXPECT_FALSE(Node(name, "early-exit[1].never").contains("phase"));
  ExpectDaemonsGone(2);
}

TEST_F(DaemonTest, AFailingProbeStopsTheDaemonAndFailsItsNode) {
  std::string name = Submit(Header("bad-probe") + R"(  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: server, template: server}
  - name: server
    daemon: true
    container:
      image: alpine
      command: [sh, -c, "echo $$ >> /shared/pids; exec sleep 600"]
      volumeMounts: [{name: shared, mountPath: /shared}]
      readinessProbe:
        tcpSocket: {port: "{{workflow.parameters.port}}"}
        periodSeconds: 1
        failureThreshold: 2
)");
  ASSERT_TRUE(engine_->Run(name).ok());
  EXPECT_EQ(WfStatus(name)["phase"], "Failed");
  Json n = Node(name, "bad-probe[0].server");
  EXPECT_EQ(n["phase"], "Failed");
  EXPECT_EQ(n["message"], "container.readinessProbe: failed 2 times: dial tcp 127.0.0.1:" + std::to_string(port_) +
                              ": connection refused");
  ExpectDaemonsGone(1);
}

TEST_F(DaemonTest, ExecAndTcpSocketProbes) {
  // The exec probe looks at the daemon's own /tmp (its mount namespace, where there is one).
  std::string name = Submit(Header("probes") + R"(  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: marker, template: marker}
      - {name: tcp, template: tcp}
    - - name: use
        template: use
        arguments: {parameters: [{name: a, value: "{{steps.marker.ip}}"}, {name: b, value: "{{steps.tcp.ip}}"}]}
  - name: marker
    daemon: true
    script:
      image: alpine
      command: [sh]
      source: |
        echo $$ >> /shared/pids
        sleep 0.3
        echo ready > ${TMPDIR:-/tmp}/marker
        exec sleep 600
      volumeMounts: [{name: shared, mountPath: /shared}]
      readinessProbe:
        exec: {command: [sh, -c, "test -f ${TMPDIR:-/tmp}/marker"]}
        periodSeconds: 1
        failureThreshold: 20
  - name: tcp
    daemon: true
    container:
      image: python:3.11
      command: [sh, -c]
      args: ["echo $$ >> /shared/pids && exec /usr/bin/python3 -m http.server {{workflow.parameters.port}} --bind 127.0.0.1"]
      ports: [{name: web, containerPort: "{{workflow.parameters.port}}"}]
      volumeMounts: [{name: shared, mountPath: /shared}]
      readinessProbe:
        tcpSocket: {port: web}
        periodSeconds: 1
        failureThreshold: 20
  - name: use
    inputs: {parameters: [{name: a}, {name: b}]}
    container: {image: alpine, command: [echo, "{{inputs.parameters.a}} {{inputs.parameters.b}}"]}
)");
  ASSERT_TRUE(engine_->Run(name).ok());
  EXPECT_EQ(WfStatus(name)["phase"], "Succeeded") << Nodes(name);
  EXPECT_EQ(Node(name, "probes[1].use")["outputs"].value("result", ""), "127.0.0.1 127.0.0.1");
  EXPECT_EQ(Node(name, "probes[0].marker")["phase"], "Succeeded");
  EXPECT_EQ(Node(name, "probes[0].tcp")["phase"], "Succeeded");
  ExpectDaemonsGone(2);
}

TEST_F(DaemonTest, ADaemonThatDiesAfterItWasReadyFailsButItsScopeGoesOn) {
  // As Argo: the step group went on when the daemon was ready; the daemon's node fails when it
  // exits (a daemon should run until it is stopped) and the workflow's steps are not failed by it.
  std::string name = Submit(Header("dies") + R"(  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: server, template: server}
    - - {name: wait, template: wait}
  - name: server
    daemon: true
    container:
      image: alpine
      command: [sh, -c, "echo $$ >> /shared/pids; while [ ! -f /shared/die ]; do sleep 0.05; done; exit 0"]
      volumeMounts: [{name: shared, mountPath: /shared}]
  - name: wait
    container:
      image: alpine
      command: [sh, -c, "touch /shared/die; while [ ! -f /shared/died ]; do sleep 0.05; done"]
      volumeMounts: [{name: shared, mountPath: /shared}]
)");
  std::thread watcher([&] {
    EXPECT_TRUE(WaitFor([&] { return Node(name, "dies[0].server").value("phase", "") == "Failed"; }));
    EXPECT_TRUE(WriteFileAtomic(JoinPath(shared_, "died"), "").ok());
  });
  ASSERT_TRUE(engine_->Run(name).ok());
  watcher.join();
  EXPECT_EQ(WfStatus(name)["phase"], "Succeeded") << Nodes(name);
  Json server = Node(name, "dies[0].server");
  EXPECT_EQ(server["message"], "Error (exit code 0): the daemon exited") << server.dump();
  EXPECT_FALSE(server.contains("daemoned"));
  EXPECT_EQ(Node(name, "dies[1].wait")["phase"], "Succeeded");
  ExpectDaemonsGone(1);
}

TEST_F(DaemonTest, TerminateWhileADaemonRunsLeavesNoProcess) {
  std::string name = Submit(ServerThen("terminated", "{name: long, template: long}", kLong));
  std::thread stopper([&] {
    EXPECT_TRUE(WaitFor([&] { return Node(name, "terminated[1].long").value("phase", "") == "Running"; }));
    EXPECT_EQ(Node(name, "terminated[0].server")["daemoned"], true);
    EXPECT_TRUE(engine_->Terminate(name).ok());
  });
  ASSERT_TRUE(engine_->Run(name).ok());
  stopper.join();
  Json status = WfStatus(name);
  EXPECT_EQ(status["phase"], "Failed");
  EXPECT_EQ(status["message"], "Stopped with strategy 'Terminate'");
  Json server = Node(name, "terminated[0].server");
  EXPECT_EQ(server["phase"], "Failed") << server.dump();
  EXPECT_EQ(server["message"], "workflow shutdown with strategy: Terminate");
  ExpectDaemonsGone(1);
}

TEST_F(DaemonTest, DeleteWhileADaemonRunsLeavesNoProcess) {
  std::string name = Submit(ServerThen("deleted", "{name: long, template: long}", kLong));
  std::thread deleter([&] {
    EXPECT_TRUE(WaitFor([&] { return Node(name, "deleted[1].long").value("phase", "") == "Running"; }));
    EXPECT_TRUE(store_->DeleteWorkflow(name).ok());  // what `loom wf delete` does
  });
  loom::Status s = engine_->Run(name);
  deleter.join();
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
  ExpectDaemonsGone(1);
}

TEST_F(DaemonTest, RetryStartsTheDaemonsOfTheFailedScopeAgain) {
  // The client fails the first time; `retry` runs it again, and the daemon its steps had (stopped
  // when they failed) is started again and ready before it.
  std::string name = Submit(ServerThen("retried", R"({name: flaky, template: flaky, arguments: {parameters: [{name: ip, value: "{{steps.server.ip}}"}]}})", R"(  - name: flaky
    inputs: {parameters: [{name: ip}]}
    container:
      image: curlimages/curl
      command: [sh, -c, "if [ ! -f /shared/tried ]; then touch /shared/tried; exit 1; fi; curl -sSf http://{{inputs.parameters.ip}}:{{workflow.parameters.port}}/hello.txt"]
      volumeMounts: [{name: shared, mountPath: /shared}]
)"));
  ASSERT_TRUE(engine_->Run(name).ok());
  EXPECT_EQ(WfStatus(name)["phase"], "Failed");
  ExpectDaemonsGone(1);
  ASSERT_TRUE(engine_->Retry(name).ok());
  ASSERT_TRUE(engine_->Run(name).ok());
  EXPECT_EQ(WfStatus(name)["phase"], "Succeeded") << Nodes(name);
  EXPECT_EQ(Node(name, "retried[1].flaky")["outputs"].value("result", ""), "hello from the daemon");
  EXPECT_EQ(Node(name, "retried[0].server")["phase"], "Succeeded");
  ExpectDaemonsGone(2);
}

TEST_F(DaemonTest, ActiveDeadlineStopsTheDaemon) {
  std::string name = Submit(ServerThen("deadline", "{name: long, template: long}", kLong, "  activeDeadlineSeconds: 3\n"));
  ASSERT_TRUE(engine_->Run(name).ok());
  EXPECT_EQ(WfStatus(name)["phase"], "Failed");
  EXPECT_EQ(Node(name, "deadline[0].server")["message"], "Pod was active on the node longer than the specified deadline");
  ExpectDaemonsGone(1);
}

TEST_F(DaemonTest, KillNineOfTheEngineThenResumeRunsTheDaemonAgainAndKillsTheOrphan) {
  // The server runs in the background of its pod's shell: the shell dies with the engine, the
  // server outlives it. The resumed engine kills the orphan (else the new server could not bind
  // the port) and waits for the daemon to be ready again before the client goes on.
  std::string name = Submit(Header("resumed") + R"(  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: server, template: server}
    - - {name: client, template: client, arguments: {parameters: [{name: ip, value: "{{steps.server.ip}}"}]}}
  - name: server
    daemon: true
    script:
      image: python:3.11
      command: [sh]
      source: |
        /usr/bin/python3 -m http.server {{workflow.parameters.port}} --bind 127.0.0.1 &
        echo $! >> /shared/pids
        wait
      workingDir: /shared
      volumeMounts: [{name: shared, mountPath: /shared}]
      readinessProbe:
        httpGet: {path: /hello.txt, port: "{{workflow.parameters.port}}"}
        periodSeconds: 1
        failureThreshold: 30
  - name: client
    inputs: {parameters: [{name: ip}]}
    container:
      image: curlimages/curl
      command: [sh, -c, "while [ ! -f /shared/go ]; do sleep 0.05; done; curl -sSf http://{{inputs.parameters.ip}}:{{workflow.parameters.port}}/hello.txt"]
      volumeMounts: [{name: shared, mountPath: /shared}]
)");
  pid_t engine = StartEngineProcess(home_.path(), name);
  ASSERT_GT(engine, 0);
  ASSERT_TRUE(WaitFor([&] { return Node(name, "resumed[1].client").value("phase", "") == "Running"; })) << Nodes(name);
  EXPECT_EQ(Node(name, "resumed[0].server")["daemoned"], true);
  ASSERT_EQ(kill(engine, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(engine, &status, 0), engine);
  std::vector<pid_t> first = Pids(shared_);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_FALSE(ProcessGone(first[0])) << "the server should have outlived its engine";
  ASSERT_TRUE(WriteFileAtomic(JoinPath(shared_, "go"), "").ok());

  engine = StartEngineProcess(home_.path(), name);
  ASSERT_GT(engine, 0);
  ASSERT_EQ(waitpid(engine, &status, 0), engine);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(WfStatus(name)["phase"], "Succeeded") << Nodes(name);
  EXPECT_EQ(Node(name, "resumed[1].client")["outputs"].value("result", ""), "hello from the daemon");
  EXPECT_EQ(Node(name, "resumed[0].server")["phase"], "Succeeded");
  ExpectDaemonsGone(2);
}

TEST(DaemonLint, DaemonTemplatesAndTheirProbesAreChecked) {
  const std::string head = R"(apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: lint-}
spec:
  entrypoint: main
  templates:
  - name: main
    daemon: true
    container:
      image: nginx
      command: [nginx]
)";
  EXPECT_TRUE(LoadManifest(head, "ok.yaml").ok());
  EXPECT_TRUE(LoadManifest(head + "      readinessProbe: {httpGet: {path: /, port: 80}, initialDelaySeconds: 2}\n", "ok.yaml").ok());
  EXPECT_TRUE(LoadManifest(head + "      readinessProbe: {tcpSocket: {port: web}}\n", "ok.yaml").ok());
  auto grpc = LoadManifest(head + "      readinessProbe: {grpc: {port: 80}}\n", "w.yaml");
  EXPECT_EQ(grpc.status().message(),
            "w.yaml:12: spec.templates[0].container.readinessProbe.grpc: grpc probes are not supported by Loom (use httpGet, tcpSocket or exec)");
  auto https = LoadManifest(head + "      readinessProbe:\n        httpGet: {port: 443, scheme: HTTPS}\n", "w.yaml");
  EXPECT_EQ(https.status().message(),
            "w.yaml:13: spec.templates[0].container.readinessProbe.httpGet.scheme: only HTTP is supported by Loom, not \"HTTPS\"");
  auto two = LoadManifest(head + "      readinessProbe: {tcpSocket: {port: 1}, exec: {command: [true]}}\n", "w.yaml");
  EXPECT_EQ(two.status().message(),
            "w.yaml:12: spec.templates[0].container.readinessProbe: has both tcpSocket and exec (a probe has one handler)");
  auto port = LoadManifest(head + "      readinessProbe: {tcpSocket: {port: 70000}}\n", "w.yaml");
  EXPECT_EQ(port.status().message(),
            "w.yaml:12: spec.templates[0].container.readinessProbe.tcpSocket.port: 70000 is not a port (1-65535)");
  auto steps = LoadManifest(R"(apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: lint-}
spec:
  entrypoint: main
  templates:
  - name: main
    daemon: true
    steps: [[{name: a, template: b}]]
  - name: b
    container: {image: alpine, command: [true]}
)", "s.yaml");
  EXPECT_EQ(steps.status().message(),
            "s.yaml:8: spec.templates[0].daemon: only a container or script template can be a daemon, not a steps template");
}

TEST(Probe, ParsesNamedPortsAndDefaults) {
  Json container = Json::parse(R"({"ports": [{"name": "web", "containerPort": 8081}]})");
  auto p = ParseProbe(Json::parse(R"({"httpGet": {"port": "web", "path": "healthz"}})"), container, "c.readinessProbe");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->port, 8081);
  EXPECT_EQ(p->path, "/healthz");
  EXPECT_EQ(p->host, "127.0.0.1");
  EXPECT_EQ(p->period_secs, 10);
  EXPECT_EQ(p->failure_threshold, 3);
  auto missing = ParseProbe(Json::parse(R"({"tcpSocket": {"port": "db"}})"), container, "c.readinessProbe");
  EXPECT_EQ(missing.status().message(), "c.readinessProbe.tcpSocket.port: no container port named \"db\"");
  auto zero = ParseProbe(Json::parse(R"({"exec": {"command": ["true"]}, "periodSeconds": 0})"), container, "c.readinessProbe");
  EXPECT_EQ(zero.status().message(), "c.readinessProbe.periodSeconds: must be at least 1");
}

TEST(Probe, HttpGetPassesOn2xxAnd3xxOnly) {
  // A one-shot server that answers each connection with the next status line.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ASSERT_EQ(listen(fd, 4), 0);
  std::thread server([fd] {
    for (const char* status : {"200 OK", "302 Found", "503 Service Unavailable"}) {
      int c = accept(fd, nullptr, nullptr);
      char buf[1024];
      (void)!read(c, buf, sizeof(buf));
      std::string reply = std::string("HTTP/1.1 ") + status + "\r\nContent-Length: 0\r\n\r\n";
      (void)!write(c, reply.data(), reply.size());
      close(c);
    }
  });
  ProbeSpec p;
  p.kind = ProbeSpec::Kind::kHttpGet;
  p.port = ntohs(a.sin_port);
  EXPECT_TRUE(ProbeOnce(p, {}).ok());
  EXPECT_TRUE(ProbeOnce(p, {}).ok());
  EXPECT_EQ(ProbeOnce(p, {}).message(), "HTTP probe failed with statuscode: 503");
  server.join();
  close(fd);
  EXPECT_EQ(ProbeOnce(p, {}).message(),
            "Get \"http://127.0.0.1:" + std::to_string(p.port) + "/\": connection refused");
  ProbeSpec e;
  e.kind = ProbeSpec::Kind::kExec;
  e.command = {"sh", "-c", "echo not yet; exit 2"};
  e.timeout_secs = 5;
  EXPECT_EQ(ProbeOnce(e, {0, false, {"PATH=/usr/bin:/bin"}}).message(), "command \"sh\" exited with 2: not yet");
  e.command = {"sleep", "5"};
  e.timeout_secs = 1;
  EXPECT_EQ(ProbeOnce(e, {0, false, {"PATH=/usr/bin:/bin"}}).message(), "command \"sleep\" timed out");
}

}  // namespace
}  // namespace loom::workflow
