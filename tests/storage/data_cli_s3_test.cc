// `loom data` against the Swift fixture: credentials only from the environment, exit codes, a
// wrong secret as one clear line that does not contain it, and the dataset cache over s3://.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <regex>
#include <thread>

#include "core/file.h"
#include "core/json.h"
#include "cutting_proxy.h"
#include "random_bytes.h"
#include "storage/hash.h"
#include "test_util/subprocess.h"
#include "test_util/swift_env.h"
#include "test_util/test_env.h"

namespace loom::storage {
namespace {

using loom::testing::LoomBinary;
using loom::testing::Process;
using loom::testing::ProcessResult;
using loom::testing::ScratchDir;

class DataCliS3Test : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = loom::testing::SwiftEnvItems();
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
    args.insert(args.begin(), "data");
    return LoomCommand(args, extra_env);
  }
  // Any loom command, with the server's settings in its environment (never on its command line).
  ProcessResult LoomCommand(std::vector<std::string> args, std::vector<std::string> extra_env = {}) {
    args.insert(args.begin(), LoomBinary());
    return Process(args, logs_.path(), WithEnv(extra_env)).Wait();
  }
  // The number in "cached N objects in DIR: M downloaded" or "N objects in DIR (M downloaded".
  static int Downloaded(const std::string& text) {
    std::smatch m;
    if (!std::regex_search(text, m, std::regex(R"((?:: |\()(\d+) downloaded)"))) return -1;
    return std::stoi(m[1]);
  }
  // `count` objects of a few KB under prefix_ + name + "/", put with one `loom data sync`.
  void PutDataset(const std::string& name, int count) {
    for (int i = 0; i < count; ++i)
      ASSERT_TRUE(WriteFileAtomic(dir_.Join(name + "/part-" + std::to_string(i)), testing::RandomBytes(3000 + 977 * i, i)).ok());
    auto sync = Loom({"sync", "--quiet", dir_.Join(name), prefix_ + name + "/"});
    ASSERT_EQ(sync.exit_code, 0) << sync.err;
  }
  int SwiftPort() {
    std::string endpoint = Value("AWS_ENDPOINT_URL");
    return std::atoi(endpoint.substr(endpoint.rfind(':') + 1).c_str());
  }
  static std::string Through(const testing::CuttingProxy& proxy) {
    return "AWS_ENDPOINT_URL=http://127.0.0.1:" + std::to_string(proxy.port());
  }
  // Polls `done` until it holds; false if it still does not after two minutes (a hung test fails).
  static bool WaitUntil(const std::function<bool()>& done) {
    for (int i = 0; i < 2400; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return done();
  }
  static int64_t FileSize(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
  }
  // The partial download's state file as JSON (null when unreadable).
  static Json PartialState(const std::string& path) {
    auto text = ReadFile(path);
    if (!text.ok()) return Json();
    auto json = ParseJson(*text, path);
    return json.ok() ? *json : Json();
  }
  // No argument of a running process holds the secret (what `ps` shows).
  void ExpectNoSecretInCommandLine(pid_t pid) {
    auto cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
    ASSERT_TRUE(cmdline.ok());
    EXPECT_NE(cmdline->find("data"), std::string::npos);  // it is the loom process
    EXPECT_EQ(cmdline->find(Value("AWS_SECRET_ACCESS_KEY")), std::string::npos) << *cmdline;
  }
  void ExpectNoSecretIn(const ProcessResult& r) {
    EXPECT_EQ(r.out.find(Value("AWS_SECRET_ACCESS_KEY")), std::string::npos) << r.out;
    EXPECT_EQ(r.err.find(Value("AWS_SECRET_ACCESS_KEY")), std::string::npos) << r.err;
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
  // One corrupted byte in the local copy: detected and fetched again from the server.
  std::string original = ReadFile(dir_.Join("cache/part-2")).value();
  std::string changed = original;
  changed[1234] ^= 0x20;
  ASSERT_TRUE(WriteFileAtomic(dir_.Join("cache/part-2"), changed).ok());
  auto third = Loom({"cache", prefix_ + "ds", "--dir", dir_.Join("cache")});
  ASSERT_EQ(third.exit_code, 0) << third.err;
  EXPECT_NE(third.out.find(": 1 downloaded"), std::string::npos) << third.out;
  EXPECT_NE(third.out.find("1 re-fetched after failing verification"), std::string::npos) << third.out;
  EXPECT_EQ(ReadFile(dir_.Join("cache/part-2")).value(), original);
}

TEST_F(DataCliS3Test, TwoCachesAtOnceDownloadOnceAndBothSucceed) {
  ASSERT_TRUE(MakeDirs(dir_.Join("ds")).ok());
  PutDataset("ds", 30);
  std::vector<std::string> argv = {LoomBinary(), "data", "cache", prefix_ + "ds", "--dir", dir_.Join("cache")};
  Process a(argv, logs_.path(), env_), b(argv, logs_.path(), env_);
  ProcessResult ra = a.Wait(), rb = b.Wait();
  ASSERT_EQ(ra.exit_code, 0) << ra.err;
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  // The lock: one of them downloads everything, the other finds it verified in place.
  EXPECT_EQ(Downloaded(ra.out) + Downloaded(rb.out), 30) << ra.out << rb.out;
  EXPECT_TRUE(Downloaded(ra.out) == 0 || Downloaded(rb.out) == 0) << ra.out << rb.out;
  for (int i = 0; i < 30; ++i) {
    std::string name = "part-" + std::to_string(i);
    EXPECT_EQ(*Sha256OfFile(dir_.Join("cache/" + name)), *Sha256OfFile(dir_.Join("ds/" + name))) << name;
  }
  auto names = ListDir(dir_.Join("cache"));
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(names->size(), 32u);  // the 30 objects, the manifest and the lock: no temporary left
}

TEST_F(DataCliS3Test, TrainAndEvalReadMnistFromS3ThroughTheCache) {
  // MNIST into Swift: the two image files are above the 5 MiB part size, so they go up in parts.
  auto sync = Loom({"sync", "--quiet", loom::testing::MnistDir(), prefix_ + "mnist/"});
  ASSERT_EQ(sync.exit_code, 0) << sync.err;
  ScratchDir home;
  auto train = LoomCommand({"train", "--data_dir", prefix_ + "mnist", "--train_steps", "30", "--train_dir",
                            dir_.Join("train"), "--export_dir", dir_.Join("export")},
                           {"LOOM_HOME=" + home.path()});
  ASSERT_EQ(train.exit_code, 0) << train.err;
  ExpectNoSecretIn(train);
  EXPECT_NE(train.err.find("4 objects in"), std::string::npos) << train.err;
  EXPECT_EQ(Downloaded(train.err), 4) << train.err;
  // The copy the cache made is byte for byte the files put in.
  std::string bucket_and_prefix = prefix_.substr(std::string("s3://").size());
  std::string cached = JoinPath(home.path(), "datasets/" + bucket_and_prefix + "mnist");
  for (const char* name : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                           "t10k-labels-idx1-ubyte"}) {
    EXPECT_EQ(*Sha256OfFile(JoinPath(cached, name)), *Sha256OfFile(JoinPath(loom::testing::MnistDir(), name)))
        << name;
  }
  // eval takes the same URL and finds the cache verified: nothing downloaded again.
  auto eval = LoomCommand({"eval", "--model", dir_.Join("export"), "--data_dir", prefix_ + "mnist"},
                          {"LOOM_HOME=" + home.path()});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  EXPECT_EQ(Downloaded(eval.err), 0) << eval.err;
  EXPECT_NE(eval.out.find("on 10000 examples"), std::string::npos) << eval.out;
  // A prefix with nothing under it is one clear error naming it.
  auto missing = LoomCommand({"train", "--data_dir", prefix_ + "nothing-here", "--train_steps", "1", "--train_dir",
                              dir_.Join("train2")},
                             {"LOOM_HOME=" + home.path()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("--data_dir: " + prefix_ + "nothing-here/: no objects under this prefix"),
            std::string::npos)
      << missing.err;
}

TEST_F(DataCliS3Test, TwoTrainersStartedAtOnceShareOneDownload) {
  // What the replicas of a TFJob do with one --data_dir: each caches it on start, under one LOOM_HOME.
  auto sync = Loom({"sync", "--quiet", loom::testing::MnistDir(), prefix_ + "mnist/"});
  ASSERT_EQ(sync.exit_code, 0) << sync.err;
  ScratchDir home;
  std::vector<std::string> env = WithEnv({"LOOM_HOME=" + home.path()});
  Process a({LoomBinary(), "train", "--data_dir", prefix_ + "mnist", "--train_steps", "5", "--train_dir", dir_.Join("a")},
            logs_.path(), env);
  Process b({LoomBinary(), "train", "--data_dir", prefix_ + "mnist", "--train_steps", "5", "--train_dir", dir_.Join("b")},
            logs_.path(), env);
  ProcessResult ra = a.Wait(), rb = b.Wait();
  ASSERT_EQ(ra.exit_code, 0) << ra.err;
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  EXPECT_EQ(Downloaded(ra.err) + Downloaded(rb.err), 4) << ra.err << rb.err;
}

TEST_F(DataCliS3Test, GetKilledMidTransferIsResumedWithRangeByTheNextGet) {
  std::string content = testing::RandomBytes(24 << 20, 24);
  ASSERT_TRUE(WriteFileAtomic(dir_.Join("src"), content).ok());
  ASSERT_EQ(Loom({"put", "--quiet", dir_.Join("src"), prefix_ + "big"}).exit_code, 0);
  std::string out = dir_.Join("out/big"), partial = dir_.Join("out/.big.loom-partial");
  {
    // One stream (--parallelism 1) through a proxy that goes silent after 6 MB: kill -9 it there.
    testing::CuttingProxy frozen(SwiftPort(), 6000000, /*freeze=*/true);
    Process get({LoomBinary(), "data", "get", "--parallelism", "1", prefix_ + "big", out}, logs_.path(),
                WithEnv({Through(frozen)}));
    ASSERT_TRUE(WaitUntil([&] { return FileSize(partial) >= 5990000; })) << FileSize(partial);
    ExpectNoSecretInCommandLine(get.pid());
    get.Signal(SIGKILL);
    ProcessResult killed = get.Wait();
    EXPECT_EQ(killed.exit_code, 128 + SIGKILL);
  }
  EXPECT_FALSE(PathExists(out));  // never at the final name
  int64_t kept = FileSize(partial);
  EXPECT_GE(kept, 5990000);
  EXPECT_LT(kept, 6000000);
  EXPECT_EQ(PartialState(dir_.Join("out/.big.loom-partial.json")).value("part_size", -1), 0);
  // The next get asks only for the rest, and the result is right.
  testing::CuttingProxy recorder(SwiftPort(), SIZE_MAX);
  auto again = Loom({"get", "--parallelism", "1", prefix_ + "big", out}, {Through(recorder)});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  ExpectNoSecretIn(again);
  EXPECT_EQ(*Sha256OfFile(out), Sha256Hex(content));
  std::string sent = recorder.client_bytes();
  EXPECT_NE(sent.find("Range: bytes=" + std::to_string(kept) + "-\r\n"), std::string::npos) << sent;
  EXPECT_EQ(recorder.connections(), 1);
  auto names = ListDir(dir_.Join("out"));
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"big"});  // the partial file and its state are gone
}

TEST_F(DataCliS3Test, CacheKilledMidParallelDownloadFetchesOnlyTheMissingPart) {
  // 40 MiB: eight 5 MiB ranges, four at a time. The proxy freezes the first connection (the one
  // the listing used, then one range), the other three finish the seven other ranges.
  std::string content = testing::RandomBytes(40 << 20, 40);
  ASSERT_TRUE(WriteFileAtomic(dir_.Join("src"), content).ok());
  ASSERT_EQ(Loom({"put", "--quiet", dir_.Join("src"), prefix_ + "ds/big"}).exit_code, 0);
  std::string cache = dir_.Join("cache"), state = dir_.Join("cache/.big.loom-partial.json");
  {
    testing::CuttingProxy frozen(SwiftPort(), 2000000, /*freeze=*/true);
    Process run({LoomBinary(), "data", "cache", prefix_ + "ds", "--dir", cache}, logs_.path(), WithEnv({Through(frozen)}));
    ASSERT_TRUE(WaitUntil([&] {
      Json j = PartialState(state);
      return j.is_object() && j["done"].is_array() && j["done"].size() == 7;
    })) << PartialState(state).dump();
    ExpectNoSecretInCommandLine(run.pid());
    run.Signal(SIGKILL);
    EXPECT_EQ(run.Wait().exit_code, 128 + SIGKILL);
  }
  EXPECT_FALSE(PathExists(dir_.Join("cache/big")));
  EXPECT_TRUE(PathExists(dir_.Join("cache/.big.loom-partial")));
  Json left = PartialState(state);
  int64_t missing = -1;
  for (int64_t i = 0; i < 8; ++i) {
    bool done = false;
    for (const Json& d : left["done"]) done |= d.get<int64_t>() == i;
    if (!done) missing = i;
  }
  ASSERT_GE(missing, 0);
  testing::CuttingProxy recorder(SwiftPort(), SIZE_MAX);
  auto again = Loom({"cache", prefix_ + "ds", "--dir", cache}, {Through(recorder)});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  ExpectNoSecretIn(again);
  EXPECT_EQ(Downloaded(again.out), 1) << again.out;
  EXPECT_EQ(*Sha256OfFile(dir_.Join("cache/big")), Sha256Hex(content));
  // One ranged GET, for the one range that was missing.
  std::string sent = recorder.client_bytes();
  std::regex range("Range: bytes=([0-9]+)-([0-9]+)\r\n");
  std::vector<int64_t> starts;
  for (std::sregex_iterator it(sent.begin(), sent.end(), range), end; it != end; ++it) starts.push_back(std::stoll((*it)[1]));
  EXPECT_EQ(starts, std::vector<int64_t>{missing * (5 << 20)}) << sent;
  auto names = ListDir(cache);
  ASSERT_TRUE(names.ok());
  for (const auto& n : *names) EXPECT_EQ(n.find("loom-partial"), std::string::npos) << n;
  // A third run finds it all verified.
  auto third = Loom({"cache", prefix_ + "ds", "--dir", cache});
  EXPECT_EQ(Downloaded(third.out), 0) << third.out;
}

TEST_F(DataCliS3Test, DiskFullOrUnwritableIsAClearErrorAndLeavesNoFile) {
  // A file size limit of ~1 MB (SIGXFSZ ignored: writes fail with EFBIG as they would with ENOSPC
  // on a full disk) against 3 MiB in one stream and 12 MiB in parallel ranges.
  for (auto [name, size] : {std::pair<std::string, int>{"three", 3 << 20}, {"twelve", 12 << 20}}) {
    ASSERT_TRUE(WriteFileAtomic(dir_.Join("src"), testing::RandomBytes(size, size)).ok());
    ASSERT_EQ(Loom({"put", "--quiet", dir_.Join("src"), prefix_ + name}).exit_code, 0);
    ASSERT_TRUE(MakeDirs(dir_.Join("out-" + name)).ok());
    std::vector<std::string> argv = {"bash", "-c", "trap '' XFSZ; ulimit -f 1000; exec \"$0\" \"$@\"", LoomBinary(),
                                     "data", "get", prefix_ + name, dir_.Join("out-" + name + "/" + name)};
    ProcessResult r = Process(argv, logs_.path(), env_).Wait();
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find(dir_.Join("out-" + name + "/" + name) + ": write: File too large"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    ExpectNoSecretIn(r);
    auto names = ListDir(dir_.Join("out-" + name));
    ASSERT_TRUE(names.ok());
    EXPECT_TRUE(names->empty()) << (*names)[0];  // no file, no partial file
  }
  // A cache directory that cannot be made (a file is in the way): one line naming it, exit 1.
  ASSERT_TRUE(WriteFileAtomic(dir_.Join("afile"), "x").ok());
  auto cache = Loom({"cache", prefix_ + "three", "--dir", dir_.Join("afile/cache")});
  EXPECT_EQ(cache.exit_code, 1) << cache.err;
  EXPECT_NE(cache.err.find(dir_.Join("afile/cache")), std::string::npos) << cache.err;
  auto get = Loom({"get", prefix_ + "three", dir_.Join("afile/out")});
  EXPECT_EQ(get.exit_code, 1) << get.err;
  EXPECT_FALSE(PathExists(dir_.Join("afile/out")));
}

}  // namespace
}  // namespace loom::storage
