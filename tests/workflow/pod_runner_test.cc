// LocalPodRunner on real processes: results, exit codes, logs, private /tmp per pod, volumes
// shared (hostPath, claims) or not (emptyDir) between pods, output parameters, artifacts from
// one pod to the next through the local repository, cancellation, and start failures.
#include "workflow/pod_runner.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "container/config_store.h"
#include "core/file.h"
#include "test_util/test_env.h"
#include "workflow/store.h"

namespace loom::workflow {
namespace {

// A process that exists and is not a zombie (a killed orphan may wait a moment for init).
bool Alive(pid_t pid) {
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return false;
  const size_t paren = stat->rfind(')');
  return paren != std::string::npos && paren + 2 < stat->size() && (*stat)[paren + 2] != 'Z';
}

class PodRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = Store::Open(home_.Join("workflows.db"));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    PodRunnerOptions options;
    options.home = home_.path();
    options.kill_grace_secs = 1;
    auto runner = LocalPodRunner::Create(options);
    ASSERT_TRUE(runner.ok()) << runner.status().ToString();
    runner_ = std::move(runner).value();
  }

  // A request for a template given as YAML.
  PodRequest Request(const std::string& node, const std::string& tmpl_yaml, const std::string& volumes_yaml = "[]") {
    PodRequest r;
    r.workflow = "wf";
    r.node_id = node;
    r.node_name = "wf." + node;
    r.tmpl = TemplateFromJson(ParseYaml(tmpl_yaml, "tmpl").value(), "tmpl").value();
    r.volumes = ParseYaml(volumes_yaml, "volumes").value();
    r.pod_dir = home_.Join("pods/wf/" + node);
    r.cancel = &cancel_;
    return r;
  }
  PodResult Run(const PodRequest& r) { return runner_->Run(r, *store_); }
  std::string Log(const std::string& node) {
    return store_->ReadLog("wf", node, 0, -1, nullptr).value();
  }
  static std::string Script(const std::string& source) {
    Json t = {{"name", "s"}, {"script", {{"image", "alpine"}, {"command", {"sh"}}, {"source", source}}}};
    return t.dump();
  }
  // A script with the scratch directory mounted at /out (a hostPath volume).
  PodRequest WithOut(const std::string& node, const std::string& source) {
    Json t = {{"name", "s"},
              {"script", {{"image", "alpine"}, {"command", {"sh"}}, {"source", source},
                          {"volumeMounts", {{{"name", "out"}, {"mountPath", "/out"}}}}}}};
    Json volumes = Json::array({{{"name", "out"}, {"hostPath", {{"path", home_.Join("out")}}}}});
    return Request(node, t.dump(), volumes.dump());
  }

  testing::ScratchDir home_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<LocalPodRunner> runner_;
  std::atomic<bool> cancel_{false};
};

TEST_F(PodRunnerTest, ContainerResultExitCodeAndLog) {
  PodResult r = Run(Request("a", R"({name: a, container: {image: alpine, command: [sh, -c],
      args: ["echo out; echo err >&2; echo $GREETING", ], env: [{name: GREETING, value: hi}]}})"));
  EXPECT_EQ(r.phase, "Succeeded") << r.message;
  EXPECT_EQ(r.outputs["result"], "out\nhi");
  EXPECT_EQ(r.outputs["exitCode"], "0");
  const std::string log = Log("a");
  EXPECT_NE(log.find("out\n"), std::string::npos) << log;
  EXPECT_NE(log.find("err\n"), std::string::npos) << log;
}

// A chatty pod: the whole stdout goes to the log, outputs.result keeps the first 256 KiB.
TEST_F(PodRunnerTest, LargeOutputIsLoggedWholeAndResultCapped) {
  PodResult r = Run(Request("big", Script("head -c 1048576 /dev/zero | tr '\\0' x")));
  ASSERT_EQ(r.phase, "Succeeded") << r.message;
  EXPECT_EQ(r.outputs["result"].get<std::string>().size(), 256u << 10);
  int64_t total = 0;
  ASSERT_TRUE(store_->ReadLog("wf", "big", 0, 16, &total).ok());
  EXPECT_EQ(total, 1 << 20);
}

// bin_dir comes first on a pod's PATH (the engine's own binary directory by default).
TEST_F(PodRunnerTest, BinDirFirstOnPath) {
  EXPECT_FALSE(runner_->options().bin_dir.empty());
  PodResult r = Run(Request("path", Script("echo $PATH")));
  ASSERT_EQ(r.phase, "Succeeded") << r.message;
  EXPECT_EQ(r.outputs["result"].get<std::string>().rfind(runner_->options().bin_dir + ":", 0), 0u) << r.outputs["result"];
}

TEST_F(PodRunnerTest, NonZeroExitFailsAsArgo) {
  PodResult r = Run(Request("b", Script("echo partial; exit 3")));
  EXPECT_EQ(r.phase, "Failed");
  EXPECT_EQ(r.message, "Error (exit code 3)");
  EXPECT_EQ(r.outputs["exitCode"], "3");
  EXPECT_EQ(r.outputs["result"], "partial");
}

TEST_F(PodRunnerTest, MissingCommandIsAnError) {
  PodResult r = Run(Request("c", R"({name: c, container: {image: x, command: [/no/such/binary]}})"));
  EXPECT_EQ(r.phase, "Error");
  EXPECT_NE(r.message.find("/no/such/binary"), std::string::npos) << r.message;
  PodResult empty = Run(Request("c2", R"({name: c, container: {image: x}})"));
  EXPECT_EQ(empty.phase, "Error");
  EXPECT_NE(empty.message.find("container.command: empty"), std::string::npos) << empty.message;
}

// workingDir is a path in the pod, made if missing (as a container runtime does).
TEST_F(PodRunnerTest, WorkingDirAndScriptArgs) {
  Json t = {{"name", "w"},
            {"script", {{"image", "x"}, {"command", {"sh"}}, {"args", {"one"}}, {"workingDir", "/tmp/wd/deeper"},
                        {"source", "pwd; echo $1"}}}};
  PodResult r = Run(Request("w", t.dump()));
  EXPECT_EQ(r.phase, "Succeeded") << r.message;
  EXPECT_EQ(r.outputs["result"], (runner_->isolated() ? std::string("/tmp/wd/deeper") : "/tmp/wd/deeper") + "\none");
}

// Two pods write /tmp/x at the same time; each sees its own. The host's /tmp/x is untouched.
TEST_F(PodRunnerTest, EachPodHasItsOwnTmp) {
  const std::string marker = "/tmp/loom-pod-runner-test-" + std::to_string(getpid());
  const std::string source = "echo $ARGO_NODE_ID > " + marker + "; sleep 0.3; cat " + marker;
  PodResult a, b;
  std::thread ta([&] { a = Run(Request("p1", Script(source))); });
  std::thread tb([&] { b = Run(Request("p2", Script(source))); });
  ta.join();
  tb.join();
  EXPECT_EQ(a.phase, "Succeeded") << a.message;
  EXPECT_EQ(b.phase, "Succeeded") << b.message;
  EXPECT_EQ(a.outputs["result"], "p1");
  EXPECT_EQ(b.outputs["result"], "p2");
  if (runner_->isolated()) {
    EXPECT_FALSE(PathExists(marker)) << "a pod's /tmp leaked to the host";
    EXPECT_TRUE(PathExists(home_.Join("pods/wf/p1/tmp/" + Basename(marker))));
  }
  (void)RemoveAll(marker);
}

TEST_F(PodRunnerTest, IsolationIsAvailableAsRoot) {
  // This machine runs tests as root: the namespace path must be the one tested.
  if (geteuid() == 0) {
    EXPECT_TRUE(runner_->isolated());
  }
  EXPECT_EQ(runner_->isolated(), MountNamespacesAvailable());
}

// hostPath and claim volumes are shared between steps; emptyDir is per pod (as in Kubernetes).
TEST_F(PodRunnerTest, VolumesSharedWhereTheYamlSaysSo) {
  const std::string host_dir = home_.Join("host");
  Json volumes = Json::array({{{"name", "shared"}, {"hostPath", {{"path", host_dir}}}},
                              {{"name", "scratch"}, {"emptyDir", Json::object()}},
                              {{"metadata", {{"name", "workdir"}}}, {"spec", {{"accessModes", {"ReadWriteOnce"}}}}}});
  auto pod = [&](const std::string& node, const std::string& source) {
    Json t = {{"name", node},
              {"script", {{"image", "x"}, {"command", {"sh"}}, {"source", source},
                          {"volumeMounts", {{{"name", "shared"}, {"mountPath", "/mnt/shared"}},
                                            {{"name", "scratch"}, {"mountPath", "/tmp/scratch"}},
                                            {{"name", "workdir"}, {"mountPath", "/tmp/work"}}}}}}};
    return Run(Request(node, t.dump(), volumes.dump()));
  };
  PodResult w = pod("writer", "echo one > /mnt/shared/f; echo two > /tmp/work/g; echo three > /tmp/scratch/h");
  ASSERT_EQ(w.phase, "Succeeded") << w.message;
  PodResult r = pod("reader", "cat /mnt/shared/f /tmp/work/g; test -e /tmp/scratch/h && echo leaked || echo fresh");
  ASSERT_EQ(r.phase, "Succeeded") << r.message;
  EXPECT_EQ(r.outputs["result"], "one\ntwo\nfresh");
  EXPECT_EQ(ReadFile(JoinPath(host_dir, "f")).value(), "one\n");
  if (runner_->isolated()) {
    EXPECT_FALSE(PathExists("/mnt/shared/f"));
  }
}

// Init containers and sidecars of a process pod: processes of the pod sharing its volumes, the
// inits to success first, the sidecars beside main and stopped (SIGTERM) when it ends. A
// sidecar whose program this host lacks is refused by name, before anything runs.
TEST_F(PodRunnerTest, InitContainersAndSidecarsAsProcesses) {
  const std::string volumes = "[{name: work, emptyDir: {}}]";
  const std::string mounts = "volumeMounts: [{name: work, mountPath: /work}]";
  const std::string tmpl =
      "{name: p, container: {image: x, " + mounts + ", command: [sh, -c, "
      "'while [ ! -f /work/from-sidecar ]; do sleep 0.05; done; cat /work/from-init /work/from-sidecar']},"
      " initContainers: [{name: prepare, image: x, " + mounts + ", command: [sh, -c, 'echo prepared > /work/from-init']}],"
      " sidecars: [{name: helper, image: x, " + mounts + ", command: [sh, -c, "
      "'echo beside > /work/from-sidecar; trap \"echo sidecar-stopped; exit 0\" TERM; while true; do sleep 0.05; done']}]}";
  PodResult r = Run(Request("with", tmpl, volumes));
  ASSERT_EQ(r.phase, "Succeeded") << r.message << Log("with");
  EXPECT_EQ(r.outputs["result"], "prepared\nbeside");
  EXPECT_NE(Log("with").find("sidecar-stopped"), std::string::npos) << Log("with");

  PodResult failed = Run(Request("init-fails", R"({name: p, container: {image: x, command: [echo, never]},
      initContainers: [{name: prepare, image: x, command: [sh, -c, 'exit 4']}]})"));
  EXPECT_EQ(failed.phase, "Failed");
  EXPECT_EQ(failed.message, "initContainers[0] (prepare): Error (exit code 4)");
  PodResult missing = Run(Request("no-program", R"({name: p, container: {image: x, command: [echo, never]},
      sidecars: [{name: db, image: x, command: [loom-no-such-server]}]})"));
  EXPECT_EQ(missing.phase, "Error");
  EXPECT_EQ(missing.message, "sidecars[0] (db): loom-no-such-server: not found on this host (a process pod runs a "
                             "sidecar's command on the host; --pod-runtime container or auto runs its image)");
}

TEST_F(PodRunnerTest, ADaemonWithoutAProbeIsReadyOnceStartedAndRunsUntilCancelled) {
  PodRequest req = Request("d", R"({name: d, daemon: true, container: {image: x, command: [sleep, "100"]}})");
  int ready = 0;
  req.on_ready = [&] {
    ++ready;
    cancel_ = true;  // its scope ended
  };
  PodResult r = Run(req);
  EXPECT_EQ(ready, 1);
  EXPECT_EQ(r.phase, "Failed");
  EXPECT_EQ(r.message, "pod was stopped (exit code 143)");  // SIGTERM
  // One that cannot start is never ready.
  cancel_ = false;
  ready = 0;
  req = Request("e", R"({name: e, daemon: true, container: {image: x, command: [/no/such/server]}})");
  req.on_ready = [&] { ++ready; };
  r = Run(req);
  EXPECT_EQ(ready, 0);
  EXPECT_EQ(r.phase, "Error");
  EXPECT_NE(r.message.find("failed to start the container"), std::string::npos) << r.message;
}

TEST_F(PodRunnerTest, UnknownVolumeNamesTheField) {
  PodResult r = Run(Request("v", R"({name: v, container: {image: x, command: [true],
      volumeMounts: [{name: nope, mountPath: /data}]}})"));
  EXPECT_EQ(r.phase, "Error");
  EXPECT_NE(r.message.find("container.volumeMounts[0].name: no volume named \"nope\""), std::string::npos) << r.message;
}

// Output parameter from a file, an output artifact into the local repository, and the next pod
// gets it back at its own path (a directory, archived as tgz by default).
TEST_F(PodRunnerTest, OutputsAndArtifactsBetweenPods) {
  PodResult gen = Run(Request("gen", R"(
name: gen
script:
  image: x
  command: [sh]
  source: |
    mkdir -p /tmp/out/sub; echo hello > /tmp/out/sub/a.txt; echo 42 > /tmp/n
outputs:
  parameters: [{name: n, valueFrom: {path: /tmp/n}}, {name: d, valueFrom: {path: /tmp/missing, default: dflt}}]
  artifacts: [{name: out, path: /tmp/out}]
)"));
  ASSERT_EQ(gen.phase, "Succeeded") << gen.message;
  ASSERT_EQ(gen.outputs["parameters"].size(), 2u);
  EXPECT_EQ(gen.outputs["parameters"][0]["value"], "42");
  EXPECT_EQ(gen.outputs["parameters"][1]["value"], "dflt");
  ASSERT_EQ(gen.outputs["artifacts"].size(), 1u);
  const Json saved = gen.outputs["artifacts"][0];
  EXPECT_EQ(saved["s3"]["key"], "wf/gen/out.tgz");
  EXPECT_TRUE(PathExists(home_.Join("artifacts/wf/gen/out.tgz")));

  Json consume = ParseYaml(R"({name: use, script: {image: x, command: [sh], source: "cat /tmp/in/sub/a.txt"}})", "t").value();
  Json input = saved;
  input["name"] = "in";
  input["path"] = "/tmp/in";
  consume["inputs"]["artifacts"] = Json::array({input});
  PodResult use = Run(Request("use", consume.dump()));
  EXPECT_EQ(use.phase, "Succeeded") << use.message;
  EXPECT_EQ(use.outputs["result"], "hello");
}

TEST_F(PodRunnerTest, MissingOutputIsAnError) {
  PodResult r = Run(Request("m", R"({name: m, container: {image: x, command: [true]},
      outputs: {parameters: [{name: p, valueFrom: {path: /tmp/none}}]}})"));
  EXPECT_EQ(r.phase, "Error");
  EXPECT_NE(r.message.find("outputs.parameters.p: /tmp/none: no such file"), std::string::npos) << r.message;
}

TEST_F(PodRunnerTest, RawInputArtifact) {
  PodResult r = Run(Request("raw", R"({name: raw, inputs: {artifacts: [{name: cfg, path: /tmp/cfg.txt, raw: {data: "k=v"}}]},
      container: {image: x, command: [cat, /tmp/cfg.txt]}})"));
  EXPECT_EQ(r.phase, "Succeeded") << r.message;
  EXPECT_EQ(r.outputs["result"], "k=v");
}

// Cancel: SIGTERM to the process group (a trap sees it), the pod ends soon, nothing is left.
// (The pod's own pids may be those of its PID namespace: its processes are found from the host
// by their ARGO_NODE_ID, as Reclaim finds them.)
TEST_F(PodRunnerTest, CancelTerminatesTheProcessGroup) {
  const std::string started = home_.Join("out/started");
  PodResult r;
  std::thread t([&] {
    r = Run(WithOut("long", "sleep 300 & touch /out/started; wait"));
  });
  for (int i = 0; i < 1000 && !PathExists(started); ++i) usleep(10000);
  ASSERT_TRUE(PathExists(started));
  const std::vector<pid_t> pids = PodProcesses("wf", {"long"});
  EXPECT_GE(pids.size(), 2u) << "the shell and its sleep";
  cancel_ = true;
  t.join();
  EXPECT_EQ(r.phase, "Failed");
  EXPECT_NE(r.message.find("stopped"), std::string::npos) << r.message;
  for (pid_t pid : pids) {
    for (int i = 0; i < 200 && Alive(pid); ++i) usleep(10000);
    EXPECT_FALSE(Alive(pid)) << "a process of the pod survived: " << pid;
  }
}

// Processes left in the pod's group when its main process ends are killed with it.
TEST_F(PodRunnerTest, StragglersDieWithTheMainProcess) {
  PodResult r = Run(WithOut("s", "sleep 300 >/dev/null 2>&1 &"));
  EXPECT_EQ(r.phase, "Succeeded") << r.message;
  for (int i = 0; i < 200 && !PodProcesses("wf", {"s"}).empty(); ++i) usleep(10000);  // SIGKILL was sent; it lands
  EXPECT_TRUE(PodProcesses("wf", {"s"}).empty());
}

// Without mount namespaces (Isolation::kNone, or not root): TMPDIR per pod; a volume or input
// artifact at a path is refused (a host symlink there would be every pod's at once).
TEST_F(PodRunnerTest, FallbackWithoutMountNamespace) {
  PodRunnerOptions options;
  options.home = home_.path();
  options.isolation = PodRunnerOptions::Isolation::kNone;
  auto runner = LocalPodRunner::Create(options);
  ASSERT_TRUE(runner.ok()) << runner.status().ToString();
  EXPECT_FALSE((*runner)->isolated());
  PodResult plain = (*runner)->Run(Request("fb0", Script("echo $TMPDIR; echo 7 > $TMPDIR/n")), *store_);
  ASSERT_EQ(plain.phase, "Succeeded") << plain.message;
  EXPECT_EQ(plain.outputs["result"], home_.Join("pods/wf/fb0/tmp"));
  EXPECT_EQ(ReadFile(home_.Join("pods/wf/fb0/tmp/n")).value(), "7\n");

  const std::string mount = home_.Join("mnt/shared"), host = home_.Join("host");
  Json t = {{"name", "f"},
            {"script", {{"image", "x"}, {"command", {"sh"}}, {"source", "echo hi > " + mount + "/f"},
                        {"volumeMounts", {{{"name", "v"}, {"mountPath", mount}}}}}}};
  Json volumes = Json::array({{{"name", "v"}, {"hostPath", {{"path", host}}}}});
  PodResult result = (*runner)->Run(Request("fb", t.dump(), volumes.dump()), *store_);
  EXPECT_EQ(result.phase, "Error");
  EXPECT_NE(result.message.find("volumes and input artifacts at " + mount + ": pods here have no mount namespace"),
            std::string::npos) << result.message;
  EXPECT_FALSE(PathExists(mount)) << "nothing is made at the pod's path on the host";
}

// A pod's environment is its spec's: not the engine's (where S3 keys may be), but the Secret and
// ConfigMap values it asks for, from the ConfigStore.
TEST_F(PodRunnerTest, EnvironmentIsTheSpecsAndSecretsComeFromTheStore) {
  ASSERT_EQ(setenv("LOOM_TEST_ENGINE_SECRET", "engine-only", 1), 0);
  container::ConfigStore config(home_.Join("objects"));
  container::ConfigObject secret;
  secret.name = "s3";
  secret.data = {{"secretKey", "from-the-store"}, {"region", "eu"}};
  ASSERT_TRUE(config.Put(secret, false).ok());
  container::ConfigObject map;
  map.kind = container::ConfigKind::kConfigMap;
  map.type.clear();
  map.name = "settings";
  map.data = {{"level", "3"}};
  ASSERT_TRUE(config.Put(map, false).ok());
  PodResult r = Run(Request("env", R"({name: e, container: {image: x, command: [sh, -c],
      args: ["echo engine=$LOOM_TEST_ENGINE_SECRET key=$KEY level=$LEVEL cfg_level=$CFG_level region=$region pod=$POD home=$LOOM_HOME"],
      env: [{name: KEY, valueFrom: {secretKeyRef: {name: s3, key: secretKey}}},
            {name: LEVEL, valueFrom: {configMapKeyRef: {name: settings, key: level}}},
            {name: MISSING, valueFrom: {secretKeyRef: {name: nope, key: k, optional: true}}},
            {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}],
      envFrom: [{secretRef: {name: s3}}, {prefix: CFG_, configMapRef: {name: settings}}]}})"));
  unsetenv("LOOM_TEST_ENGINE_SECRET");
  ASSERT_EQ(r.phase, "Succeeded") << r.message;
  EXPECT_EQ(r.outputs["result"], "engine= key=from-the-store level=3 cfg_level=3 region=eu pod=env home=" + home_.path());

  PodResult missing = Run(Request("env2", R"({name: e, container: {image: x, command: [true],
      env: [{name: KEY, valueFrom: {secretKeyRef: {name: s3, key: nokey}}}]}})"));
  EXPECT_EQ(missing.phase, "Error");
  EXPECT_EQ(missing.message, "container.env[0].valueFrom.secretKeyRef: couldn't find key nokey in Secret s3");
  PodResult absent = Run(Request("env3", R"({name: e, container: {image: x, command: [true],
      envFrom: [{secretRef: {name: other}}]}})"));
  EXPECT_EQ(absent.phase, "Error");
  EXPECT_EQ(absent.message, "container.envFrom[0].secretRef: secret \"other\" not found");
}

// runAsUser / runAsGroup make the process that user; runAsNonRoot refuses root as kubelet does;
// no_new_privs is set; with pid_namespace the pod is pid 2 of its own PID namespace (after its
// init), and sees only its own processes.
TEST_F(PodRunnerTest, SecurityContextAndNamespaces) {
  PodResult r = Run(Request("user", R"({name: u, securityContext: {runAsNonRoot: true, runAsUser: 1000},
      container: {image: x, command: [sh, -c], securityContext: {runAsGroup: 1001, allowPrivilegeEscalation: false},
                  args: ["echo $(id -u):$(id -g) $(grep NoNewPrivs /proc/self/status | tr -d '\t '); touch /tmp/w && echo tmp-ok"]}})"));
  ASSERT_EQ(r.phase, "Succeeded") << r.message;
  EXPECT_EQ(r.outputs["result"], "1000:1001 NoNewPrivs:1\ntmp-ok");

  if (geteuid() == 0) {
    PodResult root = Run(Request("root", R"({name: r, container: {image: x, command: [id], securityContext: {runAsNonRoot: true}}})"));
    EXPECT_EQ(root.phase, "Error");
    EXPECT_EQ(root.message, "container has runAsNonRoot and image will run as root (pod: \"root\", container: main)");
  }
  if (PidNamespacesAvailable()) {
    PodRunnerOptions options;
    options.home = home_.path();
    options.pid_namespace = true;
    auto runner = LocalPodRunner::Create(options);
    ASSERT_TRUE(runner.ok()) << runner.status().ToString();
    PodResult ns = (*runner)->Run(Request("pid", Script("echo $$; ls /proc | grep -c '^[0-9]'")), *store_);
    ASSERT_EQ(ns.phase, "Succeeded") << ns.message;
    const std::string seen = ns.outputs["result"].get<std::string>();
    EXPECT_EQ(seen.substr(0, 2), "2\n") << seen;
    EXPECT_LE(std::stoi(seen.substr(2)), 4) << "init, sh, ls and grep: " << seen;

    // Two daemons started at once, each ready (its init holds nothing of the other's), each
    // ended by SIGTERM through its init.
    std::atomic<bool> cancel_a{false}, cancel_b{false};
    PodResult a, b;
    auto daemon = [&](const std::string& node, std::atomic<bool>* cancel, PodResult* out) {
      PodRequest req = Request(node, R"({name: d, daemon: true, container: {image: x, command: [sleep, "100"]}})");
      req.cancel = cancel;
      req.on_ready = [cancel] { *cancel = true; };
      *out = (*runner)->Run(req, *store_);
    };
    std::thread ta([&] { daemon("pid-a", &cancel_a, &a); });
    std::thread tb([&] { daemon("pid-b", &cancel_b, &b); });
    ta.join();
    tb.join();
    EXPECT_EQ(a.message, "pod was stopped (exit code 143)");
    EXPECT_EQ(b.message, "pod was stopped (exit code 143)");
  }
}

// What a host process cannot have is refused with its field, never ignored.
TEST_F(PodRunnerTest, FieldsTheProcessRuntimeCannotEnforceAreRefused) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({name: m, container: {image: x, command: [true], resources: {limits: {memory: 10Mi}}}})", "container.resources: "},
      {R"({name: m, container: {image: x, command: [true], resources: {limits: {nvidia.com/gpu: 1}}}})",
       "container.resources.limits.nvidia.com/gpu: only cpu and memory"},
      {R"({name: m, container: {image: x, command: [true], securityContext: {readOnlyRootFilesystem: true}}})",
       "container.securityContext.readOnlyRootFilesystem: the process runtime cannot enforce this"},
      {R"({name: m, container: {image: x, command: [true], securityContext: {capabilities: {add: [NET_ADMIN]}}}})",
       "container.securityContext.capabilities.add: the process runtime cannot enforce this"},
      {R"({name: m, container: {image: x, command: [true], securityContext: {seLinuxOptions: {}}}})",
       "container.securityContext.seLinuxOptions: not supported on one machine"},
      {R"({name: m, podSpecPatch: '{"containers": [{"name": "main", "resources": {"limits": {"cpu": "100m"}}}]}',
           container: {image: x, command: [true]}})", "container.resources: the process runtime cannot enforce this"},
      {R"({name: m, podSpecPatch: '{"hostNetwork": true}', container: {image: x, command: [true]}})",
       "podSpecPatch.hostNetwork: not supported on one machine"},
  };
  int i = 0;
  for (const auto& [tmpl, want] : cases) {
    PodResult r = Run(Request("refuse" + std::to_string(i++), tmpl));
    EXPECT_EQ(r.phase, "Error") << tmpl;
    EXPECT_NE(r.message.find(want), std::string::npos) << r.message;
  }
}

TEST_F(PodRunnerTest, ResourceOfAnotherKindIsNotSupported) {
  PodResult r = Run(Request("r", R"({name: r, resource: {action: create, manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"}})"));
  EXPECT_EQ(r.phase, "Error");
  EXPECT_NE(r.message.find("ConfigMap resources are not supported on one machine"), std::string::npos) << r.message;
}

// A TFJob resource runs on the local job controller; the success condition is evaluated on its
// status, and an output parameter comes from a jsonPath.
TEST_F(PodRunnerTest, TfJobResourceWithConditions) {
  const std::string manifest =
      "apiVersion: kubeflow.org/v1\nkind: TFJob\nmetadata: {generateName: tiny-}\nspec:\n  tfReplicaSpecs:\n"
      "    Worker:\n      replicas: 2\n      template: {spec: {containers: [{name: tensorflow, image: x, "
      "command: [sh, -c, 'echo $TF_CONFIG']}]}}\n";
  Json t = {{"name", "tf"},
            {"resource", {{"action", "create"}, {"manifest", manifest},
                          {"successCondition", "status.replicaStatuses.Worker.succeeded > 1"},
                          {"failureCondition", "status.replicaStatuses.Worker.failed > 0"}}},
            {"outputs", {{"parameters", {{{"name", "job"}, {"valueFrom", {{"jsonPath", "{.metadata.name}"}}}}}}}}};
  PodResult r = Run(Request("tf", t.dump()));
  ASSERT_EQ(r.phase, "Succeeded") << r.message << Log("tf");
  const std::string name = r.outputs["parameters"][0]["value"];
  EXPECT_EQ(name.rfind("tiny-", 0), 0u) << name;
  EXPECT_TRUE(PathExists(home_.Join("jobs/" + name + "/status.json")));
  EXPECT_NE(Log("tf").find("tfjob.kubeflow.org/" + name + " created"), std::string::npos) << Log("tf");

  t["resource"]["successCondition"] = "status.replicaStatuses.Worker.succeeded > 2";
  PodResult unmet = Run(Request("tf2", t.dump()));
  EXPECT_EQ(unmet.phase, "Failed");
  EXPECT_NE(unmet.message.find("success condition"), std::string::npos) << unmet.message;
}

// A PyTorchJob resource runs on the same controller, each replica with the environment the
// Training Operator gives it; the Master's exit decides the job.
TEST_F(PodRunnerTest, PyTorchJobResourceWithConditions) {
  const std::string check = "test \"$WORLD_SIZE\" = 3 && test -n \"$MASTER_ADDR\" && echo rank $RANK of $WORLD_SIZE";
  const std::string replica =
      "      template: {spec: {containers: [{name: pytorch, image: x, command: [sh, -c, '" + check + "']}]}}\n";
  const std::string manifest = "apiVersion: kubeflow.org/v1\nkind: PyTorchJob\nmetadata: {generateName: ddp-}\nspec:\n"
                               "  pytorchReplicaSpecs:\n    Master:\n      replicas: 1\n" + replica +
                               "    Worker:\n      replicas: 2\n" + replica;
  Json t = {{"name", "pt"},
            {"resource", {{"action", "create"}, {"manifest", manifest},
                          {"successCondition", "status.replicaStatuses.Master.succeeded > 0"}}},
            {"outputs", {{"parameters", {{{"name", "job"}, {"valueFrom", {{"jsonPath", "{.metadata.name}"}}}}}}}}};
  PodResult r = Run(Request("pt", t.dump()));
  ASSERT_EQ(r.phase, "Succeeded") << r.message << Log("pt");
  const std::string name = r.outputs["parameters"][0]["value"];
  EXPECT_EQ(name.rfind("ddp-", 0), 0u) << name;
  EXPECT_NE(Log("pt").find("pytorchjob.kubeflow.org/" + name + " created"), std::string::npos) << Log("pt");

  // A PyTorchJob without a Master is refused naming the field, as `loom job run` refuses it.
  const std::string no_master = "apiVersion: kubeflow.org/v1\nkind: PyTorchJob\nmetadata: {name: w}\nspec:\n"
                                "  pytorchReplicaSpecs:\n    Worker:\n      replicas: 2\n" + replica;
  t["resource"]["manifest"] = no_master;
  PodResult refused = Run(Request("pt2", t.dump()));
  EXPECT_EQ(refused.phase, "Error");
  EXPECT_NE(refused.message.find("Master"), std::string::npos) << refused.message;
}

// A TrainJob resource (Trainer v2) is resolved against the built-in torch-distributed runtime
// and runs on the same controller, each node with the torch plugin's PET_* variables; the
// conditions read Trainer's jobsStatus. A bad runtime reference is an Error naming the field.
TEST_F(PodRunnerTest, TrainJobResourceWithConditions) {
  const std::string check = "test \"$PET_NNODES\" = 3 && test \"$PET_NODE_RANK\" = \"$JOB_COMPLETION_INDEX\" && "
                            "test -n \"$PET_MASTER_PORT\" && echo node $PET_NODE_RANK of $PET_NNODES";
  const std::string manifest = "apiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainJob\nmetadata: {generateName: tj-}\n"
                               "spec:\n  runtimeRef: {name: torch-distributed}\n"
                               "  trainer: {numNodes: 3, command: [sh, -c, '" + check + "']}\n";
  Json t = {{"name", "tj"},
            {"resource", {{"action", "create"}, {"manifest", manifest},
                          {"successCondition", "status.jobsStatus.0.succeeded > 0, status.conditions.0.type == Complete"},
                          {"failureCondition", "status.jobsStatus.0.failed > 0"}}},
            {"outputs", {{"parameters", {{{"name", "job"}, {"valueFrom", {{"jsonPath", "{.metadata.name}"}}}}}}}}};
  PodResult r = Run(Request("tj", t.dump()));
  ASSERT_EQ(r.phase, "Succeeded") << r.message << Log("tj");
  const std::string name = r.outputs["parameters"][0]["value"];
  EXPECT_EQ(name.rfind("tj-", 0), 0u) << name;
  EXPECT_NE(Log("tj").find("trainjob.trainer.kubeflow.org/" + name + " created"), std::string::npos) << Log("tj");
  auto node2 = ReadFile(home_.Join("jobs/" + name + "/logs/node-2.log"));
  ASSERT_TRUE(node2.ok()) << node2.status().ToString();
  EXPECT_EQ(*node2, "node 2 of 3\n");

  const std::string bad_ref = "apiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainJob\nmetadata: {name: tj}\n"
                              "spec:\n  runtimeRef: {name: torch}\n  trainer: {command: [true]}\n";
  t["resource"]["manifest"] = bad_ref;
  PodResult refused = Run(Request("tj2", t.dump()));
  EXPECT_EQ(refused.phase, "Error");
  EXPECT_NE(refused.message.find("spec.runtimeRef.name: no ClusterTrainingRuntime named \"torch\""), std::string::npos)
      << refused.message;
}

}  // namespace
}  // namespace loom::workflow
