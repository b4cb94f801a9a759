// `loom data` end to end on file:// (no server): copies, exit codes, and the dataset cache
// (idempotent, corrupt bytes fetched again, two at once download once, no partial files).
#include <gtest/gtest.h>

#include <regex>

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

class DataCliTest : public ::testing::Test {
 protected:
  ProcessResult Loom(std::vector<std::string> args) {
    args.insert(args.begin(), {LoomBinary(), "data"});
    return Process(args, logs_.path()).Wait();
  }
  // A dataset of `n` objects under <dir>/store/ds, returns their total size.
  void MakeDataset(int n) {
    for (int i = 0; i < n; ++i) {
      std::string path = dir_.Join("store/ds/" + std::string(i % 2 ? "odd/" : "") + "f" + std::to_string(i));
      ASSERT_TRUE(MakeDirs(Dirname(path)).ok());
      ASSERT_TRUE(WriteFileAtomic(path, testing::RandomBytes(1000 + 4096 * i, i)).ok());
    }
  }
  // The number after "cached N objects in DIR: " ... "M downloaded".
  static int Downloaded(const std::string& out) {
    std::smatch m;
    if (!std::regex_search(out, m, std::regex(R"(: (\d+) downloaded)"))) return -1;
    return std::stoi(m[1]);
  }
  ScratchDir dir_, logs_;
};

TEST_F(DataCliTest, PutGetRoundTrip) {
  std::string content = testing::RandomBytes(3 << 20, 1);
  ASSERT_TRUE(WriteFileAtomic(dir_.Join("src.bin"), content).ok());
  ASSERT_TRUE(MakeDirs(dir_.Join("store")).ok());
  auto put = Loom({"put", dir_.Join("src.bin"), "file://" + dir_.Join("store/a b/")});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  auto get = Loom({"get", "--quiet", "file://" + dir_.Join("store/a b/src.bin"), dir_.Join("out.bin")});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(get.out, "");  // --quiet
  EXPECT_EQ(*Sha256OfFile(dir_.Join("out.bin")), Sha256Hex(content));
  auto ls = Loom({"ls", "file://" + dir_.Join("store/a b/")});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_NE(ls.out.find(std::to_string(3 << 20) + "  "), std::string::npos) << ls.out;
  auto rm = Loom({"rm", "file://" + dir_.Join("store/a b/src.bin")});
  ASSERT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_FALSE(PathExists(dir_.Join("store/a b/src.bin")));
}

TEST_F(DataCliTest, ExitCodesScriptsCanUse) {
  auto missing = Loom({"get", "file://" + dir_.Join("nothing"), dir_.Join("out")});
  EXPECT_EQ(missing.exit_code, 3) << missing.err;
  EXPECT_FALSE(PathExists(dir_.Join("out")));
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1) << missing.err;
  EXPECT_EQ(Loom({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(Loom({"get", "ftp://x/y", dir_.Join("out")}).exit_code, 2);
  EXPECT_EQ(Loom({"cache", "file://" + dir_.Join("x")}).exit_code, 2);  // no --dir
}

TEST_F(DataCliTest, CacheIsIdempotentAndVerifies) {
  MakeDataset(6);
  std::string url = "file://" + dir_.Join("store/ds");
  auto first = Loom({"cache", url, "--dir", dir_.Join("cache")});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(Downloaded(first.out), 6) << first.out;
  for (int i = 0; i < 6; ++i) {
    std::string rel = std::string(i % 2 ? "odd/" : "") + "f" + std::to_string(i);
    EXPECT_EQ(*Sha256OfFile(dir_.Join("cache/" + rel)), *Sha256OfFile(dir_.Join("store/ds/" + rel))) << rel;
  }
  auto second = Loom({"cache", url, "--dir", dir_.Join("cache")});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(Downloaded(second.out), 0) << second.out;
  // One corrupted byte: detected and fetched again.
  {
    auto bytes = ReadFile(dir_.Join("cache/odd/f3"));
    ASSERT_TRUE(bytes.ok());
    std::string changed = *bytes;
    changed[100] ^= 1;
    ASSERT_TRUE(WriteFileAtomic(dir_.Join("cache/odd/f3"), changed).ok());
  }
  auto third = Loom({"cache", url, "--dir", dir_.Join("cache")});
  ASSERT_EQ(third.exit_code, 0) << third.err;
  EXPECT_EQ(Downloaded(third.out), 1) << third.out;
  EXPECT_NE(third.out.find("1 re-fetched"), std::string::npos) << third.out;
  EXPECT_EQ(*Sha256OfFile(dir_.Join("cache/odd/f3")), *Sha256OfFile(dir_.Join("store/ds/odd/f3")));
}

TEST_F(DataCliTest, TwoCachesAtOnceDownloadOnce) {
  MakeDataset(40);
  std::string url = "file://" + dir_.Join("store/ds");
  Process a({LoomBinary(), "data", "cache", url, "--dir", dir_.Join("cache")}, logs_.path());
  Process b({LoomBinary(), "data", "cache", url, "--dir", dir_.Join("cache")}, logs_.path());
  ProcessResult ra = a.Wait(), rb = b.Wait();
  ASSERT_EQ(ra.exit_code, 0) << ra.err;
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  EXPECT_EQ(Downloaded(ra.out) + Downloaded(rb.out), 40) << ra.out << rb.out;
  auto names = ListDir(dir_.Join("cache"));
  ASSERT_TRUE(names.ok());
  for (const auto& n : *names) EXPECT_EQ(n.find(".tmp."), std::string::npos) << n;
}

TEST_F(DataCliTest, UnwritableCacheDirIsAClearError) {
  MakeDataset(2);
  ASSERT_TRUE(WriteFileAtomic(dir_.Join("afile"), "x").ok());
  auto r = Loom({"cache", "file://" + dir_.Join("store/ds"), "--dir", dir_.Join("afile/cache")});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("afile/cache"), std::string::npos) << r.err;
  auto get = Loom({"get", "file://" + dir_.Join("store/ds/f0"), dir_.Join("afile/out")});
  EXPECT_NE(get.exit_code, 0);
  EXPECT_FALSE(PathExists(dir_.Join("afile/out")));
}

TEST_F(DataCliTest, NoSpaceLeftIsAClearErrorAndLeavesNoPartialFile) {
  // A file size limit of ~1 MB (SIGXFSZ ignored, so writes fail with EFBIG as they would with
  // ENOSPC on a full disk) against a 3 MiB object.
  MakeDataset(1);
  ASSERT_TRUE(WriteFileAtomic(dir_.Join("store/big"), testing::RandomBytes(3 << 20, 3)).ok());
  ASSERT_TRUE(MakeDirs(dir_.Join("out")).ok());
  auto limited = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {"bash", "-c", "trap '' XFSZ; ulimit -f 1000; exec \"$0\" \"$@\"", LoomBinary(), "data"};
    argv.insert(argv.end(), args.begin(), args.end());
    return Process(argv, logs_.path()).Wait();
  };
  auto get = limited({"get", "file://" + dir_.Join("store/big"), dir_.Join("out/big")});
  EXPECT_EQ(get.exit_code, 1) << get.err;
  EXPECT_NE(get.err.find(dir_.Join("out/big") + ": write: File too large"), std::string::npos) << get.err;
  auto names = ListDir(dir_.Join("out"));
  ASSERT_TRUE(names.ok());
  EXPECT_TRUE(names->empty()) << (*names)[0];
}

TEST_F(DataCliTest, TrainTakesAFileUrlThroughTheCache) {
  ScratchDir home;
  std::string url = "file://" + loom::testing::MnistDir();
  Process train({LoomBinary(), "train", "--data_dir", url, "--train_steps", "5", "--train_dir", dir_.Join("train")},
                logs_.path(), {"LOOM_HOME=" + home.path()});
  ProcessResult r = train.Wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("4 objects in " + home.path() + "/datasets/file/"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(4 downloaded"), std::string::npos) << r.err;
  std::string cached = home.path() + "/datasets/file" + loom::testing::MnistDir();
  EXPECT_EQ(*Sha256OfFile(cached + "/t10k-labels-idx1-ubyte"),
            *Sha256OfFile(loom::testing::MnistDir() + "/t10k-labels-idx1-ubyte"));
  // A URL that does not parse is a usage error naming the flag, not a crash.
  Process bad({LoomBinary(), "train", "--data_dir", "ftp://host/mnist", "--train_steps", "1"}, logs_.path(),
              {"LOOM_HOME=" + home.path()});
  ProcessResult rb = bad.Wait();
  EXPECT_EQ(rb.exit_code, 1);
  EXPECT_NE(rb.err.find("--data_dir: ftp://host/mnist: unsupported scheme \"ftp\""), std::string::npos) << rb.err;
}

TEST_F(DataCliTest, PredictTakesAFileUrlThroughTheCache) {
  // No server on port 1: predict fails there, after the test set came through the cache.
  ScratchDir home;
  std::string url = "file://" + loom::testing::MnistDir();
  Process predict({LoomBinary(), "predict", "--server", "127.0.0.1:1", "--model", "mnist", "--num_tests", "10",
                   "--data_dir", url},
                  logs_.path(), {"LOOM_HOME=" + home.path()});
  ProcessResult r = predict.Wait();
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("loom predict: --data_dir " + url + ": 4 objects in " + home.path() + "/datasets/file/"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("connection refused"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace loom::storage
