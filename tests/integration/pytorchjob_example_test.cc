// examples/pytorch/pytorchjob.yaml (1 Master + 2 Workers of mnist_ddp.py, PyTorch DDP over gloo
// with Debian's python3-torch) run by `loom job run` from the repository's root, in a LOOM_HOME
// of its own: it Succeeds, the Master reports >= 97% test accuracy, every rank saw the
// environment the Training Operator sets (its RANK, WORLD_SIZE 3 and the Master's address as
// MASTER_ADDR:MASTER_PORT), and get/list/logs/delete speak of a pytorchjob. kill -9 of a worker
// once the first checkpoint is written: OnFailure restarts it (and the ranks whose all-reduce
// failed), every rank resumes from the checkpoint, and the job Succeeds. A file of a replica
// type or kind Loom does not run, or with elasticPolicy, is refused in one line naming the field.
#include "integration/job_example.h"

namespace loom {
namespace {

using testing::ProcessResult;

class PyTorchJobExampleTest : public testing::JobExampleTest {};

TEST_F(PyTorchJobExampleTest, TrainsToAccuracyWithTheOperatorsEnvironment) {
  ProcessResult r = Loom({"job", "run", "examples/pytorch/pytorchjob.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("pytorchjob.kubeflow.org/mnist-ddp created"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("pytorchjob mnist-ddp: Succeeded: PyTorchJob mnist-ddp successfully completed."),
            std::string::npos) << r.out;

  const Json status = JobStatus("mnist-ddp");
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
  const std::string path = Edited("examples/pytorch/pytorchjob.yaml", "--epochs=3", "--epochs=2");
  ProcessResult r = Loom({"job", "run", path, "--detach"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string checkpoint = JoinPath(home_, "runs/mnist-ddp/checkpoint.pt");
  KillWhenExists(checkpoint, "mnist-ddp", "worker-1");
  if (HasFatalFailure()) return;

  // logs -f returns when the job has ended.
  ProcessResult master_log = Loom({"job", "logs", "mnist-ddp", "-f"});
  ASSERT_EQ(master_log.exit_code, 0) << master_log.err;
  const Json final_status = JobStatus("mnist-ddp");
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
  auto refused = [&](const std::string& from, const std::string& to, const std::string& expected) {
    ExpectRefused("examples/pytorch/pytorchjob.yaml", "mnist-ddp", from, to, expected);
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
