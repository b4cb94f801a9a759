// What the tests of the job examples (PyTorchJob, TrainJob) share: `loom` run as a process from
// the repository's root (the examples' script paths are relative) in a LOOM_HOME of the test's
// own with MNIST from the test environment; a broken copy of an example refused in one line that
// names the file, the line and the field, nothing created; and kill -9 of one replica once a file
// it writes (a checkpoint) exists.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "core/file.h"
#include "core/json.h"
#include "test_util/subprocess.h"
#include "test_util/test_env.h"

namespace loom::testing {

class JobExampleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(setenv("LOOM_HOME", home_.c_str(), 1), 0);
    ASSERT_EQ(setenv("LOOM_MNIST_DIR", MnistDir().c_str(), 1), 0);
    ASSERT_EQ(unsetenv("LOOM_JOBS_DIR"), 0);
    ASSERT_EQ(chdir(SourceDir().c_str()), 0);
  }
  ProcessResult Loom(std::vector<std::string> args) {
    args.insert(args.begin(), LoomBinary());
    return loom::testing::Run(args, logs_.path());
  }
  // `example` with `from` replaced by `to`, in the test's directory.
  std::string Edited(const std::string& example, const std::string& from, const std::string& to,
                     size_t* at = nullptr) {
    auto text = ReadFile(example);
    EXPECT_TRUE(text.ok()) << example;
    std::string edited = text.ok() ? *text : "";
    const size_t found = edited.find(from);
    EXPECT_NE(found, std::string::npos) << from;
    if (found != std::string::npos) edited.replace(found, from.size(), to);
    if (at != nullptr) *at = found;
    const std::string path = work_.Join(Basename(example));
    EXPECT_TRUE(WriteFileAtomic(path, edited).ok());
    return path;
  }
  // `loom job run` of the edited example fails with "<path>:<line of the edit>: <expected>" and
  // leaves no state for job `job`.
  void ExpectRefused(const std::string& example, const std::string& job, const std::string& from, const std::string& to,
                     const std::string& expected) {
    size_t at = 0;
    const std::string path = Edited(example, from, to, &at);
    auto text = ReadFile(path);
    ASSERT_TRUE(text.ok());
    ProcessResult r = Loom({"job", "run", path});
    EXPECT_EQ(r.exit_code, 1) << r.out;
    const std::string line = std::to_string(std::count(text->begin(), text->begin() + at, '\n') + 1);
    EXPECT_EQ(r.err, "loom job run: " + path + ":" + line + ": " + expected + "\n");
    EXPECT_FALSE(PathExists(JoinPath(home_, "jobs/" + job))) << "nothing is created";
  }
  // Once `file` exists (5 minutes at most), SIGKILL to replica `replica` of running job `job`.
  void KillWhenExists(const std::string& file, const std::string& job, const std::string& replica) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
    while (!PathExists(file) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_TRUE(PathExists(file)) << "no " << file << " after 5 minutes";
    auto status = ReadFile(JoinPath(home_, "jobs/" + job + "/status.json"));
    ASSERT_TRUE(status.ok());
    auto running = ParseJson(*status, "status.json");
    ASSERT_TRUE(running.ok()) << running.status().ToString();
    int pid = -1;
    for (const Json& r : (*running)["local"]["replicas"])
      if (r["name"] == replica) pid = r["pid"];
    ASSERT_GT(pid, 0) << *status;
    ASSERT_EQ(kill(pid, SIGKILL), 0);
  }
  // `loom job get -o json`'s status.
  Json JobStatus(const std::string& job) {
    ProcessResult get = Loom({"job", "get", job, "-o", "json"});
    EXPECT_EQ(get.exit_code, 0) << get.err;
    auto doc = ParseJson(get.out, "loom job get");
    EXPECT_TRUE(doc.ok()) << get.out << get.err;
    return doc.ok() ? (*doc)["status"] : Json();
  }

  ScratchDir logs_, work_;
  std::string home_ = work_.Join("loom_home");
};

}  // namespace loom::testing
