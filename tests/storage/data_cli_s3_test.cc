// `loom data` against the Swift fixture: credentials only from the environment, exit codes, a
// wrong secret as one clear line that does not contain it, and the dataset cache over s3://.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "core/file.h"
#include "random_bytes.h"
#include "storage/hash.h"
#include "test_util/subprocess.h"
#include "test_util/test_env.h"

namespace loom::storage {
namespace {

using loom::testing::LoomBinary;
using loom::testing::Process;
using loom::testing::ProcessResult;
using loom::testing::ScratchDir;

std::vector<std::string> SwiftEnvLines() {
  const char* dir = std::getenv("LOOM_SWIFT_DIR");
  EXPECT_NE(dir, nullptr) << "LOOM_SWIFT_DIR is not set (run through ctest)";
  std::vector<std::string> out;
  if (!dir) return out;
  auto text = ReadFile(JoinPath(dir, "env"));
  EXPECT_TRUE(text.ok());
  std::istringstream in(text.ok() ? *text : "");
  std::string item;
  while (in >> item) out.push_back(item);
  return out;
}

class DataCliS3Test : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = SwiftEnvLines();
    prefix_ = "s3://loom-cli/run-" + std::to_string(std::random_device{}()) + "/";
    // The bucket, made by Loom's own client through a put into it is not possible (no mb verb):
    // aws makes it, with the same environment.
    Process mb({"/usr/bin/aws", "--endpoint-url", Value("AWS_ENDPOINT_URL"), "s3", "mb", "s3://loom-cli"},
               logs_.path(), WithEnv({"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null"}));
    mb.Wait();  // exists already after the first test: fine
  }
  std::string Value(const std::string& key) {
    for (const auto& e : env_)
      if (e.rfind(key + "=", 0) == 0) return e.substr(key.size() + 1);
    return "";
  }
  std::vector<std::string> WithEnv(std::vector<std::string> extra) {
    // An entry in `extra` replaces the server's setting of the same name (getenv takes the first).
    std::vector<std::string> all = extra;
    for (const auto& e : env_) {
      bool overridden = false;
      for (const auto& x : extra) overridden |= x.substr(0, x.find('=')) == e.substr(0, e.find('='));
      if (!overridden) all.push_back(e);
    }
    return all;
  }
  ProcessResult Loom(std::vector<std::string> args, std::vector<std::string> extra_env = {}) {
    args.insert(args.begin(), {LoomBinary(), "data"});
    return Process(args, logs_.path(), WithEnv(extra_env)).Wait();
  }
  std::vector<std::string> env_;
  std::string prefix_;
  ScratchDir dir_, logs_;
};

TEST_F(DataCliS3Test, PutLsGetRm) {
  std::string content = testing::RandomBytes((5 << 20) + 1, 3);
  ASSERT_TRUE(WriteFileAtomic(dir_.Join("src"), content).ok());
  auto put = Loom({"put", dir_.Join("src"), prefix_ + "dir/naïve name.bin"});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  auto ls = Loom({"ls", prefix_});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_NE(ls.out.find("PRE"), std::string::npos) << ls.out;
  auto get = Loom({"get", prefix_ + "dir/naïve name.bin", dir_.Join("back")});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(*Sha256OfFile(dir_.Join("back")), Sha256Hex(content));
  auto rm = Loom({"rm", "--recursive", prefix_});
  ASSERT_EQ(rm.exit_code, 0) << rm.err;
  auto gone = Loom({"get", prefix_ + "dir/naïve name.bin", dir_.Join("again")});
  EXPECT_EQ(gone.exit_code, 3) << gone.err;
  EXPECT_FALSE(PathExists(dir_.Join("again")));
}

TEST_F(DataCliS3Test, WrongSecretIsOneLineExitFourWithoutTheSecret) {
  ASSERT_TRUE(WriteFileAtomic(dir_.Join("src"), "x").ok());
  const std::string secret = "a-wrong-secret-1234";
  auto put = Loom({"put", dir_.Join("src"), prefix_ + "x"}, {"AWS_SECRET_ACCESS_KEY=" + secret});
  EXPECT_EQ(put.exit_code, 4) << put.err;
  EXPECT_EQ(std::count(put.err.begin(), put.err.end(), '\n'), 1) << put.err;  // no retry storm in the log
  EXPECT_NE(put.err.find("signature does not match"), std::string::npos) << put.err;
  EXPECT_EQ(put.err.find(secret), std::string::npos);
  EXPECT_EQ(put.out.find(secret), std::string::npos);
}

TEST_F(DataCliS3Test, CacheFromS3IsIdempotent) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(WriteFileAtomic(dir_.Join("f"), testing::RandomBytes(10000 * (i + 1), i)).ok());
    auto put = Loom({"put", "--quiet", dir_.Join("f"), prefix_ + "ds/part-" + std::to_string(i)});
    ASSERT_EQ(put.exit_code, 0) << put.err;
  }
  auto first = Loom({"cache", prefix_ + "ds", "--dir", dir_.Join("cache")});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("cached 5 objects"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find(": 5 downloaded"), std::string::npos) << first.out;
  EXPECT_TRUE(PathExists(dir_.Join("cache/part-4")));
  auto second = Loom({"cache", prefix_ + "ds", "--dir", dir_.Join("cache")});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.out.find(": 0 downloaded"), std::string::npos) << second.out;
}

}  // namespace
}  // namespace loom::storage
