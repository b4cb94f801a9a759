// Pods in containers through LocalPodRunner (podman, images built offline from a static
// busybox): auto picks a container when the image is in the local store; the image's
// entrypoint; init containers and a sidecar stopped when main ends; a memory limit (written, or
// from podSpecPatch) ending in OOMKilled; runAsUser/runAsNonRoot; the Secret a pod asks for and not the engine's environment;
// two pods with one mountPath at once; outputs read back from the container's /tmp; a daemon in a
// container, ready when its probe passes and stopped by the engine.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "container/config_store.h"
#include "container/test_images.h"
#include "core/file.h"
#include "test_util/loopback.h"
#include "test_util/test_env.h"
#include "workflow/pod_runner.h"
#include "workflow/pod_spec_patch.h"
#include "workflow/store.h"

namespace loom::workflow {
namespace {

constexpr char kImage[] = "localhost/loom-test-pods:1";

class ContainerPodsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(testing::BuildBusyboxImage(kImage, {"--entrypoint", R"(["/bin/echo","from","the","entrypoint"])"}));
  }
  void SetUp() override {
    store_ = Store::Open(home_.Join("workflows.db")).value();
    runner_ = NewRunner(PodRunnerOptions::Runtime::kAuto);
  }
  std::unique_ptr<LocalPodRunner> NewRunner(PodRunnerOptions::Runtime runtime) {
    PodRunnerOptions options;
    options.home = home_.path();
    options.kill_grace_secs = 2;
    options.runtime = runtime;
    auto runner = LocalPodRunner::Create(options);
    EXPECT_TRUE(runner.ok()) << runner.status().ToString();
    return std::move(*runner);
  }
  PodRequest Request(const std::string& node, const Json& tmpl, const Json& volumes = Json::array()) {
    PodRequest r;
    r.workflow = "wf";
    r.node_id = "wf-" + node;
    r.node_name = "wf." + node;
    r.tmpl = TemplateFromJson(tmpl, "tmpl").value();
    r.volumes = volumes;
    r.pod_dir = home_.Join("pods/wf/" + node);
    r.cancel = &cancel_;
    return r;
  }
  static Json Container(const std::string& source, const Json& extra = Json::object()) {
    Json c = {{"image", kImage}, {"command", {"sh", "-c", source}}};
    c.update(extra);
    return {{"name", "t"}, {"container", c}};
  }
  PodResult Run(const PodRequest& r) { return runner_->Run(r, *store_); }
  std::string Log(const std::string& node) { return store_->ReadLog("wf", "wf-" + node, 0, -1, nullptr).value(); }

  testing::ScratchDir home_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<LocalPodRunner> runner_;
  std::atomic<bool> cancel_{false};
};

// No command: the image's ENTRYPOINT, as Kubernetes runs it; the process runtime cannot know it.
TEST_F(ContainerPodsTest, AutoRunsTheImagesEntrypointInAContainer) {
  const Json tmpl = {{"name", "e"}, {"container", {{"image", kImage}}}};
  PodResult r = Run(Request("entry", tmpl));
  ASSERT_EQ(r.phase, "Succeeded") << r.message;
  EXPECT_EQ(r.outputs["result"], "from the entrypoint");
  PodResult process = NewRunner(PodRunnerOptions::Runtime::kProcess)->Run(Request("entry2", tmpl), *store_);
  EXPECT_EQ(process.phase, "Error");
  // An image that is not in the store: auto runs a process, container refuses.
  const Json absent = {{"name", "a"}, {"container", {{"image", "localhost/loom-no-such:0"}, {"command", {"true"}}}}};
  EXPECT_EQ(Run(Request("absent", absent)).phase, "Succeeded");
  PodResult refused = NewRunner(PodRunnerOptions::Runtime::kContainer)->Run(Request("absent2", absent), *store_);
  EXPECT_EQ(refused.phase, "Error");
  EXPECT_EQ(refused.message, "container.image: image localhost/loom-no-such:0 is not in the local image store");
}

TEST_F(ContainerPodsTest, InitContainersThenMainWithASidecarStoppedWhenMainEnds) {
  Json tmpl = Container("cat /work/from-init; cat /work/from-sidecar; echo main-done",
                        {{"volumeMounts", {{{"name", "work"}, {"mountPath", "/work"}}}}});
  tmpl["initContainers"] = {{{"name", "prepare"}, {"image", kImage},
                             {"command", {"sh", "-c", "echo prepared > /work/from-init"}},
                             {"volumeMounts", {{{"name", "work"}, {"mountPath", "/work"}}}}}};
  tmpl["sidecars"] = {{{"name", "helper"}, {"image", kImage},
                       {"command", {"sh", "-c", "echo beside > /work/from-sidecar; trap 'echo sidecar-stopped; exit 0' TERM; while true; do sleep 0.1; done"}},
                       {"volumeMounts", {{{"name", "work"}, {"mountPath", "/work"}}}}}};
  tmpl["container"]["command"] = {"sh", "-c", "while [ ! -f /work/from-sidecar ]; do sleep 0.1; done; cat /work/from-init /work/from-sidecar; echo main-done"};
  const Json volumes = {{{"name", "work"}, {"emptyDir", Json::object()}}};
  PodResult r = Run(Request("init", tmpl, volumes));
  ASSERT_EQ(r.phase, "Succeeded") << r.message << Log("init");
  EXPECT_EQ(r.outputs["result"], "prepared\nbeside\nmain-done");
  EXPECT_NE(Log("init").find("sidecar-stopped"), std::string::npos) << Log("init");

  Json failing = tmpl;
  failing["initContainers"][0]["command"] = {"sh", "-c", "exit 4"};
  PodResult f = Run(Request("init-fails", failing, volumes));
  EXPECT_EQ(f.phase, "Failed");
  EXPECT_EQ(f.message, "initContainers[0] (prepare): Error (exit code 4)");
}

TEST_F(ContainerPodsTest, MemoryLimitEndsInOomKilled) {
  PodResult r = Run(Request("oom", Container("dd if=/dev/zero of=/dev/null bs=200M count=1 && echo survived",
                                             {{"resources", {{"limits", {{"memory", "32Mi"}}}}}})));
  EXPECT_EQ(r.phase, "Failed");
  EXPECT_EQ(r.message, "OOMKilled (exit code 137)");
}

// A memory limit that comes from podSpecPatch (merged into the pod's main container, as Argo
// does) is enforced as if the template had said it.
TEST_F(ContainerPodsTest, PodSpecPatchMemoryLimitEndsInOomKilled) {
  PodRequest request = Request("patched-oom", Container("dd if=/dev/zero of=/dev/null bs=200M count=1 && echo survived"));
  const Json patch = "containers:\n  - name: main\n    resources: {limits: {memory: 32Mi}}\n";
  ASSERT_TRUE(ApplyPodSpecPatches({patch}, &request.tmpl).ok());
  PodResult r = Run(request);
  EXPECT_EQ(r.phase, "Failed");
  EXPECT_EQ(r.message, "OOMKilled (exit code 137)");
}

TEST_F(ContainerPodsTest, RunAsUserAndRunAsNonRoot) {
  PodResult r = Run(Request("user", Container("id -u; id -g; touch /tmp/ok && echo tmp-writable",
                                              {{"securityContext", {{"runAsUser", 1000}, {"runAsGroup", 1000}, {"runAsNonRoot", true}}}})));
  ASSERT_EQ(r.phase, "Succeeded") << r.message;
  EXPECT_EQ(r.outputs["result"], "1000\n1000\ntmp-writable");
  PodResult root = Run(Request("root", Container("id -u", {{"securityContext", {{"runAsNonRoot", true}}}})));
  EXPECT_EQ(root.phase, "Error");
  EXPECT_EQ(root.message, "container has runAsNonRoot and image will run as root (pod: \"loom-wf-root\", container: main)");
}

TEST_F(ContainerPodsTest, TheSecretItAsksForNotTheEnginesEnvironment) {
  ASSERT_EQ(setenv("AWS_SECRET_ACCESS_KEY", "engine-only", 1), 0);
  container::ConfigStore config(home_.Join("objects"));
  container::ConfigObject secret;
  secret.name = "s3";
  secret.data = {{"secretKey", "from-the-secret"}};
  ASSERT_TRUE(config.Put(secret, false).ok());
  PodResult r = Run(Request("secret", Container("echo key=$KEY engine=$AWS_SECRET_ACCESS_KEY; ls " + home_.Join("objects") + " | wc -l",
      {{"env", {{{"name", "KEY"}, {"valueFrom", {{"secretKeyRef", {{"name", "s3"}, {"key", "secretKey"}}}}}}}}})));
  unsetenv("AWS_SECRET_ACCESS_KEY");
  ASSERT_EQ(r.phase, "Succeeded") << r.message;
  // The store itself is not visible in the pod, though Loom's home is.
  EXPECT_EQ(r.outputs["result"], "key=from-the-secret engine=\n0");
}

// Two pods (of two workflows) with one mountPath, at once: each sees its own volume there.
TEST_F(ContainerPodsTest, TwoPodsWithOneMountPathAtOnce) {
  PodResult a, b;
  auto pod = [&](const std::string& node, const std::string& host) {
    Json tmpl = Container("echo " + node + " > /data/who; sleep 1; cat /data/who",
                          {{"volumeMounts", {{{"name", "d"}, {"mountPath", "/data"}}}}});
    return Request(node, tmpl, Json::array({{{"name", "d"}, {"hostPath", {{"path", home_.Join(host)}}}}}));
  };
  std::thread ta([&] { a = Run(pod("one", "host-one")); });
  std::thread tb([&] { b = Run(pod("two", "host-two")); });
  ta.join();
  tb.join();
  EXPECT_EQ(a.outputs["result"], "one") << a.message;
  EXPECT_EQ(b.outputs["result"], "two") << b.message;
  EXPECT_EQ(ReadFile(home_.Join("host-one/who")).value(), "one\n");
  EXPECT_FALSE(PathExists("/data/who")) << "nothing on the host's own path";
}

TEST_F(ContainerPodsTest, OutputParametersFromTheContainersTmp) {
  Json tmpl = Container("mkdir -p /tmp/out; printf 42 > /tmp/out/answer");
  tmpl["outputs"] = {{"parameters", {{{"name", "answer"}, {"valueFrom", {{"path", "/tmp/out/answer"}}}}}}};
  PodResult r = Run(Request("outputs", tmpl));
  ASSERT_EQ(r.phase, "Succeeded") << r.message;
  EXPECT_EQ(r.outputs["parameters"][0]["value"], "42");
}


// A daemon (`daemon: true`) in a container: on_ready once its tcpSocket probe reaches it on the
// host's network, then it runs until the engine stops it. A probe that never passes stops it and
// fails the pod; an exec probe, which the engine cannot run inside the container, is refused.
TEST_F(ContainerPodsTest, DaemonInAContainerIsReadyThenStopped) {
  const int port = testing::FreeLoopbackPort();
  Json tmpl = Container("echo serving; exec busybox httpd -f -p 127.0.0.1:" + std::to_string(port) + " -h /tmp",
                        {{"readinessProbe", {{"tcpSocket", {{"port", port}}}, {"periodSeconds", 1}}}});
  tmpl["daemon"] = true;
  std::atomic<bool> ready{false};
  PodRequest request = Request("daemon", tmpl);
  request.on_ready = [&] { ready = true; };
  PodResult r;
  std::thread pod([&] { r = Run(request); });
  for (int i = 0; i < 3000 && !ready; ++i) usleep(10000);
  EXPECT_TRUE(ready.load());
  EXPECT_NE(Log("daemon").find("serving"), std::string::npos) << "the log is flushed before on_ready";
  cancel_ = true;
  pod.join();
  EXPECT_EQ(r.phase, "Failed");
  EXPECT_EQ(r.message.rfind("pod was stopped (exit code ", 0), 0u) << r.message;

  cancel_ = false;
  Json never = Container("sleep 60", {{"readinessProbe", {{"tcpSocket", {{"port", testing::FreeLoopbackPort()}}}, {"periodSeconds", 1},
                                                          {"failureThreshold", 2}}}});
  never["daemon"] = true;
  PodResult failed = Run(Request("never-ready", never));
  EXPECT_EQ(failed.phase, "Failed");
  EXPECT_EQ(failed.message.rfind("container.readinessProbe: failed 2 times: dial tcp 127.0.0.1:", 0), 0u) << failed.message;

  Json exec = Container("sleep 60", {{"readinessProbe", {{"exec", {{"command", {"true"}}}}}}});
  exec["daemon"] = true;
  PodResult refused = Run(Request("exec-probe", exec));
  EXPECT_EQ(refused.phase, "Error");
  EXPECT_EQ(refused.message.rfind("container.readinessProbe.exec: not run in a container here", 0), 0u) << refused.message;
}

}  // namespace
}  // namespace loom::workflow
