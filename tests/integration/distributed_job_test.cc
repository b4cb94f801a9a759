// `loom job` as a real process: a TFJob of loom train replicas (chief, worker, ps) runs to
// Succeeded with every replica exiting 0 by itself; replicas that are small shell scripts show
// the restart policies, the backoff limit, the deadline and that no process is left behind.
#include <gtest/gtest.h>
#include <signal.h>

#include <cctype>
#include <cstdio>

#include "core/file.h"
#include "core/json.h"
#include "test_util/subprocess.h"
#include "test_util/test_env.h"

namespace loom {
namespace {

using testing::ProcessResult;
using testing::ScratchDir;

class DistributedJobTest : public ::testing::Test {
 protected:
  // Writes a TFJob named `name` whose spec.tfReplicaSpecs is `replicas` (YAML, indented 4).
  std::string WriteJob(const std::string& name, const std::string& replicas, const std::string& run_policy = "") {
    const std::string path = work_.Join(name + ".yaml");
    std::string text = "apiVersion: kubeflow.org/v1\nkind: TFJob\nmetadata:\n  name: " + name + "\nspec:\n";
    if (!run_policy.empty()) text += "  runPolicy: " + run_policy + "\n";
    text += "  tfReplicaSpecs:\n" + replicas;
    EXPECT_TRUE(WriteFileAtomic(path, text).ok());
    return path;
  }
  // A replica type running `sh -c script`.
  static std::string Shell(const std::string& type, const std::string& policy, const std::string& script, int n = 1) {
    Json command = {"sh", "-c", script};
    return "    " + type + ":\n      replicas: " + std::to_string(n) + "\n      restartPolicy: " + policy +
           "\n      template: {spec: {containers: [{name: tensorflow, image: busybox, command: " + command.dump() +
           "}]}}\n";
  }
  ProcessResult Loom(std::vector<std::string> args) {
    args.insert(args.begin(), testing::LoomBinary());
    args.push_back("--jobs_dir=" + jobs_dir_);
    return testing::Run(args, logs_.path());
  }
  Json Status(const std::string& name) {
    ProcessResult r = Loom({"job", "get", name, "-o", "json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto doc = ParseJson(r.out, "loom job get");
    EXPECT_TRUE(doc.ok()) << doc.status().ToString() << r.out;
    return doc.ok() ? (*doc)["status"] : Json();
  }
  // Whether process `id` (or a process of group `id`) runs; zombies do not count.
  static bool Running(int id, bool group) {
    auto entries = ListDir("/proc");
    if (!entries.ok()) return false;
    for (const std::string& e : *entries) {
      if (e.empty() || !std::isdigit(static_cast<unsigned char>(e[0]))) continue;
      auto stat = ReadFile("/proc/" + e + "/stat");
      if (!stat.ok()) continue;
      // pid (comm) state ppid pgrp ...: comm may hold spaces, so read after its last ')'.
      int ppid = 0, pgrp = 0;
      char state = '?';
      if (std::sscanf(stat->c_str() + stat->rfind(')') + 1, " %c %d %d", &state, &ppid, &pgrp) != 3) continue;
      if (state == 'Z') continue;
      if (group ? pgrp == id : std::atoi(e.c_str()) == id) return true;
    }
    return false;
  }
  static bool AnyAlive(const Json& status) {
    for (const Json& r : status["local"]["replicas"])
      if (r["pid"].get<int>() > 0 && kill(r["pid"].get<int>(), 0) == 0) return true;
    return false;
  }

  ScratchDir logs_, work_;
  std::string jobs_dir_ = work_.Join("jobs");
};

// The example job's shape on a small scale: 1 chief, 1 worker, 1 ps of `loom train`.
TEST_F(DistributedJobTest, TrainingJobSucceeds) {
  const std::string train_dir = work_.Join("train");
  Json command = {testing::LoomBinary(), "train"};
  Json args = {"--data_dir=" + testing::MnistDir(), "--train_dir=" + train_dir, "--train_steps=300"};
  auto replica = [&](const char* type) {
    return std::string("    ") + type + ":\n      replicas: 1\n      restartPolicy: OnFailure\n" +
           "      template: {spec: {containers: [{name: tensorflow, image: loom, command: " + command.dump() +
           ", args: " + args.dump() + ", env: [{name: LOOM_TEST, value: \"1\"}]}]}}\n";
  };
  const std::string file = WriteJob("mnist", replica("Chief") + replica("Worker") + replica("PS"));
  ProcessResult r = Loom({"job", "run", file});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("tfjob mnist: Succeeded"), std::string::npos) << r.out;
  Json status = Status("mnist");
  EXPECT_EQ(status["conditions"].back()["type"], "Succeeded");
  EXPECT_EQ(status["replicaStatuses"]["Chief"]["succeeded"], 1);
  EXPECT_EQ(status["replicaStatuses"]["Worker"]["succeeded"], 1);
  EXPECT_EQ(status["replicaStatuses"]["PS"]["succeeded"], 1);
  for (const Json& rep : status["local"]["replicas"]) {
    EXPECT_EQ(rep["exitCode"], 0) << rep.dump();
    EXPECT_EQ(rep["restarts"], 0) << rep.dump();
  }
  ProcessResult logs = Loom({"job", "logs", "mnist"});
  EXPECT_NE(logs.out.find("Test accuracy: "), std::string::npos) << logs.out;
  ProcessResult ps_logs = Loom({"job", "logs", "mnist", "--replica=ps-0"});
  EXPECT_NE(ps_logs.out.find("ps 0: training is over, exiting"), std::string::npos) << ps_logs.out;
  EXPECT_TRUE(PathExists(JoinPath(train_dir, "model.ckpt-300.safetensors")));
  ProcessResult list = Loom({"job", "list"});
  EXPECT_NE(list.out.find("mnist"), std::string::npos) << list.out << list.err;
  EXPECT_NE(list.out.find("Succeeded"), std::string::npos);
}

// Faults under the controller (OnFailure), with --detach and `loom job get` while it runs:
// once the chief has checkpointed, `kill -9` of worker-0, ps-0 or chief-0; the controller
// restarts it (same address in TF_CONFIG), a restarted ps gets its shard back from the
// checkpoint, a restarted chief joins the ps tasks' state, and the job still Succeeds.
class DistributedJobFaultTest : public DistributedJobTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(DistributedJobFaultTest, KilledReplicaIsRestarted) {
  const std::string victim = GetParam();
  const std::string train_dir = work_.Join("train");
  Json command = {testing::LoomBinary(), "train"};
  Json args = {"--data_dir=" + testing::MnistDir(), "--train_dir=" + train_dir, "--train_steps=3000",
               "--save_checkpoint_steps=300", "--ps_wait_secs=60"};
  auto replica = [&](const char* type) {
    return std::string("    ") + type + ":\n      replicas: 1\n      restartPolicy: OnFailure\n" +
           "      template: {spec: {containers: [{name: tensorflow, command: " + command.dump() +
           ", args: " + args.dump() + "}]}}\n";
  };
  const std::string file = WriteJob("faults", replica("Chief") + replica("Worker") + replica("PS"),
                                    "{activeDeadlineSeconds: 240}");
  ProcessResult started = Loom({"job", "run", "--detach", file});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  EXPECT_NE(started.out.find("tfjob.kubeflow.org/faults created"), std::string::npos) << started.out;
  // Following the chief's log from another process while it runs: it ends with the job.
  std::vector<std::string> follow_args = {testing::LoomBinary(), "job", "logs", "faults", "-f", "--jobs_dir=" + jobs_dir_};
  testing::Process follower(follow_args, logs_.path());

  // Bounded waits on what the job reports, never on time.
  for (int i = 0; i < 12000 && !PathExists(JoinPath(train_dir, "checkpoint")); ++i) usleep(10000);
  ASSERT_TRUE(PathExists(JoinPath(train_dir, "checkpoint")));
  Json status = Status("faults");
  EXPECT_EQ(status["conditions"].back()["type"], "Running") << status.dump();
  int pid = -1;
  for (const Json& r : status["local"]["replicas"])
    if (r["name"] == victim) pid = r["pid"].get<int>();
  ASSERT_GT(pid, 0) << status.dump();
  ASSERT_EQ(kill(pid, SIGKILL), 0);

  std::string phase;
  for (int i = 0; i < 24000; ++i) {
    status = Status("faults");
    phase = status["conditions"].back()["type"].get<std::string>();
    if (phase == "Succeeded" || phase == "Failed") break;
    usleep(10000);
  }
  ASSERT_EQ(phase, "Succeeded") << status.dump();
  for (const Json& r : status["local"]["replicas"]) {
    EXPECT_EQ(r["exitCode"], 0) << r.dump();
    EXPECT_EQ(r["restarts"], r["name"] == victim ? 1 : 0) << r.dump();
  }
  ProcessResult chief = Loom({"job", "logs", "faults", "-f"});  // the job has ended: -f returns
  const size_t at = chief.out.rfind("Test accuracy: ");
  ASSERT_NE(at, std::string::npos) << chief.out;
  EXPECT_GE(std::atof(chief.out.c_str() + at + 15), 0.93) << chief.out;
  ProcessResult followed = follower.Wait();
  EXPECT_EQ(followed.exit_code, 0) << followed.err;
  EXPECT_NE(followed.out.find("Test accuracy: "), std::string::npos) << followed.out;
  if (victim == "chief-0") {
    EXPECT_NE(chief.out.find("The ps tasks are initialized already; joining at their global step"), std::string::npos)
        << chief.out;
  }
  if (victim == "ps-0") {
    EXPECT_NE(chief.out.find("ps 0 was restarted: restoring its shard from " + train_dir), std::string::npos)
        << chief.out;
  }
  // The replicas are on 127.0.0.1: steps went through shared memory (ps_shm.h), and the chief
  // attached again to the restarted ps; no segment is left in /dev/shm.
  size_t attached = 0;
  for (size_t at = 0; (at = chief.out.find("steps go through shared memory", at)) != std::string::npos; ++at) ++attached;
  EXPECT_GE(attached, victim == "ps-0" ? 2u : 1u) << chief.out;
  auto shm_entries = ListDir("/dev/shm");
  ASSERT_TRUE(shm_entries.ok());
  for (const Json& r : status["local"]["replicas"])
    for (const std::string& name : *shm_entries)
      EXPECT_NE(name.rfind("loom-ps-" + std::to_string(r["pid"].get<int>()) + "-", 0), 0u) << name << " is left";
}

INSTANTIATE_TEST_SUITE_P(Victims, DistributedJobFaultTest, ::testing::Values("worker-0", "ps-0", "chief-0"));

// ExitCode: 1-127 is permanent; the job fails naming the replica, and the others are killed.
TEST_F(DistributedJobTest, ExitCodeOneFailsTheJob) {
  const std::string file =
      WriteJob("bad", Shell("Worker", "ExitCode", "exit 1") + Shell("PS", "Never", "sleep 60"));
  ProcessResult r = Loom({"job", "run", file});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("worker-0 exited with code 1"), std::string::npos) << r.err;
  Json status = Status("bad");
  EXPECT_EQ(status["conditions"].back()["type"], "Failed");
  EXPECT_EQ(status["replicaStatuses"]["Worker"]["failed"], 1);
  EXPECT_FALSE(AnyAlive(status));
}

// ExitCode: 137 (SIGKILL) restarts the replica; the second run succeeds. ($$$$: the command is
// expanded as Kubernetes does, where $$ stands for one $.)
TEST_F(DistributedJobTest, ExitCode137Restarts) {
  const std::string marker = work_.Join("ran-once");
  const std::string file = WriteJob(
      "retry", Shell("Worker", "ExitCode", "if [ -f " + marker + " ]; then exit 0; fi; touch " + marker + "; kill -9 $$$$"));
  ProcessResult r = Loom({"job", "run", file});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  Json status = Status("retry");
  EXPECT_EQ(status["conditions"].back()["type"], "Succeeded");
  bool restarting = false;
  for (const Json& c : status["conditions"]) restarting = restarting || c["type"] == "Restarting";
  EXPECT_TRUE(restarting) << status.dump();
  EXPECT_EQ(status["local"]["replicas"][0]["restarts"], 1);
}

// OnFailure with backoffLimit 1: the second failure ends the job.
TEST_F(DistributedJobTest, BackoffLimit) {
  const std::string file = WriteJob("backoff", Shell("Worker", "OnFailure", "exit 3"), "{backoffLimit: 1}");
  ProcessResult r = Loom({"job", "run", file});
  EXPECT_NE(r.exit_code, 0);
  Json status = Status("backoff");
  EXPECT_EQ(status["conditions"].back()["reason"], "BackoffLimitExceeded");
  EXPECT_EQ(status["local"]["replicas"][0]["restarts"], 1);
}

// activeDeadlineSeconds: Failed, and every replica process (and its children) gone.
TEST_F(DistributedJobTest, DeadlineKillsEverything) {
  const std::string file =
      WriteJob("slow", Shell("Worker", "Never", "sleep 60 & sleep 60", 2), "{activeDeadlineSeconds: 1}");
  ProcessResult r = Loom({"job", "run", file});
  EXPECT_NE(r.exit_code, 0);
  Json status = Status("slow");
  EXPECT_EQ(status["conditions"].back()["reason"], "DeadlineExceeded");
  EXPECT_FALSE(AnyAlive(status));
}

// `loom job delete` of a running job (replicas that would be restarted, each with a child of
// its own): the controller stops first, so nothing is restarted; no process of the job is left
// and its state is gone.
TEST_F(DistributedJobTest, DeleteOfARunningJobLeavesNoProcess) {
  const std::string file =
      WriteJob("doomed", Shell("Worker", "OnFailure", "sleep 60 & sleep 60", 2) + Shell("PS", "Always", "sleep 60"));
  ProcessResult started = Loom({"job", "run", "--detach", file});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  Json status;
  for (int i = 0; i < 3000; ++i) {  // until every replica runs
    status = Status("doomed");
    if (status["replicaStatuses"]["Worker"]["active"] == 2 && status["replicaStatuses"]["PS"]["active"] == 1) break;
    usleep(10000);
  }
  ASSERT_EQ(status["replicaStatuses"]["Worker"]["active"], 2) << status.dump();
  const int controller = status["local"]["controllerPid"].get<int>();
  std::vector<int> groups;
  for (const Json& r : status["local"]["replicas"]) groups.push_back(r["pid"].get<int>());
  ASSERT_EQ(kill(controller, 0), 0);

  ProcessResult deleted = Loom({"job", "delete", "doomed"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_FALSE(PathExists(JoinPath(jobs_dir_, "doomed")));
  EXPECT_FALSE(Running(controller, /*group=*/false)) << "the controller still runs";
  for (int group : groups) EXPECT_FALSE(Running(group, /*group=*/true)) << "process group " << group << " still runs";
  ProcessResult get = Loom({"job", "get", "doomed"});
  EXPECT_NE(get.exit_code, 0);
}

// Bad input: one error line naming the field, no job state, nothing started.
TEST_F(DistributedJobTest, BadTfJobIsOneLine) {
  const std::string path = work_.Join("bad.yaml");
  ASSERT_TRUE(WriteFileAtomic(path,
                              "apiVersion: kubeflow.org/v1\nkind: TFJob\nmetadata: {name: x}\nspec:\n"
                              "  tfReplicaSpecs:\n    Worker: {replicas: 1, template: {spec: {containers: "
                              "[{name: main, command: [sh]}]}}}\n")
                  .ok());
  ProcessResult r = Loom({"job", "run", path});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.err, "loom job run: " + path +
                       ":6: spec.tfReplicaSpecs.Worker.template.spec.containers[0].name: \"main\": not supported on one "
                       "machine: only the container named tensorflow runs\n");
  EXPECT_FALSE(PathExists(JoinPath(jobs_dir_, "x")));
  ProcessResult missing = Loom({"job", "get", "nope"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("job nope: not found"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace loom
