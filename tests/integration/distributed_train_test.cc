// Distributed `loom train` as real processes on 127.0.0.1: ps tasks, workers and the chief
// told their roles by TF_CONFIG or mnist_replica's flags, started in an order that makes the
// workers wait for the ps; every task ends by itself with exit code 0, and the chief leaves a
// checkpoint the single-process tools read.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <set>

#include "core/file.h"
#include "core/json.h"
#include "test_util/loopback.h"
#include "test_util/subprocess.h"
#include "test_util/test_env.h"
#include "train/checkpoint.h"

namespace loom {
namespace {

using testing::Process;
using testing::ProcessResult;
using testing::ScratchDir;

// A port that was free a moment ago (the kernel's pick for port 0).

std::vector<std::string> Hosts(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back("127.0.0.1:" + std::to_string(testing::FreeLoopbackPort()));
  return out;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

// The number in "... <key> <number>" on the last line that has `key`.
double LastNumberAfter(const std::string& text, const std::string& key) {
  size_t at = text.rfind(key);
  if (at == std::string::npos) return -1;
  return std::atof(text.c_str() + at + key.size());
}

class DistributedTrainTest : public ::testing::Test {
 protected:
  std::vector<std::string> CommonFlags(int steps) {
    return {testing::LoomBinary(), "train", "--data_dir=" + testing::MnistDir(),
            "--train_dir=" + train_dir_, "--train_steps=" + std::to_string(steps),
            "--save_checkpoint_steps=200", "--save_summaries_steps=50", "--ps_wait_secs=60"};
  }
  std::unique_ptr<Process> Start(std::vector<std::string> argv, const std::vector<std::string>& env = {}) {
    return std::make_unique<Process>(argv, logs_.path(), env);
  }

  ScratchDir logs_;
  ScratchDir work_;
  std::string train_dir_ = work_.Join("train");
};

// 1 ps + 2 workers from TF_CONFIG, async (worker 1 overlapped); worker 0 is the chief. The
// workers start first and wait for the ps.
TEST_F(DistributedTrainTest, TfConfigAsyncOnePsTwoWorkers) {
  const auto ps = Hosts(1), workers = Hosts(2);
  Json cluster = {{"ps", ps}, {"worker", workers}};
  auto tf_config = [&](const char* type, int index) {
    Json config = {{"cluster", cluster}, {"task", {{"type", type}, {"index", index}}}, {"environment", "cloud"}};
    return "TF_CONFIG=" + config.dump();
  };
  const int kSteps = 500;
  // Worker 1 overlaps its communication with the next step's math.
  std::vector<std::string> overlapped = CommonFlags(kSteps);
  overlapped.push_back("--overlap_communication");
  auto worker1 = Start(overlapped, {tf_config("worker", 1)});
  auto chief = Start(CommonFlags(kSteps), {tf_config("worker", 0)});
  auto ps0 = Start(CommonFlags(kSteps), {tf_config("ps", 0)});

  ProcessResult c = chief->Wait(), w = worker1->Wait(), p = ps0->Wait();
  EXPECT_EQ(c.exit_code, 0) << c.out << c.err;
  EXPECT_EQ(w.exit_code, 0) << w.out << w.err;
  EXPECT_EQ(p.exit_code, 0) << p.out << p.err;
  EXPECT_NE(p.out.find("ps 0: training is over, exiting"), std::string::npos) << p.out;

  // Each worker trained some of the steps; together they made the 500 global steps.
  EXPECT_NE(c.out.find("Worker 0: training step 1 done"), std::string::npos) << c.out;
  EXPECT_NE(w.out.find("Worker 1: training step 1 done"), std::string::npos) << w.out;
  EXPECT_NE(c.out.find("(global step: 500)"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("After 500 training step(s)"), std::string::npos) << c.out;
  // Async updates make each run differ; it learned (chance is 0.1, one process gets ~0.95).
  const double accuracy = LastNumberAfter(c.out, "Test accuracy: ");
  EXPECT_GE(accuracy, 0.85) << c.out;
  EXPECT_LE(accuracy, 1.0);
  // Only the chief evaluates on the test set.
  EXPECT_EQ(w.out.find("Test accuracy"), std::string::npos) << w.out;

  // The chief's checkpoint: the 500th step, with the ps tasks' Adam slots.
  auto latest = train::LatestCheckpoint(train_dir_);
  ASSERT_TRUE(latest.ok() && latest->has_value()) << latest.status().ToString();
  EXPECT_EQ(Basename(**latest), "model.ckpt-500.safetensors");
  auto ckpt = train::LoadCheckpoint(**latest);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  EXPECT_EQ(ckpt->global_step, 500);
  EXPECT_EQ(ckpt->variables.size(), 4u);
  std::set<std::string> state;
  for (const auto& t : ckpt->optimizer_state) state.insert(t.name);
  EXPECT_TRUE(state.count("step") && state.count("dense_0/kernel/Adam") && state.count("dense_1/bias/Adam_1"));
  auto names = ListDir(train_dir_);
  ASSERT_TRUE(names.ok());
  EXPECT_TRUE(std::any_of(names->begin(), names->end(),
                          [](const std::string& n) { return n.rfind("events.out.tfevents.", 0) == 0; }));
  // Checkpoints as the global step crossed 200 (and 400), and at the end. Async, the step a
  // checkpoint holds may be past the multiple, up to the end when worker 1 finished alone.
  EXPECT_GE(std::count_if(names->begin(), names->end(),
                          [](const std::string& n) { return n.rfind("model.ckpt-", 0) == 0; }),
            2)
      << Join(*names);

  // The single-process trainer resumes from it, optimizer state and all.
  Process resume(CommonFlags(520), logs_.path());
  ProcessResult r = resume.Wait();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Resuming from " + **latest + " (global step 500)"), std::string::npos) << r.out;
}

// mnist_replica's flags, 2 ps + 2 workers, --sync_replicas: every global step takes one
// gradient of each worker, so both run exactly train_steps local steps and end on the same
// variables.
TEST_F(DistributedTrainTest, FlagsSyncTwoPsTwoWorkers) {
  const auto ps = Hosts(2), workers = Hosts(2);
  auto flags = [&](const char* job, int index) {
    auto argv = CommonFlags(200);
    argv.insert(argv.end(), {"--job_name=" + std::string(job), "--task_index=" + std::to_string(index),
                             "--ps_hosts=" + Join(ps), "--worker_hosts=" + Join(workers), "--sync_replicas"});
    return argv;
  };
  auto p0 = Start(flags("ps", 0)), p1 = Start(flags("ps", 1));
  auto w0 = Start(flags("worker", 0)), w1 = Start(flags("worker", 1));
  ProcessResult r0 = w0->Wait(), r1 = w1->Wait(), q0 = p0->Wait(), q1 = p1->Wait();
  for (const ProcessResult* r : {&r0, &r1, &q0, &q1}) EXPECT_EQ(r->exit_code, 0) << r->out << r->err;
  EXPECT_NE(r0.out.find("Worker 0: training step 200 done (global step: 200)"), std::string::npos) << r0.out;
  EXPECT_NE(r1.out.find("Worker 1: training step 200 done (global step: 200)"), std::string::npos) << r1.out;
  const std::string key = "validation cross entropy = ";
  EXPECT_EQ(LastNumberAfter(r0.out, key), LastNumberAfter(r1.out, key));
  EXPECT_GE(LastNumberAfter(r0.out, "Test accuracy: "), 0.90) << r0.out;
  EXPECT_NE(q1.err.find("shard [39755, 79510) of 79510 floats"), std::string::npos) << q1.err;
}

// Recovery, 1 ps + 2 workers (async): once the chief has written a checkpoint, one task is
// killed with SIGKILL and started again with the same TF_CONFIG. A restarted worker pulls the
// current variables and goes on; a restarted ps comes back empty, the chief restores its shard
// from the latest checkpoint, and training goes on from there. Every task exits 0 by itself.
class DistributedRecoveryTest : public DistributedTrainTest,
                                public ::testing::WithParamInterface<const char*> {};

TEST_P(DistributedRecoveryTest, KilledTaskRestartsAndJobFinishes) {
  const std::string victim = GetParam();  // "ps" or "worker" (worker 1)
  const auto ps = Hosts(1), workers = Hosts(2);
  Json cluster = {{"ps", ps}, {"worker", workers}};
  auto env = [&](const char* type, int index) {
    return std::vector<std::string>{
        "TF_CONFIG=" + Json({{"cluster", cluster}, {"task", {{"type", type}, {"index", index}}}}).dump()};
  };
  const int kSteps = 2000;
  std::unique_ptr<Process> ps0 = Start(CommonFlags(kSteps), env("ps", 0));
  auto chief = Start(CommonFlags(kSteps), env("worker", 0));
  std::unique_ptr<Process> worker1 = Start(CommonFlags(kSteps), env("worker", 1));
  // Wait (bounded) for the first checkpoint, then kill.
  const std::string index = JoinPath(train_dir_, "checkpoint");
  for (int i = 0; i < 6000 && !PathExists(index); ++i) usleep(10000);
  ASSERT_TRUE(PathExists(index)) << chief->OutSoFar();
  std::unique_ptr<Process>& target = victim == "ps" ? ps0 : worker1;
  target->Signal(SIGKILL);
  EXPECT_EQ(target->Wait().exit_code, 128 + SIGKILL);
  target = Start(CommonFlags(kSteps), victim == "ps" ? env("ps", 0) : env("worker", 1));

  ProcessResult c = chief->Wait(), w = worker1->Wait(), p = ps0->Wait();
  EXPECT_EQ(c.exit_code, 0) << c.out << c.err;
  EXPECT_EQ(w.exit_code, 0) << w.out << w.err;
  EXPECT_EQ(p.exit_code, 0) << p.out << p.err;
  EXPECT_NE(c.out.find("After 2000 training step(s)"), std::string::npos) << c.out;
  EXPECT_GE(LastNumberAfter(c.out, "Test accuracy: "), 0.90) << c.out;
  if (victim == "ps") {
    EXPECT_NE(c.out.find("ps 0 was restarted: restoring its shard from " + train_dir_ + "/model.ckpt-"),
              std::string::npos) << c.out;
  } else {
    EXPECT_NE(w.out.find("Worker 1: training step 1 done"), std::string::npos) << w.out;
  }
}

INSTANTIATE_TEST_SUITE_P(Victims, DistributedRecoveryTest, ::testing::Values("ps", "worker"));

// An evaluator beside 1 ps + 1 worker (TF_CONFIG: not listed in the cluster, as TF allows):
// it evaluates checkpoints as they appear, writes its own events in <train_dir>/eval, and
// exits 0 after the checkpoint of the last step.
TEST_F(DistributedTrainTest, EvaluatorFollowsTheChief) {
  const auto ps = Hosts(1), workers = Hosts(1);
  Json cluster = {{"ps", ps}, {"worker", workers}};
  auto env = [&](const char* type, int index) {
    return std::vector<std::string>{
        "TF_CONFIG=" + Json({{"cluster", cluster}, {"task", {{"type", type}, {"index", index}}}}).dump()};
  };
  auto evaluator = Start(CommonFlags(600), env("evaluator", 0));
  auto ps0 = Start(CommonFlags(600), env("ps", 0));
  auto chief = Start(CommonFlags(600), env("worker", 0));
  ProcessResult c = chief->Wait(), p = ps0->Wait(), e = evaluator->Wait();
  EXPECT_EQ(c.exit_code, 0) << c.out << c.err;
  EXPECT_EQ(p.exit_code, 0) << p.out << p.err;
  EXPECT_EQ(e.exit_code, 0) << e.out << e.err;
  EXPECT_NE(e.out.find("Evaluated " + train_dir_ + "/model.ckpt-600.safetensors (global step 600): test accuracy "),
            std::string::npos) << e.out;
  // The evaluator's last accuracy is the chief's (the same variables, the same test set).
  EXPECT_EQ(LastNumberAfter(e.out, "test accuracy "), LastNumberAfter(c.out, "Test accuracy: ")) << e.out << c.out;
  auto names = ListDir(JoinPath(train_dir_, "eval"));
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  ASSERT_EQ(names->size(), 1u);
  EXPECT_EQ((*names)[0].rfind("events.out.tfevents.", 0), 0u);
}

// A malformed TF_CONFIG: one error line naming the field, nothing started, nothing written.
TEST_F(DistributedTrainTest, BadTfConfigIsOneLine) {
  Json config = {{"cluster", {{"ps", {"127.0.0.1:1"}}, {"worker", {"127.0.0.1:2", "127.0.0.1:3"}}}},
                 {"task", {{"type", "worker"}, {"index", 3}}}};
  ProcessResult r = testing::Run(CommonFlags(10), logs_.path(), {"TF_CONFIG=" + config.dump()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.err, "loom train: TF_CONFIG.task.index: 3 is out of range for 2 workers\n");
  EXPECT_FALSE(PathExists(train_dir_));

  auto both = CommonFlags(10);
  both.push_back("--job_name=ps");
  r = testing::Run(both, logs_.path(), {"TF_CONFIG=" + config.dump()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--job_name: given while TF_CONFIG is set"), std::string::npos) << r.err;
}

// A ps whose port is taken: one error line naming the address, exit 1.
TEST_F(DistributedTrainTest, PsPortInUseIsOneLine) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string taken = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  auto argv = CommonFlags(10);
  argv.insert(argv.end(), {"--job_name=ps", "--task_index=0", "--ps_hosts=" + taken, "--worker_hosts=127.0.0.1:1"});
  ProcessResult r = testing::Run(argv, logs_.path());
  close(fd);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "loom train: ps 0: " + taken + ": cannot serve the ps there: Address already in use\n");
}

}  // namespace
}  // namespace loom
