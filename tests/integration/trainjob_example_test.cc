// examples/pytorch/trainjob.yaml (a Trainer v2 TrainJob on the built-in torch-distributed
// runtime: 2 nodes, each a torchrun of 2 mnist_ddp.py processes, PyTorch DDP over gloo with
// Debian's python3-torch) run by `loom job run` from the repository's root, in a LOOM_HOME of
// its own: it is Complete, rank 0 reports >= 97% test accuracy, every rank saw the environment
// torchrun derives from what Trainer's torch plugin sets (its RANK of 4, node-0's address as
// MASTER_ADDR:MASTER_PORT), and get/list/logs/delete speak of a trainjob.
// examples/mnist/trainjob.yaml (`loom train` on the built-in loom-distributed runtime: a chief,
// two workers, two ps tasks, each with its TF_CONFIG) trains Kubeflow's model to >= 97%, and a
// kill -9 of its chief once it has checkpointed is restarted and resumes. A bad
// runtime reference, a wrong kind or a misspelt field is refused in one line naming the field.
// `loom runtime` applies, lists, gets and deletes runtimes as kubectl does.
#include "integration/job_example.h"

namespace loom {
namespace {

using testing::ProcessResult;

class TrainJobExampleTest : public testing::JobExampleTest {};

TEST_F(TrainJobExampleTest, TrainsToAccuracyWithTrainersEnvironment) {
  ProcessResult r = Loom({"job", "run", "examples/pytorch/trainjob.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("trainjob.trainer.kubeflow.org/mnist-trainjob created"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("trainjob mnist-trainjob: Succeeded: jobset completed successfully"), std::string::npos) << r.out;

  const Json status = JobStatus("mnist-trainjob");
  ASSERT_EQ(status["conditions"].size(), 1u) << status.dump();
  EXPECT_EQ(status["conditions"][0]["type"], "Complete") << status.dump();
  EXPECT_EQ(status["conditions"][0]["reason"], "AllJobsCompleted") << status.dump();
  EXPECT_EQ(status["jobsStatus"][0]["name"], "node") << status.dump();
  EXPECT_EQ(status["jobsStatus"][0]["succeeded"], 1) << status.dump();
  std::string master;
  for (const Json& replica : status["local"]["replicas"])
    if (replica["name"] == "node-0") master = replica["address"];
  ASSERT_FALSE(master.empty()) << status.dump();

  // Each process printed what torchrun gave it: ranks 0-1 on node-0, 2-3 on node-1.
  for (int rank = 0; rank < 4; ++rank) {
    const std::string node = "node-" + std::to_string(rank / 2);
    ProcessResult logs = Loom({"job", "logs", "mnist-trainjob", "--replica", node});
    ASSERT_EQ(logs.exit_code, 0) << logs.err;
    EXPECT_NE(logs.out.find("[default" + std::to_string(rank % 2) + "]:rank " + std::to_string(rank) + " of 4, master " +
                            master + "\n"),
              std::string::npos)
        << node << ":\n" << logs.out;
  }
  ProcessResult node0 = Loom({"job", "logs", "mnist-trainjob"});  // node-0 by default
  const size_t at = node0.out.rfind("Test accuracy: ");
  ASSERT_NE(at, std::string::npos) << node0.out;
  EXPECT_GE(std::atof(node0.out.c_str() + at + 15), 0.97) << node0.out;
  EXPECT_TRUE(PathExists(JoinPath(home_, "runs/mnist-trainjob/checkpoint.pt")));

  ProcessResult list = Loom({"job", "list"});
  EXPECT_NE(list.out.find("mnist-trainjob"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("Succeeded"), std::string::npos) << list.out;
  ProcessResult del = Loom({"job", "delete", "mnist-trainjob"});
  EXPECT_EQ(del.exit_code, 0) << del.err;
  EXPECT_EQ(del.out, "trainjob.trainer.kubeflow.org \"mnist-trainjob\" deleted\n");
}

// examples/mnist/trainjob.yaml but for 1,500 steps with a checkpoint every 300: kill -9 of
// node-0, the chief, once its first checkpoint is in place. The runtime's pods are OnFailure: it
// is restarted with the same TF_CONFIG, joins the ps tasks at their global step (the checkpoint
// restores what the ps tasks do not hold), and the job is Complete.
TEST_F(TrainJobExampleTest, KilledChiefIsRestartedAndResumes) {
  const std::string path = Edited("examples/mnist/trainjob.yaml", "--train_steps=5500",
                                  "--train_steps=1500\n      - --save_checkpoint_steps=300\n      - --ps_wait_secs=60");
  ProcessResult r = Loom({"job", "run", path, "--detach"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  KillWhenExists(JoinPath(home_, "runs/mnist-trainjob/checkpoint"), "mnist-loom", "node-0");
  if (HasFatalFailure()) return;

  ProcessResult chief = Loom({"job", "logs", "mnist-loom", "-f"});  // returns when the job has ended
  ASSERT_EQ(chief.exit_code, 0) << chief.err;
  const Json status = JobStatus("mnist-loom");
  EXPECT_EQ(status["conditions"].back()["type"], "Complete") << status.dump(2);
  for (const Json& replica : status["local"]["replicas"]) {
    EXPECT_EQ(replica["exitCode"], 0) << replica.dump();
    EXPECT_EQ(replica["restarts"], replica["name"] == "node-0" ? 1 : 0) << replica.dump();
  }
  EXPECT_NE(chief.out.find("The ps tasks are initialized already; joining at their global step"), std::string::npos)
      << chief.out;
  EXPECT_NE(chief.out.find("Test accuracy: "), std::string::npos) << chief.out;
}

// Kubeflow's model trained by loom train on loom-distributed: node-0 is the chief (it writes the
// checkpoints and exports the model), the workers and ps tasks end by themselves, and both
// replicated jobs are reported.
TEST_F(TrainJobExampleTest, LoomTrainerToAccuracy) {
  ProcessResult r = Loom({"job", "run", "examples/mnist/trainjob.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("trainjob.trainer.kubeflow.org/mnist-loom created"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("trainjob mnist-loom: Succeeded: jobset completed successfully"), std::string::npos) << r.out;
  const Json status = JobStatus("mnist-loom");
  ASSERT_EQ(status["jobsStatus"].size(), 2u) << status.dump();
  EXPECT_EQ(status["jobsStatus"][0]["name"], "node");
  EXPECT_EQ(status["jobsStatus"][1]["name"], "ps");
  for (const Json& replica : status["local"]["replicas"]) {
    EXPECT_EQ(replica["state"], "Succeeded") << replica.dump();  // each ended by itself
    EXPECT_EQ(replica["exitCode"], 0) << replica.dump();
  }
  ProcessResult chief = Loom({"job", "logs", "mnist-loom"});
  const size_t at = chief.out.rfind("Test accuracy: ");
  ASSERT_NE(at, std::string::npos) << chief.out;
  EXPECT_GE(std::atof(chief.out.c_str() + at + 15), 0.97) << chief.out;
  EXPECT_TRUE(PathExists(JoinPath(home_, "runs/mnist-trainjob/model.ckpt-5500.safetensors")));
  EXPECT_TRUE(PathExists(JoinPath(home_, "models/mnist/1/model.json")));
  ProcessResult ps = Loom({"job", "logs", "mnist-loom", "--replica", "ps-1"});
  EXPECT_NE(ps.out.find("ps 1: training is over, exiting"), std::string::npos) << ps.out;
}

// A job that cannot run is refused before anything starts, in one line naming the file, the
// field's line and the field.
TEST_F(TrainJobExampleTest, RefusedInOneLine) {
  auto refused = [&](const std::string& from, const std::string& to, const std::string& expected) {
    ExpectRefused("examples/pytorch/trainjob.yaml", "mnist-trainjob", from, to, expected);
  };
  refused("    name: torch-distributed\n", "    name: torch-distributd\n",
          "spec.runtimeRef.name: no ClusterTrainingRuntime named \"torch-distributd\" (`loom runtime list` shows what "
          "is installed; `loom runtime apply -f` installs one)");
  refused("    name: torch-distributed\n", "    kind: TrainingRuntimes\n    name: torch-distributed\n",
          "spec.runtimeRef.kind: \"TrainingRuntimes\"; expected ClusterTrainingRuntime or TrainingRuntime");
  refused("kind: TrainJob", "kind: TrainJobs", "kind: \"TrainJobs\"; expected TFJob, PyTorchJob or TrainJob");
  refused("    numProcPerNode: 2\n", "    numProcsPerNode: 2\n",
          "spec.trainer.numProcsPerNode: unknown field; a TrainJob has no such field here");
}

// loom runtime as kubectl: apply creates, then configures; list shows it beside the built-in
// torch-distributed; a TrainJob finds it by runtimeRef; delete removes it and the TrainJob is
// refused again.
TEST_F(TrainJobExampleTest, RuntimeCommands) {
  const std::string runtime = work_.Join("runtime.yaml");
  ASSERT_TRUE(WriteFileAtomic(runtime, R"(apiVersion: trainer.kubeflow.org/v1alpha1
kind: TrainingRuntime
metadata: {name: echo, namespace: team}
spec:
  mlPolicy: {numNodes: 2, torch: {}}
  template:
    spec:
      replicatedJobs:
        - name: node
          template:
            metadata: {labels: {trainer.kubeflow.org/trainjob-ancestor-step: trainer}}
            spec: {template: {spec: {containers: [{name: node, command: [/bin/sh, -c, 'echo node $PET_NODE_RANK of $PET_NNODES']}]}}}
)").ok());
  ProcessResult applied = Loom({"runtime", "apply", "-f", runtime});
  EXPECT_EQ(applied.exit_code, 0) << applied.err;
  EXPECT_EQ(applied.out, "trainingruntime.trainer.kubeflow.org/echo created\n");
  applied = Loom({"runtime", "apply", "-f", runtime});
  EXPECT_EQ(applied.out, "trainingruntime.trainer.kubeflow.org/echo configured\n");
  ProcessResult list = Loom({"runtime", "list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("loom-distributed             ClusterTrainingRuntime   -            loom       3 (built in)\n"),
            std::string::npos) << list.out;
  EXPECT_NE(list.out.find("torch-distributed            ClusterTrainingRuntime   -            torch      1 (built in)\n"),
            std::string::npos) << list.out;
  EXPECT_NE(list.out.find("echo                         TrainingRuntime          team         -          2\n"),
            std::string::npos) << list.out;
  ProcessResult get = Loom({"runtime", "get", "echo", "--kind", "TrainingRuntime", "--namespace", "team", "-o", "json"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  auto doc = ParseJson(get.out, "get");
  ASSERT_TRUE(doc.ok()) << get.out;
  EXPECT_EQ((*doc)["spec"]["mlPolicy"]["numNodes"], 2);

  const std::string job = work_.Join("job.yaml");
  ASSERT_TRUE(WriteFileAtomic(job, "apiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainJob\n"
                                   "metadata: {name: echo, namespace: team}\n"
                                   "spec:\n  runtimeRef: {name: echo, kind: TrainingRuntime}\n").ok());
  ProcessResult run = Loom({"job", "run", job});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  ProcessResult logs = Loom({"job", "logs", "echo", "--replica", "node-1"});
  EXPECT_EQ(logs.out, "node 1 of 2\n");

  ProcessResult del = Loom({"runtime", "delete", "echo", "--kind", "TrainingRuntime", "--namespace", "team"});
  EXPECT_EQ(del.exit_code, 0) << del.err;
  EXPECT_EQ(del.out, "trainingruntime.trainer.kubeflow.org \"echo\" deleted\n");
  run = Loom({"job", "run", job});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("spec.runtimeRef.name: no TrainingRuntime named \"echo\" in namespace team"), std::string::npos)
      << run.err;
  ProcessResult builtin = Loom({"runtime", "delete", "torch-distributed"});
  EXPECT_EQ(builtin.exit_code, 1);
  EXPECT_EQ(builtin.err, "loom runtime delete: ClusterTrainingRuntime torch-distributed is built in; it cannot be deleted\n");
}

}  // namespace
}  // namespace loom
