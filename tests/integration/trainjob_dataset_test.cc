// Trainer's dataset initializer done by Loom, against a real S3 server (Swift + s3api, the CTest
// fixture of tests/storage): MNIST put into a bucket with the aws CLI; a runtime of Loom's trainer
// with a dataset initializer, written as a cluster needs it (the shared volume at
// /workspace/dataset, LOOM_DATASET_DIR naming that path, which Loom points at its cache); a TrainJob whose spec.initializer.dataset names the bucket's prefix,
// the endpoint in its env and the credentials in a Secret (`loom secret`), while `loom job run`
// itself has no AWS_* settings. The controller caches the prefix under
// $LOOM_HOME/datasets/<bucket>/<prefix> before any pod starts; `loom train` reads it through
// LOOM_DATASET_DIR and trains; jobsStatus reports the dataset-initializer Job. A second run
// downloads nothing (the cache is verified, not refetched). A Secret that does not exist fails
// the job before any pod starts, naming the field.
#include <gtest/gtest.h>

#include "core/file.h"
#include "core/json.h"
#include "test_util/subprocess.h"
#include "test_util/swift_env.h"
#include "test_util/test_env.h"

namespace loom {
namespace {

constexpr char kRuntime[] = R"(apiVersion: trainer.kubeflow.org/v1alpha1
kind: ClusterTrainingRuntime
metadata:
  name: loom-dataset
  annotations: {trainer.loom.dev/ml-policy: tensorflow}
spec:
  mlPolicy: {numNodes: 1}
  template:
    spec:
      replicatedJobs:
        - name: dataset-initializer
          template:
            metadata: {labels: {trainer.kubeflow.org/trainjob-ancestor-step: dataset-initializer}}
            spec:
              template:
                spec:
                  containers:
                    - name: dataset-initializer
                      image: ghcr.io/kubeflow/trainer/dataset-initializer
                      volumeMounts: [{name: initializer, mountPath: /workspace/dataset}]
                  volumes: [{name: initializer, persistentVolumeClaim: {claimName: initializer}}]
        - name: ps
          dependsOn: [{name: dataset-initializer, status: Complete}]
          template: {spec: {template: {spec: {containers: [{name: node, image: loom:latest, command: [loom, train]}]}}}}
        - name: node
          dependsOn: [{name: dataset-initializer, status: Complete}]
          template:
            metadata: {labels: {trainer.kubeflow.org/trainjob-ancestor-step: trainer}}
            spec:
              template:
                spec:
                  containers:
                    - name: node
                      image: loom:latest
                      command: [loom, train]
                      env: [{name: LOOM_DATASET_DIR, value: /workspace/dataset}]
                      volumeMounts: [{name: initializer, mountPath: /workspace/dataset}]
                  volumes: [{name: initializer, persistentVolumeClaim: {claimName: initializer}}]
)";

class TrainJobDatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    s3_ = testing::SwiftEnv();
    ASSERT_FALSE(s3_.empty());
    // The aws CLI gets the server's settings; loom gets none of them (and no endpoint): the
    // TrainJob's initializer must say where and with what.
    aws_env_ = {"LOOM_HOME=" + home_};
    for (const char* k : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"})
      aws_env_.push_back(std::string(k) + "=" + s3_[k]);
    loom_env_ = {"LOOM_HOME=" + home_, "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_ENDPOINT_URL=",
                 "S3_ENDPOINT=", "LOOM_MNIST_DIR=/nonexistent"};
  }
  testing::ProcessResult Loom(std::vector<std::string> args) {
    args.insert(args.begin(), testing::LoomBinary());
    return testing::Run(args, logs_.path(), loom_env_);
  }
  testing::ProcessResult Aws(std::vector<std::string> args) {
    args.insert(args.begin(), {"/usr/bin/aws", "--endpoint-url", s3_["AWS_ENDPOINT_URL"]});
    return testing::Run(args, logs_.path(), aws_env_);
  }
  std::string TrainJob(const std::string& secret) {
    const std::string path = work_.Join("trainjob-" + secret + ".yaml");
    EXPECT_TRUE(WriteFileAtomic(path, "apiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainJob\nmetadata: {name: ds}\n"
                                      "spec:\n  runtimeRef: {name: loom-dataset}\n"
                                      "  initializer:\n    dataset:\n      storageUri: s3://loom-datasets/mnist\n"
                                      "      env: [{name: ENDPOINT, value: '" + s3_["AWS_ENDPOINT_URL"] + "'}, "
                                      "{name: REGION, value: '" + s3_["AWS_REGION"] + "'}]\n"
                                      "      secretRef: {name: " + secret + "}\n"
                                      "  trainer:\n    args: [--data_dir=$(LOOM_DATASET_DIR), "
                                      "--train_dir=$(LOOM_HOME)/runs/ds, --train_steps=100]\n").ok());
    return path;
  }
  Json Status() {
    testing::ProcessResult get = Loom({"job", "get", "ds", "-o", "json"});
    auto doc = ParseJson(get.out, "loom job get");
    EXPECT_TRUE(doc.ok()) << get.out << get.err;
    return doc.ok() ? (*doc)["status"] : Json();
  }

  std::map<std::string, std::string> s3_;
  std::vector<std::string> aws_env_, loom_env_;
  testing::ScratchDir logs_, work_;
  std::string home_ = work_.Join("loom_home");
};

TEST_F(TrainJobDatasetTest, NodesReadWhatTheInitializerCached) {
  (void)Aws({"s3", "mb", "s3://loom-datasets"});  // exists already on a second run: fine
  auto files = ListDir(testing::MnistDir());
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  int put = 0;
  size_t bytes = 0;
  for (const std::string& f : *files) {
    if (f.rfind("train-", 0) != 0 && f.rfind("t10k-", 0) != 0) continue;
    auto data = ReadFile(JoinPath(testing::MnistDir(), f));
    ASSERT_TRUE(data.ok());
    bytes += data->size();
    ++put;
  }
  testing::ProcessResult cp = Aws({"s3", "cp", "--recursive", "--exclude", "*", "--include", "train-*", "--include",
                                   "t10k-*", testing::MnistDir(), "s3://loom-datasets/mnist/"});
  ASSERT_EQ(cp.exit_code, 0) << cp.err;
  ASSERT_EQ(put, 4);
  const std::string runtime = work_.Join("runtime.yaml");
  ASSERT_TRUE(WriteFileAtomic(runtime, kRuntime).ok());
  ASSERT_EQ(Loom({"runtime", "apply", "-f", runtime}).exit_code, 0);
  testing::ProcessResult secret = Loom({"secret", "create", "s3-creds", "--from-literal",
                                        "ACCESS_KEY_ID=" + s3_["AWS_ACCESS_KEY_ID"], "--from-literal",
                                        "SECRET_ACCESS_KEY=" + s3_["AWS_SECRET_ACCESS_KEY"]});
  ASSERT_EQ(secret.exit_code, 0) << secret.err;

  testing::ProcessResult run = Loom({"job", "run", TrainJob("s3-creds")});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  Json status = Status();
  EXPECT_EQ(status["conditions"].back()["type"], "Complete") << status.dump(2);
  ASSERT_EQ(status["jobsStatus"].size(), 3u) << status.dump(2);
  EXPECT_EQ(status["jobsStatus"][0], Json({{"name", "dataset-initializer"}, {"active", 0}, {"ready", 0}, {"succeeded", 1},
                                           {"failed", 0}, {"suspended", 0}}));
  const std::string cache = JoinPath(home_, "datasets/loom-datasets/mnist/");
  testing::ProcessResult init = Loom({"job", "logs", "ds", "--replica", "dataset-initializer"});
  EXPECT_EQ(init.out, "Downloading dataset from s3://loom-datasets/mnist\ncached 4 objects in " + cache +
                          ": 4 downloaded (" + std::to_string(bytes) + " bytes), 0 re-fetched after failing verification\n")
      << init.out;
  for (const std::string& f : *files)
    if (f.rfind("train-", 0) == 0 || f.rfind("t10k-", 0) == 0) EXPECT_TRUE(PathExists(JoinPath(cache, f))) << f;
  testing::ProcessResult chief = Loom({"job", "logs", "ds"});
  EXPECT_NE(chief.out.find("Test accuracy: "), std::string::npos) << chief.out;

  // Again: the cache is verified and nothing is downloaded.
  run = Loom({"job", "run", TrainJob("s3-creds")});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  init = Loom({"job", "logs", "ds", "--replica", "dataset-initializer"});
  EXPECT_NE(init.out.find("cached 4 objects in " + cache + ": 0 downloaded (0 bytes)"), std::string::npos) << init.out;

  // A Secret that does not exist: Failed before any pod starts, the field named.
  run = Loom({"job", "run", TrainJob("nope")});
  EXPECT_EQ(run.exit_code, 1) << run.out;
  status = Status();
  EXPECT_EQ(status["conditions"].back()["type"], "Failed") << status.dump(2);
  EXPECT_EQ(status["conditions"].back()["message"],
            "dataset-initializer: spec.initializer.dataset.secretRef.name: secret \"nope\" not found "
            "(`loom secret create` makes one)") << status.dump(2);
  EXPECT_EQ(status["jobsStatus"][0]["failed"], 1) << status.dump(2);
  for (const Json& r : status["local"]["replicas"]) EXPECT_EQ(r["pid"], -1) << r.dump();
}

}  // namespace
}  // namespace loom
