// examples/mnist/tfjob.yaml, Kubeflow's example job as shipped (1 chief, 2 workers, 2 ps of `loom train`,
// 5,500 global steps), run by `loom job run` in a LOOM_HOME of its own:
// - it Succeeds with every replica exiting 0 by itself (none killed, none restarted), the chief
//   reports >= 97.5% test accuracy, and `loom eval` of the exported model confirms the same number;
// - `kill -9` of a worker once the chief has checkpointed: OnFailure restarts it, the job still
//   Succeeds, every replica ends with exit 0, and the model still reaches 97%.
// - with --pod-runtime container, every replica a podman container of loom:latest (built once per
//   test run by the loom_image fixture): the job Succeeds and reaches >= 97.5%, with MNIST from
//   the image (the controller's LOOM_MNIST_DIR names no directory and is not passed on).
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include "core/file.h"
#include "core/json.h"
#include "test_util/subprocess.h"
#include "test_util/test_env.h"

namespace loom {
namespace {

using testing::ProcessResult;

class TfJobExampleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Process replicas get our LOOM_HOME and LOOM_MNIST_DIR (what the host gives a process).
    ASSERT_EQ(setenv("LOOM_HOME", home_.c_str(), 1), 0);
    ASSERT_EQ(setenv("LOOM_MNIST_DIR", testing::MnistDir().c_str(), 1), 0);
    ASSERT_EQ(unsetenv("LOOM_JOBS_DIR"), 0);
  }
  ProcessResult Loom(std::vector<std::string> args, const std::vector<std::string>& env = {}) {
    args.insert(args.begin(), testing::LoomBinary());
    return testing::Run(args, logs_.path(), env);
  }
  // `loom job get` (from LoomHome()/jobs, the default) as JSON.
  Json Status() {
    ProcessResult r = Loom({"job", "get", "mnist-train", "-o", "json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto doc = ParseJson(r.out, "loom job get");
    EXPECT_TRUE(doc.ok()) << doc.status().ToString() << r.out;
    return doc.ok() ? (*doc)["status"] : Json();
  }
  // The number after `marker` in `text` (the last occurrence), or -1.
  static double After(const std::string& text, const std::string& marker) {
    const size_t at = text.rfind(marker);
    return at == std::string::npos ? -1 : std::atof(text.c_str() + at + marker.size());
  }
  void ExpectEveryReplicaExitedZero(const Json& status, const std::string& restarted,
                                    const std::string& runtime = "process") {
    EXPECT_EQ(status["replicaStatuses"]["Chief"]["succeeded"], 1) << status.dump();
    EXPECT_EQ(status["replicaStatuses"]["Worker"]["succeeded"], 2) << status.dump();
    EXPECT_EQ(status["replicaStatuses"]["PS"]["succeeded"], 2) << status.dump();
    ASSERT_EQ(status["local"]["replicas"].size(), 5u) << status.dump();
    for (const Json& r : status["local"]["replicas"]) {
      EXPECT_EQ(r["state"], "Succeeded") << r.dump();
      EXPECT_EQ(r["exitCode"], 0) << r.dump();
      EXPECT_EQ(r["restarts"], r["name"] == restarted ? 1 : 0) << r.dump();
      EXPECT_EQ(r["runtime"], runtime) << r.dump();
      EXPECT_EQ(r.contains("container"), runtime == "container") << r.dump();
    }
  }
  // The chief's test accuracy, checked against `loom eval` of the exported model.
  double ConfirmedAccuracy() {
    ProcessResult chief = Loom({"job", "logs", "mnist-train"});
    const double accuracy = After(chief.out, "Test accuracy: ");
    EXPECT_GT(accuracy, 0) << chief.out;
    ProcessResult eval = Loom({"eval", "--model", JoinPath(home_, "models/mnist")});
    EXPECT_EQ(eval.exit_code, 0) << eval.err;
    EXPECT_NE(eval.out.find("(version 1)"), std::string::npos) << eval.out;
    EXPECT_NEAR(After(eval.out, "test accuracy "), accuracy, 1e-4) << eval.out << chief.out;
    return accuracy;
  }

  testing::ScratchDir logs_, work_;
  std::string home_ = work_.Join("loom_home");
  std::string example_ = JoinPath(testing::SourceDir(), "examples/mnist/tfjob.yaml");
};

TEST_F(TfJobExampleTest, SeedJobReachesAccuracy) {
  ProcessResult r = Loom({"job", "run", example_});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("tfjob mnist-train: Succeeded"), std::string::npos) << r.out;
  // The state went where the UI and the workflow engine look: LoomHome()/jobs.
  EXPECT_TRUE(PathExists(JoinPath(home_, "jobs/mnist-train/status.json")));
  EXPECT_TRUE(PathExists(JoinPath(home_, "runs/mnist-train/model.ckpt-5500.safetensors")));
  Json status = Status();
  EXPECT_EQ(status["conditions"].back()["type"], "Succeeded") << status.dump();
  ExpectEveryReplicaExitedZero(status, "");
  for (const char* ps : {"ps-0", "ps-1"}) {
    ProcessResult log = Loom({"job", "logs", "mnist-train", std::string("--replica=") + ps});
    EXPECT_NE(log.out.find(": training is over, exiting"), std::string::npos) << log.out;
  }
  EXPECT_GE(ConfirmedAccuracy(), 0.975);
}

TEST_F(TfJobExampleTest, SeedJobInContainersReachesAccuracy) {
  // Replicas in containers see the image's files and environment, not the controller's.
  ProcessResult r = Loom({"job", "run", "--pod-runtime", "container", example_},
                         {"LOOM_MNIST_DIR=" + work_.Join("no-such-dir")});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << Loom({"job", "logs", "mnist-train"}).out;
  EXPECT_NE(r.out.find("tfjob mnist-train: Succeeded"), std::string::npos) << r.out;
  EXPECT_TRUE(PathExists(JoinPath(home_, "runs/mnist-train/model.ckpt-5500.safetensors")));
  ExpectEveryReplicaExitedZero(Status(), "", "container");
  EXPECT_GE(ConfirmedAccuracy(), 0.975);
}

TEST_F(TfJobExampleTest, KilledWorkerIsRestartedAndTheJobSucceeds) {
  ProcessResult started = Loom({"job", "run", "--detach", example_});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  // Bounded waits on what the job reports, never on time.
  const std::string index = JoinPath(home_, "runs/mnist-train/checkpoint");
  for (int i = 0; i < 12000 && !PathExists(index); ++i) usleep(10000);
  ASSERT_TRUE(PathExists(index));
  Json status = Status();
  ASSERT_EQ(status["conditions"].back()["type"], "Running") << status.dump();
  int pid = -1;
  for (const Json& r : status["local"]["replicas"])
    if (r["name"] == "worker-1") pid = r["pid"].get<int>();
  ASSERT_GT(pid, 0) << status.dump();
  ASSERT_EQ(kill(pid, SIGKILL), 0);

  std::string phase;
  for (int i = 0; i < 24000; ++i) {
    status = Status();
    phase = status["conditions"].back()["type"].get<std::string>();
    if (phase == "Succeeded" || phase == "Failed") break;
    usleep(10000);
  }
  ASSERT_EQ(phase, "Succeeded") << status.dump();
  bool restarting = false;
  for (const Json& c : status["conditions"])
    restarting = restarting || (c["type"] == "Restarting" &&
                                c["message"].get<std::string>().find("worker-1 exited with code 137") != std::string::npos);
  EXPECT_TRUE(restarting) << status.dump();
  ExpectEveryReplicaExitedZero(status, "worker-1");
  EXPECT_GE(ConfirmedAccuracy(), 0.97);
}

}  // namespace
}  // namespace loom
