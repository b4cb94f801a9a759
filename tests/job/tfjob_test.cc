// TFJob and PyTorchJob files, data-driven: each tests/job/cases/X.yaml sits beside X.expected, which holds
// the parsed job's DebugString() or "error: <message>" (the file named by its base name).
// LOOM_UPDATE_EXPECTED=1 rewrites the .expected files from the current output (review the diff).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "core/file.h"
#include "job/local_job.h"
#include "job/pytorchjob.h"
#include "job/tfjob.h"
#include "test_util/test_env.h"

namespace loom::job {
namespace {

StatusOr<TfJob> ParseText(const std::string& text, const std::string& name) {
  LOOM_ASSIGN_OR_RETURN(Json doc, ParseYaml(text, name));
  return ParseJob(doc, name);
}

TEST(TfJobTest, Cases) {
  const int count = testing::CheckCases(JoinPath(testing::SourceDir(), "tests/job/cases"), ".yaml",
                                        [](const std::string& text, const std::string& name) {
                                          auto job = ParseText(text, name);
                                          return job.ok() ? job->DebugString() : "error: " + job.status().message() + "\n";
                                        });
  EXPECT_GE(count, 12);
}

TEST(TfJobTest, FindAndOrder) {
  auto job = ParseText(R"(
apiVersion: kubeflow.org/v1
kind: TFJob
metadata: {name: j}
spec:
  tfReplicaSpecs:
    Worker: {replicas: 2, template: {spec: {containers: [{name: tensorflow, command: [loom, train]}]}}}
    PS: {replicas: 1, template: {spec: {containers: [{name: tensorflow, command: [loom, train]}]}}}
    Master: {template: {spec: {containers: [{name: tensorflow, args: [x]}]}}}
)", "j.yaml");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  ASSERT_EQ(job->replicas.size(), 3u);
  EXPECT_EQ(job->replicas[0].type, "Master");
  EXPECT_EQ(job->replicas[1].type, "PS");
  EXPECT_EQ(job->replicas[2].type, "Worker");
  ASSERT_NE(job->Find(train::TaskType::kChief), nullptr);
  EXPECT_EQ(job->Find(train::TaskType::kEvaluator), nullptr);
}

// Kubeflow's example job as shipped: its YAML anchors resolved, 1 chief, 2 workers, 2 ps of `loom train`.
TEST(TfJobTest, SeedExample) {
  auto job = ReadTfJob(JoinPath(testing::SourceDir(), "examples/mnist/tfjob.yaml"));
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  ASSERT_EQ(job->replicas.size(), 3u);
  const int expected[] = {1, 2, 2};
  for (size_t i = 0; i < 3; ++i) {
    const ReplicaSpec& r = job->replicas[i];
    EXPECT_EQ(r.replicas, expected[i]) << r.type;
    EXPECT_EQ(r.restart_policy, RestartPolicy::kOnFailure) << r.type;
    EXPECT_EQ(r.image, "loom:latest");
    EXPECT_EQ(r.command, (std::vector<std::string>{"loom", "train"}));
    EXPECT_EQ(r.args, job->replicas[0].args) << r.type;
  }
  EXPECT_EQ(job->replicas[0].type, "Chief");
  EXPECT_EQ(job->replicas[1].type, "PS");
  EXPECT_EQ(job->replicas[2].type, "Worker");
}

// Kubernetes' $(VAR) expansion of command and args.
TEST(LocalJobTest, ExpandVariables) {
  const std::map<std::string, std::string> env = {{"LOOM_HOME", "/h"}, {"A", "x"}, {"EMPTY", ""}};
  EXPECT_EQ(ExpandVariables("--train_dir=$(LOOM_HOME)/runs/a", env), "--train_dir=/h/runs/a");
  EXPECT_EQ(ExpandVariables("$(A)$(A)-$(EMPTY)-", env), "xx--");
  EXPECT_EQ(ExpandVariables("$(UNSET)/x", env), "$(UNSET)/x");
  EXPECT_EQ(ExpandVariables("$$(A) $$ $A $( a", env), "$(A) $ $A $( a");
  EXPECT_EQ(ExpandVariables("cost $", env), "cost $");
}

// ttlSecondsAfterFinished: finished jobs past it are deleted; running ones, younger ones and
// ones without a TTL stay.
TEST(LocalJobTest, DeleteExpiredJobs) {
  testing::ScratchDir dir;
  auto job = [&](const std::string& name, const std::string& phase, const std::string& ttl) {
    const std::string d = dir.Join(name);
    ASSERT_TRUE(MakeDirs(d).ok());
    Json manifest = {{"spec", Json::object()}};  // no runPolicy at all, as most jobs
    if (!ttl.empty()) manifest["spec"]["runPolicy"]["ttlSecondsAfterFinished"] = std::stoi(ttl);
    ASSERT_TRUE(WriteFileAtomic(JoinPath(d, "tfjob.json"), manifest.dump()).ok());
    Json status = {{"conditions", {{{"type", phase}}}}, {"completionTime", "2026-01-01T00:00:00Z"}};
    ASSERT_TRUE(WriteFileAtomic(JoinPath(d, "status.json"), status.dump()).ok());
  };
  job("old", "Succeeded", "60");
  job("failed", "Failed", "0");
  job("young", "Succeeded", "3600");
  job("running", "Running", "0");
  job("kept", "Succeeded", "");
  const std::time_t now = 1767225600 + 600;  // 2026-01-01T00:10:00Z
  auto deleted = DeleteExpiredJobs(dir.path(), now);
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_EQ(*deleted, (std::vector<std::string>{"failed", "old"}));
  auto left = ListJobs(dir.path());
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(*left, (std::vector<std::string>{"kept", "running", "young"}));
}


// restartPolicy Always restarts a ps that exits 0 (kubelet's rule) until the chief, whose exit 0
// is the job's success, ends; OnFailure leaves a replica that exited 0 finished.
TEST(LocalJobTest, AlwaysRestartsOnExitZeroExceptTheChief) {
  testing::ScratchDir dir;
  const std::string always_runs = dir.Join("always.runs"), once_runs = dir.Join("once.runs");
  // The chief waits for the Always ps's third run, then exits 0.
  const std::string chief = "while [ \"$(wc -l < " + always_runs + " 2>/dev/null || echo 0)\" -lt 3 ]; do sleep 0.02; done";
  const std::string text =
      "apiVersion: kubeflow.org/v1\nkind: TFJob\nmetadata: {name: always}\nspec:\n  tfReplicaSpecs:\n"
      "    Chief:\n      restartPolicy: Always\n      template: {spec: {containers: [{name: tensorflow, "
      "command: [/bin/sh, -c, '" + chief + "']}]}}\n"
      "    PS:\n      restartPolicy: Always\n      template: {spec: {containers: [{name: tensorflow, "
      "command: [/bin/sh, -c, 'echo run >> " + always_runs + "']}]}}\n"
      "    Worker:\n      restartPolicy: OnFailure\n      template: {spec: {containers: [{name: tensorflow, "
      "command: [/bin/sh, -c, 'echo run >> " + once_runs + "']}]}}\n";
  auto job = ParseText(text, "always.yaml");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  LocalJobOptions options;
  options.jobs_dir = dir.Join("jobs");
  options.finish_grace_secs = 5;
  auto local = LocalJob::Create(*job, options);
  ASSERT_TRUE(local.ok()) << local.status().ToString();
  auto status = (*local)->Run();
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_EQ(JobPhase(*status), "Succeeded") << status->dump(2);
  auto lines = [](const std::string& path) {
    auto text = ReadFile(path);
    return text.ok() ? std::count(text->begin(), text->end(), '\n') : -1;
  };
  EXPECT_GE(lines(always_runs), 3);
  EXPECT_EQ(lines(once_runs), 1);  // OnFailure: exit 0 is done, the worker is not run again
  for (const Json& r : (*status)["local"]["replicas"]) {
    if (r["name"] == "ps-0") EXPECT_GE(r["restarts"].get<int>(), 2) << r.dump();
    if (r["name"] == "chief-0") EXPECT_EQ(r["restarts"].get<int>(), 0) << r.dump();
    if (r["name"] == "worker-0") EXPECT_EQ(r["restarts"].get<int>(), 0) << r.dump();
  }
}

// A PyTorchJob's replicas get the Training Operator's environment: the Master is rank 0 and
// MASTER_ADDR:MASTER_PORT, worker i is rank i+1, WORLD_SIZE counts every replica; the
// conditions carry PyTorchJob's reasons, and the Master's exit 0 is the job's success.
TEST(LocalJobTest, PyTorchJobEnvironment) {
  testing::ScratchDir dir;
  const std::string dump = "env > " + dir.path() + "/$(RANK_FILE)";
  const std::string text =
      "apiVersion: kubeflow.org/v1\nkind: PyTorchJob\nmetadata: {name: env}\nspec:\n  pytorchReplicaSpecs:\n"
      "    Master:\n      template: {spec: {containers: [{name: pytorch, "
      "env: [{name: RANK_FILE, value: master}], command: [/bin/sh, -c, '" + dump + "']}]}}\n"
      "    Worker:\n      replicas: 2\n      template: {spec: {containers: [{name: pytorch, "
      "env: [{name: RANK_FILE, value: worker}], command: [/bin/sh, -c, 'env > " + dir.path() + "/worker-$RANK']}]}}\n";
  auto job = ParseText(text, "env.yaml");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  LocalJobOptions options;
  options.jobs_dir = dir.Join("jobs");
  auto local = LocalJob::Create(*job, options);
  ASSERT_TRUE(local.ok()) << local.status().ToString();
  auto status = (*local)->Run();
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_EQ(JobPhase(*status), "Succeeded") << status->dump(2);
  EXPECT_EQ((*status)["conditions"].back()["reason"], "PyTorchJobSucceeded");
  EXPECT_EQ((*status)["conditions"].back()["message"], "PyTorchJob env successfully completed.");
  EXPECT_EQ((*status)["conditions"][0]["reason"], "PyTorchJobCreated");
  EXPECT_EQ((*status)["replicaStatuses"]["Master"]["succeeded"], 1) << status->dump(2);
  std::string master_address;
  for (const Json& r : (*status)["local"]["replicas"])
    if (r["name"] == "master-0") master_address = r["address"];
  ASSERT_FALSE(master_address.empty());
  const std::vector<std::pair<std::string, std::string>> files = {{"master", "0"}, {"worker-1", "1"}, {"worker-2", "2"}};
  for (const auto& [file, rank] : files) {
    auto vars = testing::ReadEnvDump(dir.Join(file));
    EXPECT_EQ(vars["RANK"], rank) << file;
    EXPECT_EQ(vars["PET_NODE_RANK"], rank) << file;
    EXPECT_EQ(vars["WORLD_SIZE"], "3") << file;
    EXPECT_EQ(vars["PET_NNODES"], "3") << file;
    EXPECT_EQ(vars["PET_NPROC_PER_NODE"], "auto") << file;
    EXPECT_EQ(vars["PYTHONUNBUFFERED"], "1") << file;
    EXPECT_EQ(vars["MASTER_ADDR"] + ":" + vars["MASTER_PORT"], master_address) << file;
    EXPECT_EQ(vars["PET_MASTER_ADDR"] + ":" + vars["PET_MASTER_PORT"], master_address) << file;
    EXPECT_EQ(vars.count("TF_CONFIG"), 0u) << file;
  }
}

// ReadJob's errors name the line of the field, or of its nearest parent the file has.
TEST(ReadJobTest, ErrorsNameTheLine) {
  testing::ScratchDir dir;
  const std::string path = dir.Join("job.yaml");
  auto error = [&](const std::string& text) {
    EXPECT_TRUE(WriteFileAtomic(path, text).ok());
    auto job = ReadJob(path);
    return job.ok() ? std::string("ok") : job.status().message();
  };
  const std::string head = "apiVersion: kubeflow.org/v1\nkind: PyTorchJob\nmetadata:\n  name: x\nspec:\n";
  EXPECT_EQ(error(head + "  pytorchReplicaSpecs:\n    Master:\n      template:\n        spec:\n"
                         "          containers:\n            - name: pytorch\n              command: [sh]\n"
                         "            - name: sidecar\n"),
            path + ":13: spec.pytorchReplicaSpecs.Master.template.spec.containers[1].name: \"sidecar\": not "
                   "supported on one machine: only the container named pytorch runs");
  EXPECT_EQ(error(head + "  pytorchReplicaSpecs:\n    Worker: {template: {spec: {containers: [{name: pytorch, "
                         "command: [sh]}]}}}\n"),
            path + ":6: spec.pytorchReplicaSpecs.Master: missing; a PyTorchJob needs one Master (rank 0, whose "
                   "exit decides the job)");
  EXPECT_EQ(error("apiVersion: kubeflow.org/v1\n\nkind: MPIJob\n"), path + ":3: kind: \"MPIJob\"; expected TFJob, PyTorchJob or TrainJob");
}

}  // namespace
}  // namespace loom::job
