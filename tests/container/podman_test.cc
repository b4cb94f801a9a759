// Podman on real containers: images built offline by buildah from a static busybox, run with
// Kubernetes' rules: entrypoint/CMD, env over the image's, workingDir, bind mounts, a memory
// limit ending in OOMKilled, runAsUser and runAsNonRoot, a read-only root, cancel.
#include "container/podman.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "container/test_images.h"
#include "core/file.h"
#include "test_util/test_env.h"

namespace loom::container {
namespace {

constexpr char kHello[] = "localhost/loom-test-hello:1";

class PodmanTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    PodmanOptions options;
    options.stop_grace_secs = 2;
    auto podman = Podman::Create(options);
    ASSERT_TRUE(podman.ok()) << podman.status().message();
    podman_ = std::move(*podman).release();
    ASSERT_TRUE(testing::BuildBusyboxImage(kHello, {"--entrypoint", R"(["/bin/echo","hello"])", "--cmd", R"(["world"])",
                                                    "--env", "FROM_IMAGE=image", "--env", "BOTH=image",
                                                    "--workingdir", "/etc"}));
  }
  static void TearDownTestSuite() {
    delete podman_;
    podman_ = nullptr;
  }

  // Runs `kHello` with command/args; returns its output (stdout then stderr as they came).
  ContainerExit Run(ContainerSpec spec, std::string* out, const std::atomic<bool>* cancel = nullptr) {
    if (spec.image.empty()) spec.image = kHello;
    auto image = podman_->InspectImage(spec.image);
    EXPECT_TRUE(image.ok()) << image.status().message();
    spec.image_config = *image;
    if (spec.name.empty()) spec.name = "loom-test-" + std::to_string(getpid()) + "-" + std::to_string(counter_++);
    spec.scratch_dir = dir_.path();
    spec.labels = {{"loom.test", std::to_string(getpid())}};
    auto r = podman_->Run(spec, cancel, [&](int, std::string_view b) { out->append(b); });
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : ContainerExit();
  }
  static std::vector<std::string> Argv(const std::vector<std::string>& command, const std::vector<std::string>& args) {
    auto image = podman_->InspectImage(kHello);
    return ContainerArgv(*image, command, args, "container").value();
  }

  static Podman* podman_;
  static int counter_;
  testing::ScratchDir dir_;
};
Podman* PodmanTest::podman_ = nullptr;
int PodmanTest::counter_ = 0;

TEST_F(PodmanTest, RuntimeDetectedAndImageInspected) {
  EXPECT_TRUE(podman_->runtime() == "crun" || podman_->runtime() == "runc") << podman_->runtime();
  auto image = podman_->InspectImage(kHello);
  ASSERT_TRUE(image.ok()) << image.status().message();
  EXPECT_EQ(image->entrypoint, (std::vector<std::string>{"/bin/echo", "hello"}));
  EXPECT_EQ(image->cmd, std::vector<std::string>{"world"});
  EXPECT_EQ(image->working_dir, "/etc");
  auto missing = podman_->InspectImage("localhost/loom-no-such-image:0");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().message();
}

// Kubernetes' four cases of command/args against ENTRYPOINT/CMD, run for real.
TEST_F(PodmanTest, EntrypointAndCmdAsKubernetes) {
  const std::pair<std::vector<std::string>, std::vector<std::string>> cases[] = {
      {{}, {}}, {{}, {"there"}}, {{"/bin/echo"}, {}}, {{"/bin/echo", "-n"}, {"a", "b"}}};
  const char* want[] = {"hello world\n", "hello there\n", "\n", "a b"};
  for (size_t i = 0; i < 4; ++i) {
    ContainerSpec spec;
    spec.argv = Argv(cases[i].first, cases[i].second);
    std::string out;
    ContainerExit e = Run(spec, &out);
    EXPECT_EQ(e.exit_code, 0) << e.error;
    EXPECT_EQ(out, want[i]) << i;
  }
}

TEST_F(PodmanTest, EnvWorkingDirMountsAndExitCode) {
  ASSERT_TRUE(MakeDirs(dir_.Join("in")).ok());
  ASSERT_TRUE(WriteFileAtomic(dir_.Join("in/data.txt"), "from the host\n").ok());
  ASSERT_TRUE(MakeDirs(dir_.Join("out")).ok());
  ContainerSpec spec;
  spec.argv = Argv({"/bin/sh", "-c"}, {"echo $FROM_IMAGE $BOTH \"$SPACED\" $(pwd); cat /in/data.txt; echo w > /out/f; exit 3"});
  spec.env = {{"BOTH", "spec"}, {"SPACED", "a b=c"}};
  spec.working_dir = "/tmp";
  spec.mounts = {{dir_.Join("in"), "/in", true}, {dir_.Join("out"), "/out", false}};
  std::string out;
  ContainerExit e = Run(spec, &out);
  EXPECT_EQ(e.exit_code, 3);
  EXPECT_TRUE(e.error.empty()) << e.error;
  EXPECT_EQ(out, "image spec a b=c /tmp\nfrom the host\n");
  EXPECT_EQ(ReadFile(dir_.Join("out/f")).value(), "w\n");
  // The env file (0600, for podman only) is gone once the container exists.
  const std::vector<std::string> left = ListDir(dir_.path()).value();
  for (const std::string& f : left) EXPECT_EQ(f.find(".env"), std::string::npos) << f;

  ContainerSpec missing;
  missing.argv = {"/no/such/binary"};
  ContainerExit m = Run(missing, &out);
  EXPECT_EQ(m.exit_code, 128);  // Kubernetes' StartError
  EXPECT_NE(m.error.find("exec: \"/no/such/binary\": stat /no/such/binary: no such file or directory"), std::string::npos) << m.error;
}

// A pod over its memory limit is killed and reported OOMKilled, as on Kubernetes; one under it is not.
TEST_F(PodmanTest, MemoryLimitEndsInOomKilled) {
  ContainerSpec spec;
  spec.argv = Argv({"/bin/sh", "-c"}, {"dd if=/dev/zero of=/dev/null bs=200M count=1 && echo survived"});
  spec.resources.memory_limit = 32 << 20;
  std::string out;
  ContainerExit e = Run(spec, &out);
  EXPECT_EQ(e.exit_code, 137) << out << e.error;
  EXPECT_TRUE(e.oom_killed);
  EXPECT_EQ(out.find("survived"), std::string::npos);

  ContainerSpec small = spec;
  small.argv = Argv({"/bin/sh", "-c"}, {"dd if=/dev/zero of=/dev/null bs=1M count=1 2>/dev/null && echo survived"});
  out.clear();
  ContainerExit ok = Run(small, &out);
  EXPECT_EQ(ok.exit_code, 0) << ok.error;
  EXPECT_FALSE(ok.oom_killed);
  EXPECT_EQ(out, "survived\n");
}

TEST_F(PodmanTest, SecurityContext) {
  ContainerSpec spec;
  spec.argv = Argv({"/bin/sh", "-c"}, {"id -u; id -g; grep NoNewPrivs /proc/self/status | tr -d '\\t '; touch /x 2>/dev/null && echo wrote-root || echo read-only"});
  spec.security.run_as_user = 1000;
  spec.security.run_as_group = 1001;
  spec.security.run_as_non_root = true;
  spec.security.read_only_root_filesystem = true;
  std::string out;
  ContainerExit e = Run(spec, &out);
  EXPECT_EQ(e.exit_code, 0) << e.error;
  EXPECT_EQ(out, "1000\n1001\nNoNewPrivs:1\nread-only\n");

  // The image runs as root: runAsNonRoot refuses it before anything starts, with kubelet's words.
  ContainerSpec root;
  root.argv = Argv({"/bin/id"}, {});
  root.security.run_as_non_root = true;
  root.name = "loom-test-root";
  auto image = podman_->InspectImage(kHello);
  root.image = kHello;
  root.image_config = *image;
  root.scratch_dir = dir_.path();
  auto refused = podman_->Run(root, nullptr, [](int, std::string_view) {});
  EXPECT_EQ(refused.status().message(), "container has runAsNonRoot and image will run as root (pod: \"loom-test-root\", container: main)");
}

TEST_F(PodmanTest, CancelStopsWithGrace) {
  ContainerSpec spec;
  spec.argv = Argv({"/bin/sh", "-c"}, {"trap 'echo got TERM; exit 0' TERM; echo started; while true; do sleep 0.1; done"});
  std::atomic<bool> cancel{false};
  std::string out;
  std::thread stopper([&] {
    for (int i = 0; i < 300 && out.find("started") == std::string::npos; ++i) usleep(50000);
    cancel = true;
  });
  ContainerExit e = Run(spec, &out, &cancel);
  stopper.join();
  EXPECT_TRUE(e.stopped);
  EXPECT_NE(out.find("got TERM"), std::string::npos) << out;
  EXPECT_EQ(e.exit_code, 0);
}

}  // namespace
}  // namespace loom::container
