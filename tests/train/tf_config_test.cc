// TF_CONFIG and mnist_replica.py's flags, data-driven: each tests/train/cases/tf_config/X.json
// (a TF_CONFIG) and tests/train/cases/flags/X.flags (one flag a line) sits beside X.expected,
// which holds the ClusterSpec's DebugString() or "error: <message>".
// LOOM_UPDATE_EXPECTED=1 rewrites the .expected files from the current output (review the diff).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "core/file.h"
#include "core/flags.h"
#include "test_util/test_env.h"
#include "train/tf_config.h"

namespace loom::train {
namespace {

std::string Describe(const StatusOr<ClusterSpec>& spec) {
  return spec.ok() ? spec->DebugString() : "error: " + spec.status().message() + "\n";
}

StatusOr<ClusterSpec> FromFlagLines(const std::string& text) {
  ReplicaFlags values;
  FlagSet flags("test");
  flags.String("job_name", &values.job_name, "");
  flags.Int("task_index", &values.task_index, "");
  flags.String("ps_hosts", &values.ps_hosts, "");
  flags.String("worker_hosts", &values.worker_hosts, "");
  flags.String("master_hosts", &values.master_hosts, "");
  std::vector<std::string> args, positional;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) args.push_back(line);
  LOOM_RETURN_IF_ERROR(flags.Parse(args, &positional));
  return ClusterSpecFromFlags(values);
}

// Runs every case in cases/<dir> with extension `ext` through `parse`; returns how many ran.
int RunCases(const std::string& dir_name, const std::string& ext,
             StatusOr<ClusterSpec> (*parse)(const std::string&)) {
  return testing::CheckCases(JoinPath(testing::SourceDir(), "tests/train/cases/" + dir_name), ext,
                             [&](const std::string& text, const std::string&) { return Describe(parse(text)); });
}

StatusOr<ClusterSpec> ParseDefault(const std::string& text) { return ParseTfConfig(text); }

TEST(TfConfigTest, Cases) { EXPECT_GE(RunCases("tf_config", ".json", ParseDefault), 25); }

TEST(TfConfigTest, FlagCases) { EXPECT_GE(RunCases("flags", ".flags", FromFlagLines), 9); }

TEST(TfConfigTest, RolesOfASeedCluster) {
  auto spec = ParseTfConfig(R"({"cluster":{"chief":["a:1"],"ps":["b:1","c:1"],"worker":["d:1","e:1"]},
                                "task":{"type":"worker","index":1}})");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_FALSE(spec->IsChief());
  EXPECT_EQ(spec->NumReplicas(), 3);
  EXPECT_EQ(spec->ReplicaIndex(), 2);
  EXPECT_EQ(spec->TaskAddress(), "e:1");
  spec->task_type = TaskType::kPs;
  spec->task_index = 0;
  EXPECT_EQ(spec->ReplicaIndex(), -1);
  EXPECT_EQ(spec->TaskAddress(), "b:1");
}

TEST(TfConfigTest, ToTfConfigRoundTrips) {
  const std::string text = R"({"cluster":{"master":["a:1"],"ps":["b:1"],"worker":["d:1"]},
                               "task":{"type":"master","index":0},"environment":"cloud"})";
  auto spec = ParseTfConfig(text);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  const Json config = spec->ToTfConfig();
  EXPECT_EQ(config["cluster"]["chief"][0], "a:1");
  EXPECT_EQ(config["task"]["type"], "chief");
  auto again = ParseTfConfig(config.dump());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->DebugString(), spec->DebugString());
}

TEST(TfConfigTest, SourceNamesTheErrors) {
  auto spec = ParseTfConfig(R"({"cluster":{"ps":["h:1"],"worker":["h:2"]},"task":{"type":"ps","index":4}})", "job.env");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().message(), "job.env.task.index: 4 is out of range for 1 ps task");
}

}  // namespace
}  // namespace loom::train
