// examples/pytorch/pytorchjob.yaml (1 Master + 2 Workers of mnist_ddp.py, PyTorch DDP over gloo
// with Debian's python3-torch) run by `loom job run` from the repository's root, in a LOOM_HOME
// of its own: it Succeeds, the Master reports >= 97% test accuracy, every rank saw the
// environment the Training Operator sets (its RANK, WORLD_SIZE 3 and the Master's address as
// MASTER_ADDR:MASTER_PORT), and get/list/logs/delete speak of a pytorchjob. kill -9 of a worker
// once the first checkpoint is written: OnFailure restarts it (and the ranks whose all-reduce
// failed), every rank resumes from the checkpoint, and the job Succeeds. A file of a replica
// type or kind Loom does not run, or with elasticPolicy, is refused in one line naming the field.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "core/file.h"
#include "core/json.h"
#include "test_util/subprocess.h"
#include "test_util/test_env.h"

namespace loom {
namespace {

using testing::ProcessResult;

class PyTorchJobExampleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(setenv("LOOM_HOME", home_.c_str(), 1), 0);
    ASSERT_EQ(setenv("LOOM_MNIST_DIR", testing::MnistDir().c_str(), 1), 0);
    ASSERT_EQ(unsetenv("LOOM_JOBS_DIR"), 0);
    ASSERT_EQ(chdir(testing::SourceDir().c_str()), 0);  // the example's script path is relative
  }
  ProcessResult Loom(std::vector<std::string> args) {
    args.insert(args.begin(), testing::LoomBinary());
    return testing::Run(args, logs_.path());
  }

  testing::ScratchDir logs_, work_;
  std::string home_ = work_.Join("loom_home");
};

TEST_F(PyTorchJobExampleTest, TrainsToAccuracyWithTheOperatorsEnvironment) {
  ProcessResult r = Loom({"job", "run", "examples/pytorch/pytorchjob.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("pytorchjob.kubeflow.org/mnist-ddp created"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("pytorchjob mnist-ddp: Succeeded: PyTorchJob mnist-ddp successfully completed."),
            std::string::npos) << r.out;

  ProcessResult get = Loom({"job", "get", "mnist-ddp", "-o", "json"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  auto doc = ParseJson(get.out, "loom job get");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ((*doc)["kind"], "PyTorchJob");
  const Json& status = (*doc)["status"];
  EXPECT_EQ(status["conditions"].back()["reason"], "PyTorchJobSucceeded") << status.dump();
  EXPECT_EQ(status["replicaStatuses"]["Master"]["succeeded"], 1) << status.dump();
  EXPECT_EQ(status["replicaStatuses"]["Worker"]["succeeded"], 2) << status.dump();
  std::string master;
  for (const Json& replica : status["local"]["replicas"])
    if (replica["name"] == "master-0") master = replica["address"];
  ASSERT_FALSE(master.empty()) << status.dump();

  // Each rank printed what it read from the environment.
  const std::vector<std::pair<std::string, std::string>> ranks = {{"master-0", "0"}, {"worker-0", "1"}, {"worker-1", "2"}};
  for (const auto& [replica, rank] : ranks) {
    ProcessResult logs = Loom({"job", "logs", "mnist-ddp", "--replica", replica});
    ASSERT_EQ(logs.exit_code, 0) << logs.err;
    EXPECT_NE(logs.out.find("rank " + rank + " of 3, master " + master + "\n"), std::string::npos)
        << replica << ":\n" << logs.out;
  }
  ProcessResult master_log = Loom({"job", "logs", "mnist-ddp"});
  const size_t at = master_log.out.rfind("Test accuracy: ");
  ASSERT_NE(at, std::string::npos) << master_log.out;
  EXPECT_GE(std::atof(master_log.out.c_str() + at + 15), 0.97) << master_log.out;
  EXPECT_TRUE(PathExists(JoinPath(home_, "runs/mnist-ddp/checkpoint.pt")));

  ProcessResult list = Loom({"job", "list"});
  EXPECT_NE(list.out.find("mnist-ddp"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("Succeeded"), std::string::npos) << list.out;
  ProcessResult del = Loom({"job", "delete", "mnist-ddp"});
  EXPECT_EQ(del.exit_code, 0) << del.err;
  EXPECT_EQ(del.out, "pytorchjob.kubeflow.org \"mnist-ddp\" deleted\n");
}

TEST_F(PyTorchJobExampleTest, KilledWorkerIsRestartedAndResumes) {
  // The example as shipped but for 2 epochs: the kill comes after the first.
  auto example = ReadFile("examples/pytorch/pytorchjob.yaml");
  ASSERT_TRUE(example.ok());
  std::string text = *example;
  const size_t at = text.find("--epochs=3");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 10, "--epochs=2");
  const std::string path = work_.Join("pytorchjob.yaml");
  ASSERT_TRUE(WriteFileAtomic(path, text).ok());
  ProcessResult r = Loom({"job", "run", path, "--detach"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  const std::string checkpoint = JoinPath(home_, "runs/mnist-ddp/checkpoint.pt");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (!PathExists(checkpoint) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(PathExists(checkpoint)) << "no checkpoint after 5 minutes";
  auto status = ReadFile(JoinPath(home_, "jobs/mnist-ddp/status.json"));
  ASSERT_TRUE(status.ok());
  auto running = ParseJson(*status, "status.json");
  ASSERT_TRUE(running.ok()) << running.status().ToString();
  int pid = -1;
  for (const Json& replica : (*running)["local"]["replicas"])
    if (replica["name"] == "worker-1") pid = replica["pid"];
  ASSERT_GT(pid, 0) << *status;
  ASSERT_EQ(kill(pid, SIGKILL), 0);

  // logs -f returns when the job has ended.
  ProcessResult master_log = Loom({"job", "logs", "mnist-ddp", "-f"});
  ASSERT_EQ(master_log.exit_code, 0) << master_log.err;
  ProcessResult get = Loom({"job", "get", "mnist-ddp", "-o", "json"});
  auto doc = ParseJson(get.out, "loom job get");
  ASSERT_TRUE(doc.ok()) << get.out << get.err;
  const Json& final_status = (*doc)["status"];
  EXPECT_EQ(final_status["conditions"].back()["type"], "Succeeded") << final_status.dump(2);
  bool restarted = false;
  for (const Json& c : final_status["conditions"])
    if (c["reason"] == "PyTorchJobRestarting" &&
        c["message"].get<std::string>().find("worker-1 exited with code 137") != std::string::npos)
      restarted = true;
  EXPECT_TRUE(restarted) << final_status.dump(2);
  ProcessResult worker_log = Loom({"job", "logs", "mnist-ddp", "--replica", "worker-1"});
  EXPECT_NE(worker_log.out.find("rank 2: resumed from " + checkpoint + " after epoch 1"), std::string::npos)
      << worker_log.out;
  EXPECT_NE(master_log.out.find("Test accuracy: "), std::string::npos) << master_log.out;
}

// A job that cannot run is refused before anything starts, in one line naming the file, the
// field's line and the field.
TEST_F(PyTorchJobExampleTest, RefusedInOneLine) {
  auto example = ReadFile("examples/pytorch/pytorchjob.yaml");
  ASSERT_TRUE(example.ok());
  auto refused = [&](const std::string& from, const std::string& to, const std::string& expected) {
    std::string text = *example;
    const size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
    const std::string path = work_.Join("job.yaml");
    ASSERT_TRUE(WriteFileAtomic(path, text).ok());
    ProcessResult r = Loom({"job", "run", path});
    EXPECT_EQ(r.exit_code, 1) << r.out;
    const std::string line = std::to_string(std::count(text.begin(), text.begin() + at, '\n') + 1);
    EXPECT_EQ(r.err, "loom job run: " + path + ":" + line + ": " + expected + "\n");
    EXPECT_FALSE(PathExists(JoinPath(home_, "jobs/mnist-ddp"))) << "nothing is created";
  };
  refused("    Master:\n", "    Chief:\n",
          "spec.pytorchReplicaSpecs.Chief: unknown replica type (Master, Worker)");
  refused("kind: PyTorchJob", "kind: MPIJob", "kind: \"MPIJob\"; expected TFJob, PyTorchJob or TrainJob");
  refused("  runPolicy:\n", "  elasticPolicy: {maxReplicas: 4}\n  runPolicy:\n",
          "spec.elasticPolicy: not supported on one machine: elastic training (torchrun rendezvous, scaling "
          "between minReplicas and maxReplicas) is not run locally; give fixed replicas");
}

}  // namespace
}  // namespace loom
