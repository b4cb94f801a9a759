// S3Store against a real, strict S3 server: OpenStack Swift with s3api on 127.0.0.1, started by
// the CTest fixture (scripts/swift/start.sh; $LOOM_SWIFT_DIR/env holds its AWS_* settings).
// The conformance suite runs here as it runs on file://, and Debian's `aws` CLI reads what Loom
// wrote and writes what Loom reads.
#include <gtest/gtest.h>

#include <regex>

#include "core/file.h"
#include "storage/hash.h"
#include "storage/s3_store.h"
#include "cutting_proxy.h"
#include "store_conformance.h"
#include "test_util/subprocess.h"
#include "test_util/swift_env.h"

namespace loom::storage {
namespace {

using testing::StoreConformanceTest;
using testing::StoreFactory;

constexpr char kBucket[] = "loom-test";

S3Options SwiftOptions() {
  auto env = loom::testing::SwiftEnv();
  S3Options o;
  o.bucket = kBucket;
  o.endpoint = env["AWS_ENDPOINT_URL"];
  o.access_key = env["AWS_ACCESS_KEY_ID"];
  o.secret_key = env["AWS_SECRET_ACCESS_KEY"];
  o.region = env["AWS_REGION"];
  return o;
}

std::unique_ptr<ObjectStore> MakeSwiftStore() {
  auto store = S3Store::Create(SwiftOptions());
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return nullptr;
  Status created = (*store)->CreateBucket();
  EXPECT_TRUE(created.ok()) << created.ToString();
  return std::move(store).value();
}

INSTANTIATE_TEST_SUITE_P(Swift, StoreConformanceTest, ::testing::Values(StoreFactory{"s3", MakeSwiftStore}),
                         [](const auto& info) { return info.param.name; });

// Runs Debian's aws CLI with the server's credentials in its environment (never on its command line).
loom::testing::ProcessResult Aws(const std::vector<std::string>& args, const std::string& scratch) {
  auto env = loom::testing::SwiftEnv();
  std::vector<std::string> argv = {"/usr/bin/aws", "--endpoint-url", env["AWS_ENDPOINT_URL"]};
  argv.insert(argv.end(), args.begin(), args.end());
  loom::testing::Process p(argv, scratch,
                           {"AWS_ACCESS_KEY_ID=" + env["AWS_ACCESS_KEY_ID"],
                            "AWS_SECRET_ACCESS_KEY=" + env["AWS_SECRET_ACCESS_KEY"], "AWS_DEFAULT_REGION=us-east-1",
                            "AWS_REQUEST_CHECKSUM_CALCULATION=when_required", "AWS_CONFIG_FILE=/dev/null",
                            "AWS_SHARED_CREDENTIALS_FILE=/dev/null"});
  return p.Wait();
}

// Runs Debian's s3cmd against the server: a config file with the endpoint and path-style
// addressing only; the credentials come from the environment, as for aws.
loom::testing::ProcessResult S3cmd(const std::vector<std::string>& args, const std::string& scratch) {
  auto env = loom::testing::SwiftEnv();
  std::string host = env["AWS_ENDPOINT_URL"].substr(std::string("http://").size());
  std::string config = JoinPath(scratch, "s3cfg");
  EXPECT_TRUE(WriteFileAtomic(config, "[default]\nhost_base = " + host + "\nhost_bucket = " + host +
                                          "\nuse_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n")
                  .ok());
  std::vector<std::string> argv = {"/usr/bin/s3cmd", "-c", config};
  argv.insert(argv.end(), args.begin(), args.end());
  loom::testing::Process p(argv, scratch,
                           {"AWS_ACCESS_KEY_ID=" + env["AWS_ACCESS_KEY_ID"],
                            "AWS_SECRET_ACCESS_KEY=" + env["AWS_SECRET_ACCESS_KEY"]});
  return p.Wait();
}

class SwiftCrossCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = MakeSwiftStore();
    ASSERT_NE(store_, nullptr);
    prefix_ = "cross-" + std::to_string(std::random_device{}()) + "/";
  }
  // Puts `size` random bytes as prefix_ + name through store_; returns them.
  std::string PutRandom(const std::string& name, size_t size, uint64_t seed) {
    std::string content = testing::RandomBytes(size, seed);
    EXPECT_TRUE(WriteFileAtomic(scratch_.Join("src"), content).ok());
    auto put = store_->Put(prefix_ + name, scratch_.Join("src"), {});
    EXPECT_TRUE(put.ok()) << put.status().ToString();
    return content;
  }
  // The server's options with the endpoint moved to a proxy in front of it.
  static S3Options ThroughProxy(testing::CuttingProxy& proxy) {
    S3Options o = SwiftOptions();
    o.endpoint = "http://127.0.0.1:" + std::to_string(proxy.port());
    o.backoff_initial_ms = 10;
    return o;
  }
  static int SwiftPort() {
    std::string endpoint = SwiftOptions().endpoint;
    return std::atoi(endpoint.substr(endpoint.rfind(':') + 1).c_str());
  }

  loom::testing::ScratchDir scratch_;
  std::unique_ptr<ObjectStore> store_;
  std::string prefix_;
};

TEST_F(SwiftCrossCheckTest, AwsReadsWhatLoomWrote) {
  for (auto [name, size] : {std::pair<std::string, size_t>{"small ü.bin", 1000}, {"multi part.bin", (5 << 20) + 1}}) {
    std::string content = testing::RandomBytes(size, size);
    ASSERT_TRUE(WriteFileAtomic(scratch_.Join("src"), content).ok());
    auto put = store_->Put(prefix_ + name, scratch_.Join("src"), {});
    ASSERT_TRUE(put.ok()) << put.status().ToString();
    // Above 5 MiB Loom uploads in parts: S3's ETag for that is "<md5 of part md5s>-<parts>".
    if (size > (5 << 20)) {
      EXPECT_EQ(put->etag.substr(put->etag.size() - 2), "-2") << put->etag;
    }
    auto r = Aws({"s3", "cp", "s3://" + std::string(kBucket) + "/" + prefix_ + name, scratch_.Join("by-aws")}, scratch_.path());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(*Sha256OfFile(scratch_.Join("by-aws")), Sha256Hex(content)) << name;
  }
}

TEST_F(SwiftCrossCheckTest, LoomReadsWhatAwsWrote) {
  // 9 MiB: aws uploads it in parts (its threshold is 8 MiB), so the ETag is a multipart one.
  std::string content = testing::RandomBytes(9 << 20, 9);
  ASSERT_TRUE(WriteFileAtomic(scratch_.Join("src"), content).ok());
  std::string key = prefix_ + "from aws/été.bin";
  auto r = Aws({"s3", "cp", scratch_.Join("src"), "s3://" + std::string(kBucket) + "/" + key}, scratch_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto got = store_->Get(key, scratch_.Join("by-loom"), {});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*Sha256OfFile(scratch_.Join("by-loom")), Sha256Hex(content));
  auto listed = store_->ListAll(prefix_ + "from aws/");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].key, key);
  EXPECT_EQ((*listed)[0].size, 9 << 20);
}

TEST_F(SwiftCrossCheckTest, S3cmdReadsWhatLoomWrote) {
  for (auto [name, size] : {std::pair<std::string, size_t>{"empty", 0}, {"small ü.bin", 1000},
                            {"multi part.bin", (5 << 20) + 1}}) {
    std::string content = PutRandom(name, size, size + 7);
    std::string out = scratch_.Join("by-s3cmd");
    auto r = S3cmd({"get", "--force", "s3://" + std::string(kBucket) + "/" + prefix_ + name, out}, scratch_.path());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(*Sha256OfFile(out), Sha256Hex(content)) << name;
  }
  // Listing through s3cmd sees the three objects with their sizes.
  auto ls = S3cmd({"ls", "s3://" + std::string(kBucket) + "/" + prefix_}, scratch_.path());
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_NE(ls.out.find(std::to_string((5 << 20) + 1) + "  s3://" + kBucket + "/" + prefix_ + "multi part.bin"),
            std::string::npos)
      << ls.out;
}

TEST_F(SwiftCrossCheckTest, LoomReadsWhatS3cmdWrote) {
  // 12 MB in 5 MiB parts: s3cmd's multipart upload (ETag "...-3").
  std::string content = testing::RandomBytes(12000000, 12);
  ASSERT_TRUE(WriteFileAtomic(scratch_.Join("src"), content).ok());
  std::string key = prefix_ + "from s3cmd/ñandú.bin";
  auto r = S3cmd({"put", "--multipart-chunk-size-mb=5", scratch_.Join("src"), "s3://" + std::string(kBucket) + "/" + key},
                 scratch_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto head = store_->Head(key);
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->size, 12000000);
  EXPECT_EQ(head->etag.substr(head->etag.size() - 2), "-3") << head->etag;
  auto got = store_->Get(key, scratch_.Join("by-loom"), {});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*Sha256OfFile(scratch_.Join("by-loom")), Sha256Hex(content));
  // A small one in a single PUT: Loom checks it against its MD5 ETag.
  ASSERT_TRUE(WriteFileAtomic(scratch_.Join("small"), "written by s3cmd\n").ok());
  r = S3cmd({"put", scratch_.Join("small"), "s3://" + std::string(kBucket) + "/" + prefix_ + "from s3cmd/small"},
            scratch_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  got = store_->Get(prefix_ + "from s3cmd/small", scratch_.Join("small-by-loom"), {});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(ReadFile(scratch_.Join("small-by-loom")).value(), "written by s3cmd\n");
  auto listed = store_->ListAll(prefix_ + "from s3cmd/");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 2u);
}

TEST_F(SwiftCrossCheckTest, WrongSecretIsOneClearError) {
  S3Options o = SwiftOptions();
  o.secret_key = "not-the-secret";
  auto store = S3Store::Create(o);
  ASSERT_TRUE(store.ok());
  auto head = (*store)->Head("anything");
  EXPECT_EQ(head.status().code(), StatusCode::kPermissionDenied) << head.status().ToString();
  auto got = (*store)->Get("anything", scratch_.Join("x"), {});
  EXPECT_EQ(got.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(got.status().message().find("signature does not match"), std::string::npos) << got.status().message();
  EXPECT_EQ(got.status().message().find("not-the-secret"), std::string::npos);
  EXPECT_FALSE(PathExists(scratch_.Join("x")));
}

TEST_F(SwiftCrossCheckTest, MissingBucketIsNotFound) {
  S3Options o = SwiftOptions();
  o.bucket = "no-such-bucket-here";
  auto store = S3Store::Create(o);
  ASSERT_TRUE(store.ok());
  auto page = (*store)->List({});
  EXPECT_EQ(page.status().code(), StatusCode::kNotFound) << page.status().ToString();
  EXPECT_NE(page.status().message().find("NoSuchBucket"), std::string::npos);
}

TEST_F(SwiftCrossCheckTest, ServerDyingMidDownloadResumesWithRange) {
  std::string content = PutRandom("big", 20 << 20, 20);
  // The same server behind a proxy whose first connection dies after 7 MB of the response.
  testing::CuttingProxy proxy(SwiftPort(), 7000000);
  S3Options o = ThroughProxy(proxy);
  o.parallelism = 1;  // one stream: the cut lands in the middle of the only GET
  auto store = S3Store::Create(o);
  ASSERT_TRUE(store.ok());
  auto got = (*store)->Get(prefix_ + "big", scratch_.Join("out"), {});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*Sha256OfFile(scratch_.Join("out")), Sha256Hex(content));
  EXPECT_EQ(proxy.connections(), 2);
  // The second request asked for the rest only: from where the first one stopped (after the headers).
  std::string sent = proxy.client_bytes();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(sent, m, std::regex("Range: bytes=([0-9]+)-\r\n"))) << sent;
  int64_t from = std::stoll(m[1]);
  EXPECT_GT(from, 6000000);
  EXPECT_LT(from, 7000000);
}

TEST_F(SwiftCrossCheckTest, ServerDyingMidParallelDownloadResumesThatRange) {
  std::string content = PutRandom("big", 20 << 20, 21);
  testing::CuttingProxy proxy(SwiftPort(), 3000000);  // inside the first 5 MiB range
  S3Options o = ThroughProxy(proxy);
  auto store = S3Store::Create(o);  // default parallelism: 5 MiB ranges, 4 at a time
  ASSERT_TRUE(store.ok());
  auto got = (*store)->Get(prefix_ + "big", scratch_.Join("out"), {});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*Sha256OfFile(scratch_.Join("out")), Sha256Hex(content));
  // Besides the four 5 MiB ranges, one request resumed a range in its middle.
  std::string sent = proxy.client_bytes();
  std::regex range("Range: bytes=([0-9]+)-([0-9]+)\r\n");
  int resumed = 0, ranges = 0;
  for (std::sregex_iterator it(sent.begin(), sent.end(), range), end; it != end; ++it, ++ranges)
    resumed += std::stoll((*it)[1]) % (5 << 20) != 0;
  EXPECT_EQ(ranges, 5) << sent;
  EXPECT_EQ(resumed, 1);
}

}  // namespace
}  // namespace loom::storage
