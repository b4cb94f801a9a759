// A job's container replicas share one sandbox (job/replica.h): `loom job run --pod-runtime
// container` with loom:latest (the loom_image fixture).
// - A ps task and a worker in containers exchange each step through shared memory, as processes
//   on one host do: the ps says a replica "attached through shared memory", the worker that its
//   "steps go through shared memory". (Before the sandbox each container had its own /dev/shm and
//   pid namespace, and they fell back to gRPC.)
// - Two jobs running at once: the replicas of one job are in one IPC and one PID namespace, the
//   other job's in others.
#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <sstream>

#include "core/file.h"
#include "core/json.h"
#include "test_util/subprocess.h"
#include "test_util/test_env.h"

namespace loom {
namespace {

using testing::ProcessResult;

class JobSandboxTest : public ::testing::Test {
 protected:
  ProcessResult Loom(std::vector<std::string> args) {
    args.insert(args.begin(), testing::LoomBinary());
    return testing::Run(args, logs_.path(), {"LOOM_HOME=" + home_});
  }
  std::string Log(const std::string& job, const std::string& replica) {
    return Loom({"job", "logs", job, "--replica=" + replica}).out;
  }
  std::string WriteJob(const std::string& name, const std::string& replica_specs) {
    const std::string path = work_.Join(name + ".yaml");
    EXPECT_TRUE(WriteFileAtomic(path, "apiVersion: kubeflow.org/v1\nkind: TFJob\nmetadata: {name: " + name +
                                          "}\nspec:\n  tfReplicaSpecs:\n" + replica_specs).ok());
    return path;
  }
  static std::string Replicas(const std::string& type, int n, const std::string& command) {
    return "    " + type + ":\n      replicas: " + std::to_string(n) +
           "\n      restartPolicy: Never\n      template:\n        spec:\n          containers:\n"
           "          - name: tensorflow\n            image: loom:latest\n            command: " + command + "\n";
  }

  void TearDown() override {
    (void)Loom({"job", "delete", "a"});  // what a failed case left running
  }

  testing::ScratchDir work_, logs_;
  std::string home_ = work_.Join("home");
};

TEST_F(JobSandboxTest, PsAndWorkerInContainersUseSharedMemory) {
  const std::string train = "[loom, train, --train_steps=300, '--train_dir=$(LOOM_HOME)/runs/shm']";
  const std::string path = WriteJob("shm", Replicas("PS", 1, train) + Replicas("Worker", 1, train));
  ProcessResult r = Loom({"job", "run", "--pod-runtime", "container", path});
  const std::string ps = Log("shm", "ps-0"), worker = Log("shm", "worker-0");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << ps << worker;
  EXPECT_NE(ps.find(") attached through shared memory"), std::string::npos) << ps;
  EXPECT_NE(worker.find("): steps go through shared memory (ps pid "), std::string::npos) << worker;
  EXPECT_EQ(worker.find("through gRPC"), std::string::npos) << worker;
}

TEST_F(JobSandboxTest, ReplicasOfTwoJobsAreApart) {
  // Each replica prints its IPC and PID namespaces; job a's wait for a file the test writes once
  // job b has run, so both jobs' replicas are alive at once.
  const std::string release = JoinPath(home_, "release");
  const std::string print = "echo $(readlink /proc/self/ns/ipc) $(readlink /proc/self/ns/pid)";
  // (At most 60 s, should the test fail before it writes the file.)
  const std::string a = WriteJob("a", Replicas("Worker", 2, "[sh, -c, \"" + print + "; i=0; while [ ! -f " + release +
                                                              " ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\"]"));
  const std::string b = WriteJob("b", Replicas("Worker", 2, "[sh, -c, \"" + print + "\"]"));
  ASSERT_EQ(MakeDirs(home_).ok(), true);
  ProcessResult started = Loom({"job", "run", "--detach", "--pod-runtime", "container", a});
  ASSERT_EQ(started.exit_code, 0) << started.out << started.err;
  // Bounded waits on what the replicas print, never on time.
  auto printed = [&](const std::string& job, const std::string& replica) {
    const std::string log = Log(job, replica);
    return log.find("ipc:[") != std::string::npos && log.find('\n') != std::string::npos ? log.substr(0, log.find('\n'))
                                                                                          : std::string();
  };
  std::string a0, a1;
  for (int i = 0; i < 12000 && (a0.empty() || a1.empty()); ++i) {
    a0 = printed("a", "worker-0");
    a1 = printed("a", "worker-1");
    if (a0.empty() || a1.empty()) usleep(10000);
  }
  ASSERT_FALSE(a0.empty() || a1.empty()) << Loom({"job", "get", "a", "-o", "json"}).out;
  ProcessResult rb = Loom({"job", "run", "--pod-runtime", "container", b});
  ASSERT_TRUE(WriteFileAtomic(release, "").ok());
  ASSERT_EQ(rb.exit_code, 0) << rb.out << rb.err;
  const std::string b0 = printed("b", "worker-0"), b1 = printed("b", "worker-1");
  EXPECT_EQ(a0, a1);
  EXPECT_EQ(b0, b1);
  EXPECT_FALSE(b0.empty());
  // Neither the IPC nor the PID namespace of one job is the other's.
  std::istringstream as(a0), bs(b0);
  std::string a_ipc, a_pid, b_ipc, b_pid;
  as >> a_ipc >> a_pid;
  bs >> b_ipc >> b_pid;
  EXPECT_NE(a_ipc, b_ipc) << a0 << " / " << b0;
  EXPECT_NE(a_pid, b_pid) << a0 << " / " << b0;
  std::string phase;
  for (int i = 0; i < 6000 && phase != "Succeeded" && phase != "Failed"; ++i) {
    auto doc = ParseJson(Loom({"job", "get", "a", "-o", "json"}).out, "loom job get");
    if (doc.ok()) phase = (*doc)["status"]["conditions"].back().value("type", "");
    if (phase != "Succeeded" && phase != "Failed") usleep(10000);
  }
  EXPECT_EQ(phase, "Succeeded");
}

}  // namespace
}  // namespace loom
