// TrainJobs and their runtimes (trainer.kubeflow.org/v1alpha1), data-driven: each
// tests/job/trainjob_cases/X.yaml sits beside X.expected, the resolved job's DebugString() (a
// runtime's description for a runtime document) or "error: <message>". The runtimes in
// trainjob_cases/runtimes/ are applied to the store first. LOOM_UPDATE_EXPECTED=1 rewrites the
// .expected files from the current output (review the diff). Then the local controller running
// TrainJobs: the nodes' environment against what Trainer's torch plugin sets, torchrun starting
// processes per node, suspend and resume, and Trainer's conditions and jobsStatus.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include "core/file.h"
#include "job/local_job.h"
#include "job/trainjob.h"
#include "test_util/test_env.h"

namespace loom::job {
namespace {

std::string Describe(const TrainingRuntime& rt) {
  TfJob node;
  node.kind = "node";
  node.replicas.push_back(rt.node);
  std::string out = "runtime: " + rt.Ref() + "\nframework: " + (rt.framework.empty() ? "-" : rt.framework) +
                    "\nnumNodes: " + std::to_string(rt.num_nodes) + "\ntorch: " + (rt.torch ? "yes" : "no") +
                    "\nbackoffLimit: " + std::to_string(rt.backoff_limit) + "\nresources: " + rt.resources.dump() + "\n";
  if (rt.dataset_initializer) {
    out += "datasetInitializer: " + rt.initializer_job;
    for (const auto& [k, v] : rt.initializer_env) out += " " + k + "=" + v;
    out += "\n";
  }
  // The replica's lines of DebugString(), between the header and the run policy.
  const std::string replicas = node.DebugString();
  const size_t from = replicas.find('\n', replicas.find("namespace:")) + 1;
  return out + replicas.substr(from, replicas.find("runPolicy:") - from);
}

StatusOr<std::string> ParseCase(const Json& doc, const std::string& name, const RuntimeStore& store) {
  const std::string kind = doc.is_object() ? doc.value("kind", "") : "";
  if (kind.find("TrainingRuntime") != std::string::npos) {
    LOOM_ASSIGN_OR_RETURN(TrainingRuntime rt, ParseTrainingRuntime(doc, name));
    return Describe(rt);
  }
  LOOM_ASSIGN_OR_RETURN(TfJob job, ParseTrainJob(doc, name, store));
  return job.DebugString();
}

TEST(TrainJobTest, Cases) {
  const std::string dir = JoinPath(testing::SourceDir(), "tests/job/trainjob_cases");
  testing::ScratchDir home;
  RuntimeStore store(home.Join("runtimes"));
  auto runtimes = ListDir(JoinPath(dir, "runtimes"));
  ASSERT_TRUE(runtimes.ok()) << runtimes.status().ToString();
  for (const std::string& name : *runtimes) {
    auto doc = ReadJsonOrYamlFile(JoinPath(JoinPath(dir, "runtimes"), name));
    ASSERT_TRUE(doc.ok()) << doc.status().ToString();
    auto applied = store.Apply(*doc, name);
    ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  }
  const int count = testing::CheckCases(dir, ".yaml", [&](const std::string& text, const std::string& name) {
    auto doc = ParseYaml(text, name);
    auto parsed = doc.ok() ? ParseCase(*doc, name, store) : StatusOr<std::string>(doc.status());
    return parsed.ok() ? *parsed : "error: " + parsed.status().message() + "\n";
  });
  EXPECT_GE(count, 20);
}

Json Yaml(const std::string& text) {
  auto doc = ParseYaml(text, "test.yaml");
  EXPECT_TRUE(doc.ok()) << doc.status().ToString();
  return doc.ok() ? *doc : Json();
}

const char kPlainRuntime[] = R"(
apiVersion: trainer.kubeflow.org/v1alpha1
kind: ClusterTrainingRuntime
metadata: {name: plain}
spec:
  template:
    spec:
      replicatedJobs:
        - name: node
          template:
            metadata: {labels: {trainer.kubeflow.org/trainjob-ancestor-step: trainer}}
            spec: {template: {spec: {containers: [{name: node, command: [/bin/true]}]}}}
)";

// Apply, get, list and delete; torch-distributed is built in, can be replaced by an applied one
// of its name and comes back when that is deleted, but cannot itself be deleted.
TEST(RuntimeStoreTest, ApplyGetListDelete) {
  testing::ScratchDir home;
  RuntimeStore store(home.Join("runtimes"));
  auto list = store.List();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].Ref(), "ClusterTrainingRuntime/torch-distributed");
  EXPECT_TRUE((*list)[1].built_in);
  EXPECT_TRUE((*list)[1].torch);
  EXPECT_EQ((*list)[1].framework, "torch");
  EXPECT_EQ((*list)[1].node.image, "pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime");
  // Loom's own: loom train with TF_CONFIG, 3 nodes and 2 ps tasks.
  EXPECT_EQ((*list)[0].Ref(), "ClusterTrainingRuntime/loom-distributed");
  EXPECT_TRUE((*list)[0].built_in);
  EXPECT_TRUE((*list)[0].tensorflow);
  EXPECT_FALSE((*list)[0].torch);
  EXPECT_EQ((*list)[0].num_nodes, 3);
  EXPECT_EQ((*list)[0].ps.replicas, 2);
  EXPECT_EQ((*list)[0].node.command, (std::vector<std::string>{"loom", "train"}));

  // The built-in ones are as published (torch-distributed: Trainer's; loom-distributed: the
  // repository's copy, which trainjob_schema_test checks against the CRD).
  for (const auto& [at, file] : {std::make_pair(0, "examples/mnist/loom-distributed.yaml"),
                                 std::make_pair(1, "third_party/schemas/trainer-runtime-torch-distributed.yaml")}) {
    auto published = ReadJsonOrYamlFile(JoinPath(testing::SourceDir(), file));
    ASSERT_TRUE(published.ok()) << published.status().ToString();
    EXPECT_EQ((*list)[at].manifest, *published) << file;
  }

  ASSERT_TRUE(store.Apply(Yaml(kPlainRuntime), "plain.yaml").ok());
  Json replaced = Yaml(kPlainRuntime);
  replaced["metadata"]["name"] = "torch-distributed";
  ASSERT_TRUE(store.Apply(replaced, "td.yaml").ok());
  Json namespaced = Yaml(kPlainRuntime);
  namespaced["kind"] = "TrainingRuntime";
  namespaced["metadata"]["namespace"] = "team";
  ASSERT_TRUE(store.Apply(namespaced, "ns.yaml").ok());
  list = store.List();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  std::vector<std::string> refs;
  for (const TrainingRuntime& rt : *list) refs.push_back(rt.Ref());
  EXPECT_EQ(refs, (std::vector<std::string>{"ClusterTrainingRuntime/loom-distributed", "ClusterTrainingRuntime/plain",
                                            "ClusterTrainingRuntime/torch-distributed", "TrainingRuntime/team/plain"}));
  auto td = store.Get("ClusterTrainingRuntime", "", "torch-distributed");
  ASSERT_TRUE(td.ok());
  EXPECT_FALSE(td->torch);  // the applied one
  EXPECT_EQ(store.Get("TrainingRuntime", "default", "plain").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store.Get("TrainingRuntime", "team", "plain").ok());

  ASSERT_TRUE(store.Delete("ClusterTrainingRuntime", "", "torch-distributed").ok());
  td = store.Get("ClusterTrainingRuntime", "", "torch-distributed");
  ASSERT_TRUE(td.ok());
  EXPECT_TRUE(td->built_in);
  Status builtin = store.Delete("ClusterTrainingRuntime", "", "torch-distributed");
  EXPECT_FALSE(builtin.ok());
  EXPECT_NE(builtin.message().find("built in"), std::string::npos) << builtin.message();
  EXPECT_EQ(store.Delete("ClusterTrainingRuntime", "", "nope").code(), StatusCode::kNotFound);
  // A bad document is refused and nothing is stored.
  Json bad = Yaml(kPlainRuntime);
  bad["spec"]["podGroupPolicy"] = Json::object();
  auto refused = store.Apply(bad, "bad.yaml");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(),
            "bad.yaml: spec.podGroupPolicy: not supported on one machine: there is no gang scheduler; every node starts at once");
}

StatusOr<Json> RunJob(const std::string& text, const RuntimeStore& store, const std::string& jobs_dir) {
  LOOM_ASSIGN_OR_RETURN(Json doc, ParseYaml(text, "job.yaml"));
  LOOM_ASSIGN_OR_RETURN(TfJob job, ParseTrainJob(doc, "job.yaml", store));
  LocalJobOptions options;
  options.jobs_dir = jobs_dir;
  LOOM_ASSIGN_OR_RETURN(auto local, LocalJob::Create(job, options));
  return local->Run();
}

// Each of 3 nodes gets what Trainer's torch plugin and an Indexed Job give its container
// (PET_NNODES, PET_NPROC_PER_NODE, PET_NODE_RANK = JOB_COMPLETION_INDEX, PET_MASTER_ADDR and
// PET_MASTER_PORT = node-0's address) and nothing the Training Operator sets (MASTER_ADDR,
// RANK, WORLD_SIZE: torchrun sets those for its processes); the TrainJob completes with
// Trainer's Complete condition and jobsStatus.
TEST(LocalJobTest, TrainJobEnvironment) {
  testing::ScratchDir dir;
  RuntimeStore store(dir.Join("runtimes"));
  const std::string text = "apiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainJob\nmetadata: {name: env}\nspec:\n"
                           "  runtimeRef: {name: torch-distributed}\n  trainer:\n    numNodes: 3\n"
                           "    env: [{name: OUT, value: '" + dir.path() + "'}]\n"
                           "    command: [/bin/sh, -c, 'env > $(OUT)/node-$PET_NODE_RANK']\n";
  auto status = RunJob(text, store, dir.Join("jobs"));
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_EQ(JobPhase(*status), "Succeeded") << status->dump(2);
  ASSERT_EQ((*status)["conditions"].size(), 1u) << status->dump(2);
  const Json& complete = (*status)["conditions"][0];
  EXPECT_EQ(complete["type"], "Complete");
  EXPECT_EQ(complete["status"], "True");
  EXPECT_EQ(complete["reason"], "AllJobsCompleted");
  EXPECT_EQ(complete["message"], "jobset completed successfully");
  EXPECT_EQ((*status)["jobsStatus"], Json::array({{{"name", "node"}, {"active", 0}, {"ready", 0}, {"succeeded", 1},
                                                   {"failed", 0}, {"suspended", 0}}}));
  EXPECT_FALSE(status->contains("replicaStatuses"));
  std::string master;
  for (const Json& r : (*status)["local"]["replicas"])
    if (r["name"] == "node-0") master = r["address"];
  ASSERT_FALSE(master.empty()) << status->dump(2);
  for (int i = 0; i < 3; ++i) {
    auto vars = testing::ReadEnvDump(dir.Join("node-" + std::to_string(i)));
    const std::string rank = std::to_string(i);
    EXPECT_EQ(vars["PET_NNODES"], "3") << rank;
    EXPECT_EQ(vars["PET_NPROC_PER_NODE"], "1") << rank;  // "auto" without resources: 1
    EXPECT_EQ(vars["PET_NODE_RANK"], rank);
    EXPECT_EQ(vars["JOB_COMPLETION_INDEX"], rank);
    EXPECT_EQ(vars["PET_MASTER_ADDR"] + ":" + vars["PET_MASTER_PORT"], master) << rank;
    for (const char* absent : {"MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "TF_CONFIG"})
      EXPECT_EQ(vars.count(absent), 0u) << rank << " " << absent;
  }
}

// loom-distributed (Loom's tensorflow policy): node-0 is the chief, node-1 and node-2 workers,
// ps-0 and ps-1 the runtime's ps job, each with the TF_CONFIG a TFJob's replicas get (every
// pod's address, its own role and index) and none of the torch plugin's variables; the TrainJob's
// command reaches every container named node, ps included. Complete when every node exited 0,
// with jobsStatus for both replicated jobs.
TEST(LocalJobTest, TrainJobTfConfig) {
  testing::ScratchDir dir;
  RuntimeStore store(dir.Join("runtimes"));
  const std::string text = "apiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainJob\nmetadata: {name: tf}\nspec:\n"
                           "  runtimeRef: {name: loom-distributed}\n  trainer:\n"
                           "    env: [{name: OUT, value: '" + dir.path() + "'}]\n"
                           "    command: [/bin/sh, -c, 'env > $(OUT)/env-$$$$']\n";
  auto parsed = ParseTrainJob(Yaml(text), "tf.yaml", store);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->DebugString(),
            "kind: TrainJob\nname: tf\nnamespace: default\n"
            "node: 3 x worker, restartPolicy OnFailure, image loom:latest\n  run: /bin/sh -c env > $(OUT)/env-$$$$\n"
            "  env: OUT=" + dir.path() + "\n"
            "ps: 2 x ps, restartPolicy OnFailure, image loom:latest\n  run: /bin/sh -c env > $(OUT)/env-$$$$\n"
            "  env: OUT=" + dir.path() + "\n"
            "runPolicy: backoffLimit 6, activeDeadlineSeconds 0, cleanPodPolicy None, ttlSecondsAfterFinished -1\n"
            "runtime: ClusterTrainingRuntime/loom-distributed\n");
  auto status = RunJob(text, store, dir.Join("jobs"));
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_EQ(JobPhase(*status), "Succeeded") << status->dump(2);
  std::map<std::string, std::string> address;
  for (const Json& r : (*status)["local"]["replicas"]) address[r["name"]] = r["address"];
  ASSERT_EQ(address.size(), 5u) << status->dump(2);
  const Json cluster = {{"chief", {address["node-0"]}},
                        {"worker", {address["node-1"], address["node-2"]}},
                        {"ps", {address["ps-0"], address["ps-1"]}}};
  EXPECT_EQ((*status)["jobsStatus"].size(), 2u) << status->dump(2);
  EXPECT_EQ((*status)["jobsStatus"][0]["name"], "node");
  EXPECT_EQ((*status)["jobsStatus"][1]["name"], "ps");
  auto files = ListDir(dir.path());
  ASSERT_TRUE(files.ok());
  std::set<std::string> seen;
  for (const std::string& f : *files) {
    if (f.rfind("env-", 0) != 0) continue;
    auto vars = testing::ReadEnvDump(dir.Join(f));
    auto tf_config = ParseJson(vars["TF_CONFIG"], f);
    ASSERT_TRUE(tf_config.ok()) << tf_config.status().ToString();
    EXPECT_EQ((*tf_config)["cluster"], cluster) << vars["TF_CONFIG"];
    EXPECT_EQ((*tf_config)["environment"], "cloud");
    const std::string type = (*tf_config)["task"]["type"];
    const int index = (*tf_config)["task"]["index"];
    seen.insert(type + "-" + std::to_string(index));
    // A node's JOB_COMPLETION_INDEX is its place in the trainer's job: the chief's 0, worker i's i+1.
    if (type == "ps") EXPECT_EQ(vars.count("JOB_COMPLETION_INDEX"), 0u);
    else EXPECT_EQ(vars["JOB_COMPLETION_INDEX"], std::to_string(type == "chief" ? 0 : index + 1)) << type << index;
    for (const char* absent : {"PET_NNODES", "PET_MASTER_ADDR", "MASTER_ADDR", "RANK", "WORLD_SIZE"})
      EXPECT_EQ(vars.count(absent), 0u) << type << index << " " << absent;
  }
  EXPECT_EQ(seen, (std::set<std::string>{"chief-0", "worker-0", "worker-1", "ps-0", "ps-1"}));
}

// A runtime with a dataset initializer and a file:/// storageUri: the controller copies the
// directory into the dataset cache under LoomHome()/datasets before any pod starts, every pod
// (the ps too) gets LOOM_DATASET_DIR naming that copy, and jobsStatus lists dataset-initializer
// first. A storageUri that names nothing fails the job before any pod starts.
TEST(LocalJobTest, TrainJobDatasetInitializer) {
  testing::ScratchDir dir;
  ASSERT_EQ(setenv("LOOM_HOME", dir.Join("home").c_str(), 1), 0);
  ASSERT_TRUE(MakeDirs(dir.Join("data")).ok());
  ASSERT_TRUE(WriteFileAtomic(dir.Join("data/a.txt"), "a\n").ok());
  RuntimeStore store(dir.Join("runtimes"));
  Json runtime = Yaml(R"(
apiVersion: trainer.kubeflow.org/v1alpha1
kind: ClusterTrainingRuntime
metadata: {name: with-data, annotations: {trainer.loom.dev/ml-policy: tensorflow}}
spec:
  mlPolicy: {numNodes: 2}
  template:
    spec:
      replicatedJobs:
        - name: dataset-initializer
          template:
            metadata: {labels: {trainer.kubeflow.org/trainjob-ancestor-step: dataset-initializer}}
            spec: {template: {spec: {containers: [{name: dataset-initializer}]}}}
        - name: ps
          dependsOn: [{name: dataset-initializer, status: Complete}]
          template: {spec: {template: {spec: {containers: [{name: node}]}}}}
        - name: node
          dependsOn: [{name: dataset-initializer, status: Complete}]
          template:
            metadata: {labels: {trainer.kubeflow.org/trainjob-ancestor-step: trainer}}
            spec: {template: {spec: {containers: [{name: node}]}}}
)");
  ASSERT_TRUE(store.Apply(runtime, "with-data.yaml").ok());
  auto text = [&](const std::string& uri) {
    return "apiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainJob\nmetadata: {name: ds}\nspec:\n"
           "  runtimeRef: {name: with-data}\n  initializer: {dataset: {storageUri: 'file://" + uri + "'}}\n"
           "  trainer: {command: [/bin/sh, -c, 'cat $LOOM_DATASET_DIR/a.txt > " + dir.path() + "/read-$$$$']}\n";
  };
  auto status = RunJob(text(dir.Join("data")), store, dir.Join("jobs"));
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_EQ(JobPhase(*status), "Succeeded") << status->dump(2);
  std::vector<std::string> jobs;
  for (const Json& j : (*status)["jobsStatus"]) jobs.push_back(j["name"]);
  EXPECT_EQ(jobs, (std::vector<std::string>{"dataset-initializer", "node", "ps"}));
  EXPECT_EQ((*status)["jobsStatus"][0]["succeeded"], 1);
  const std::string cache = dir.Join("home/datasets/file" + dir.Join("data")) + "/";
  EXPECT_TRUE(PathExists(JoinPath(cache, "a.txt"))) << cache;
  auto files = ListDir(dir.path());
  ASSERT_TRUE(files.ok());
  int read = 0;
  for (const std::string& f : *files)
    if (f.rfind("read-", 0) == 0) {
      auto got = ReadFile(dir.Join(f));
      EXPECT_TRUE(got.ok() && *got == "a\n") << f;
      ++read;
    }
  EXPECT_EQ(read, 3);  // node-0, node-1, ps-0

  auto failed = RunJob(text(dir.Join("nothing-here")), store, dir.Join("jobs"));
  ASSERT_TRUE(failed.ok()) << failed.status().ToString();
  EXPECT_EQ(JobPhase(*failed), "Failed") << failed->dump(2);
  EXPECT_EQ((*failed)["conditions"].back()["message"].get<std::string>().rfind("dataset-initializer: file://", 0), 0u)
      << failed->dump(2);
  EXPECT_EQ((*failed)["jobsStatus"][0]["failed"], 1);
  for (const Json& r : (*failed)["local"]["replicas"]) EXPECT_EQ(r["pid"], -1) << r.dump();
  unsetenv("LOOM_HOME");
}

// numProcPerNode 2 through Debian's torchrun: torchrun reads the PET_* variables the node gets
// and starts 2 processes, ranks 0-1 of a world of 2 that rendezvous at node-0's address. (2
// nodes x 2 processes: trainjob_example_test; each python3 importing torch costs seconds.)
// (--redirects and --tee: Debian 12's torch 1.13 on Python 3.11 cannot parse their default "0",
// since 3.11's IntFlag no longer lists a zero member; 1 is stdout, teed to the node's log.)
TEST(LocalJobTest, TrainJobTorchrun) {
  testing::ScratchDir dir;
  RuntimeStore store(dir.Join("runtimes"));
  const std::string script =
      "import os, torch.distributed as d\n"
      "d.init_process_group('gloo')\n"
      "open(os.path.join(os.environ['OUT'], 'rank-%d' % d.get_rank()), 'w').write("
      "'%s %s %s %s\\n' % (os.environ['RANK'], os.environ['WORLD_SIZE'], os.environ['LOCAL_RANK'], "
      "os.environ['GROUP_RANK']))\n"
      "d.barrier()\n";
  ASSERT_TRUE(WriteFileAtomic(dir.Join("ranks.py"), script).ok());
  const std::string text = "apiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainJob\nmetadata: {name: tr}\nspec:\n"
                           "  runtimeRef: {name: torch-distributed}\n  trainer:\n    numProcPerNode: 2\n"
                           "    env: [{name: OUT, value: '" + dir.path() + "'}]\n"
                           "    command: [torchrun, --redirects=1, --tee=1, --monitor_interval=1, '" + dir.Join("ranks.py") +
                           "']\n";
  auto status = RunJob(text, store, dir.Join("jobs"));
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_EQ(JobPhase(*status), "Succeeded") << status->dump(2);
  for (int rank = 0; rank < 2; ++rank) {
    auto line = ReadFile(dir.Join("rank-" + std::to_string(rank)));
    ASSERT_TRUE(line.ok()) << "rank " << rank << " did not run; " << status->dump(2);
    // RANK WORLD_SIZE LOCAL_RANK GROUP_RANK (the node)
    EXPECT_EQ(*line, std::to_string(rank) + " 2 " + std::to_string(rank) + " 0\n");
  }
}

// suspend: nothing runs and the status is Trainer's Suspended; run again without suspend, the
// job is Resumed (Suspended=False) and runs. A node that fails under restartPolicy Never fails
// the job with JobSet's reason.
TEST(LocalJobTest, TrainJobSuspendResumeAndFail) {
  testing::ScratchDir dir;
  RuntimeStore store(dir.Join("runtimes"));
  const std::string base = "apiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainJob\nmetadata: {name: s}\nspec:\n"
                           "  runtimeRef: {name: torch-distributed}\n  trainer:\n    command: [/bin/sh, -c, 'touch " +
                           dir.Join("ran") + "']\n";
  auto suspended = RunJob(base + "  suspend: true\n", store, dir.Join("jobs"));
  ASSERT_TRUE(suspended.ok()) << suspended.status().ToString();
  EXPECT_EQ(JobPhase(*suspended), "Suspended") << suspended->dump(2);
  EXPECT_FALSE(PathExists(dir.Join("ran")));
  EXPECT_EQ((*suspended)["conditions"][0]["reason"], "Suspended");
  EXPECT_EQ((*suspended)["conditions"][0]["message"], "TrainJob is suspended");
  EXPECT_EQ((*suspended)["jobsStatus"][0]["suspended"], 1);

  auto resumed = RunJob(base, store, dir.Join("jobs"));
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ(JobPhase(*resumed), "Succeeded") << resumed->dump(2);
  EXPECT_TRUE(PathExists(dir.Join("ran")));
  ASSERT_EQ((*resumed)["conditions"].size(), 2u) << resumed->dump(2);
  EXPECT_EQ((*resumed)["conditions"][0]["type"], "Suspended");
  EXPECT_EQ((*resumed)["conditions"][0]["status"], "False");
  EXPECT_EQ((*resumed)["conditions"][0]["reason"], "Resumed");
  EXPECT_EQ((*resumed)["conditions"][1]["type"], "Complete");

  Json never = Yaml(kPlainRuntime);
  never["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]["restartPolicy"] = "Never";
  ASSERT_TRUE(store.Apply(never, "never.yaml").ok());
  auto failed = RunJob("apiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainJob\nmetadata: {name: f}\nspec:\n"
                       "  runtimeRef: {name: plain}\n  trainer: {numNodes: 2, command: [/bin/sh, -c, 'exit $JOB_COMPLETION_INDEX']}\n",
                       store, dir.Join("jobs"));
  ASSERT_TRUE(failed.ok()) << failed.status().ToString();
  EXPECT_EQ(JobPhase(*failed), "Failed") << failed->dump(2);
  EXPECT_EQ((*failed)["conditions"].back()["type"], "Failed");
  EXPECT_EQ((*failed)["conditions"].back()["reason"], "FailedJobs");
  EXPECT_NE((*failed)["conditions"].back()["message"].get<std::string>().find("node-1 exited with code 1"), std::string::npos)
      << failed->dump(2);
  EXPECT_EQ((*failed)["jobsStatus"][0]["failed"], 1);
}

}  // namespace
}  // namespace loom::job
