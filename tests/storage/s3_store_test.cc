// S3Store without a real server: URL building, error mapping, and faults from a scripted server
// (a connection cut mid-body resumes with Range; 503 retried; 403 not retried; a bad body caught).
#include "storage/s3_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "core/file.h"
#include "fake_http_server.h"
#include "storage/hash.h"
#include "storage/partial_download.h"
#include "random_bytes.h"
#include "test_util/test_env.h"

namespace loom::storage {
namespace {

using testing::FakeHttpServer;

S3Options FastOptions(const std::string& endpoint) {
  S3Options o;
  o.bucket = "bucket";
  o.endpoint = endpoint;
  o.access_key = "test:tester";
  o.secret_key = "s3cr3t-value";
  o.backoff_initial_ms = 1;
  o.backoff_max_ms = 5;
  o.parallelism = 1;  // one stream per Get: the scripted server answers requests in order
  return o;
}

std::unique_ptr<S3Store> MakeStore(const S3Options& o) {
  auto s = S3Store::Create(o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

std::string Md5Hex(const std::string& s) {
  Digest d(Digest::Kind::kMd5);
  d.Update(s);
  return d.HexFinal();
}

TEST(S3UrlTest, PathStyleForOtherEndpoints) {
  auto store = MakeStore(FastOptions("http://127.0.0.1:9000"));
  S3Store::Request r;
  r.key = "dir/a b+ü";
  EXPECT_EQ(store->UrlFor(r).first, "http://127.0.0.1:9000/bucket/dir/a%20b%2B%C3%BC");
  EXPECT_EQ(store->UrlFor(r).second, "127.0.0.1:9000");
  S3Store::Request list;
  list.query = {{"list-type", "2"}, {"prefix", "a/"}};
  // No slash between the bucket and '?'.
  EXPECT_EQ(store->UrlFor(list).first, "http://127.0.0.1:9000/bucket?list-type=2&prefix=a%2F");
}

TEST(S3UrlTest, VirtualHostForAws) {
  S3Options o = FastOptions("");
  o.region = "eu-west-1";
  auto store = MakeStore(o);
  S3Store::Request r;
  r.key = "k";
  EXPECT_EQ(store->UrlFor(r).first, "https://bucket.s3.eu-west-1.amazonaws.com/k");
  EXPECT_EQ(store->UrlFor(r).second, "bucket.s3.eu-west-1.amazonaws.com");
  S3Store::Request list;
  list.query = {{"list-type", "2"}};
  EXPECT_EQ(store->UrlFor(list).first, "https://bucket.s3.eu-west-1.amazonaws.com/?list-type=2");
}

TEST(S3UrlTest, BadOptionsAreClearErrors) {
  S3Options o = FastOptions("127.0.0.1:9000");
  EXPECT_NE(S3Store::Create(o).status().message().find("has no scheme"), std::string::npos);
  o = FastOptions("http://h");
  o.bucket = "";
  EXPECT_EQ(S3Store::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = FastOptions("http://h");
  o.secret_key = "";
  EXPECT_NE(S3Store::Create(o).status().message().find("no secret key"), std::string::npos);
}

TEST(S3StoreFaultTest, CutConnectionResumesWithRange) {
  std::string content = testing::RandomBytes(1 << 20, 7);
  std::string etag = "\"" + Md5Hex(content) + "\"";
  size_t cut = 300000;
  FakeHttpServer server([&](const std::string& request, int index) {
    if (index == 0) {  // all headers, a third of the body, then the connection drops
      return FakeHttpServer::Response(200, "OK", {"ETag: " + etag}, content.substr(0, cut), content.size());
    }
    size_t at = request.find("Range: bytes=");
    if (at == std::string::npos) return FakeHttpServer::Response(500, "No range", {}, "");
    size_t from = std::atoll(request.c_str() + at + 13);
    return FakeHttpServer::Response(
        206, "Partial Content",
        {"ETag: " + etag, "Content-Range: bytes " + std::to_string(from) + "-" + std::to_string(content.size() - 1) + "/" +
                              std::to_string(content.size())},
        content.substr(from));
  });
  auto store = MakeStore(FastOptions(server.endpoint()));
  loom::testing::ScratchDir dir;
  auto got = store->Get("obj", dir.Join("out"), {});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  auto bytes = ReadFile(dir.Join("out"));
  ASSERT_TRUE(bytes.ok());
  EXPECT_TRUE(*bytes == content);
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_NE(requests[1].find("Range: bytes=" + std::to_string(cut) + "-\r\n"), std::string::npos) << requests[1];
}

// A server whose first answer stops after `cut` bytes of `content`; later requests get the Range
// they ask for (or the whole object), all under `etag`.
FakeHttpServer::Handler CutThenServeRanges(const std::string& content, const std::string& etag, size_t cut) {
  return [=](const std::string& request, int index) {
    if (index == 0 && cut < content.size())
      return FakeHttpServer::Response(200, "OK", {"ETag: " + etag}, content.substr(0, cut), content.size());
    size_t at = request.find("Range: bytes=");
    if (at == std::string::npos) return FakeHttpServer::Response(200, "OK", {"ETag: " + etag}, content);
    size_t from = std::atoll(request.c_str() + at + 13);
    if (from >= content.size()) return FakeHttpServer::Response(416, "Range Not Satisfiable", {}, "");
    return FakeHttpServer::Response(
        206, "Partial Content",
        {"ETag: " + etag, "Content-Range: bytes " + std::to_string(from) + "-" + std::to_string(content.size() - 1) + "/" +
                              std::to_string(content.size())},
        content.substr(from));
  };
}

TEST(S3StorePartialTest, NetworkFailureKeepsTheBytesAndTheNextGetResumesWithRange) {
  std::string content = testing::RandomBytes(1 << 20, 8);
  FakeHttpServer server(CutThenServeRanges(content, "\"" + Md5Hex(content) + "\"", 300000));
  S3Options o = FastOptions(server.endpoint());
  o.max_attempts = 1;  // the cut is final for the first Get
  auto store = MakeStore(o);
  loom::testing::ScratchDir dir;
  GetOptions keep;
  keep.keep_partial = true;
  auto failed = store->Get("obj", dir.Join("out"), keep);
  ASSERT_EQ(failed.status().code(), StatusCode::kUnavailable) << failed.status().ToString();
  EXPECT_NE(failed.status().message().find("300000 bytes kept in " + dir.Join(".out.loom-partial")), std::string::npos)
      << failed.status().message();
  EXPECT_EQ(ListDir(dir.path()).value(), (std::vector<std::string>{".out.loom-partial", ".out.loom-partial.json"}));
  auto got = store->Get("obj", dir.Join("out"), keep);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(ReadFile(dir.Join("out")).value() == content);
  ASSERT_EQ(server.requests().size(), 2u);
  EXPECT_NE(server.requests()[1].find("Range: bytes=300000-\r\n"), std::string::npos) << server.requests()[1];
  EXPECT_EQ(ListDir(dir.path()).value(), std::vector<std::string>{"out"});
}

TEST(S3StorePartialTest, WithoutKeepPartialAFailureLeavesNothing) {
  std::string content = testing::RandomBytes(1 << 20, 9);
  FakeHttpServer server(CutThenServeRanges(content, "\"" + Md5Hex(content) + "\"", 300000));
  S3Options o = FastOptions(server.endpoint());
  o.max_attempts = 1;
  auto store = MakeStore(o);
  loom::testing::ScratchDir dir;
  EXPECT_EQ(store->Get("obj", dir.Join("out"), {}).status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(ListDir(dir.path()).value().empty());
}

// Leaves what a killed sequential download of the version `etag` would have left.
void LeavePartial(const std::string& dir, const std::string& bytes, const std::string& etag) {
  ASSERT_TRUE(WriteFileAtomic(JoinPath(dir, ".out.loom-partial"), bytes).ok());
  ASSERT_TRUE(WriteFileAtomic(JoinPath(dir, ".out.loom-partial.json"),
                              "{\"etag\":\"" + etag + "\",\"size\":-1,\"part_size\":0,\"done\":[]}")
                  .ok());
}

TEST(S3StorePartialTest, BytesOfAnotherVersionAreNotResumed) {
  std::string content = testing::RandomBytes(200000, 10);
  FakeHttpServer server(CutThenServeRanges(content, "\"" + Md5Hex(content) + "\"", SIZE_MAX));
  auto store = MakeStore(FastOptions(server.endpoint()));
  loom::testing::ScratchDir dir;
  LeavePartial(dir.path(), std::string(50000, 'x'), "0123456789abcdef0123456789abcdef");
  auto got = store->Get("obj", dir.Join("out"), {});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(ReadFile(dir.Join("out")).value() == content);
  // The ranged request saw another ETag and was dropped; the whole object came in a second one.
  ASSERT_EQ(server.requests().size(), 2u);
  EXPECT_NE(server.requests()[0].find("Range: bytes=50000-"), std::string::npos);
  EXPECT_EQ(server.requests()[1].find("Range:"), std::string::npos);
  EXPECT_EQ(ListDir(dir.path()).value(), std::vector<std::string>{"out"});
}

TEST(S3StorePartialTest, KeptBytesThatDoNotCheckOutAreFetchedAgain) {
  std::string content = testing::RandomBytes(200000, 11);
  std::string md5 = Md5Hex(content);
  FakeHttpServer server(CutThenServeRanges(content, "\"" + md5 + "\"", SIZE_MAX));
  auto store = MakeStore(FastOptions(server.endpoint()));
  loom::testing::ScratchDir dir;
  std::string damaged = content.substr(0, 80000);
  damaged[100] ^= 1;
  LeavePartial(dir.path(), damaged, md5);
  auto got = store->Get("obj", dir.Join("out"), {});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(ReadFile(dir.Join("out")).value() == content);
  ASSERT_EQ(server.requests().size(), 2u);  // the resumed rest, then (MD5 wrong) all of it again
  EXPECT_NE(server.requests()[0].find("Range: bytes=80000-"), std::string::npos);
}

TEST(S3StorePartialTest, AllBytesAlreadyThereAnswers416AndIsFetchedAgain) {
  std::string content = testing::RandomBytes(5000, 12);
  std::string md5 = Md5Hex(content);
  FakeHttpServer server(CutThenServeRanges(content, "\"" + md5 + "\"", SIZE_MAX));
  auto store = MakeStore(FastOptions(server.endpoint()));
  loom::testing::ScratchDir dir;
  LeavePartial(dir.path(), content, md5);  // killed after the last byte, before the rename
  auto got = store->Get("obj", dir.Join("out"), {});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(ReadFile(dir.Join("out")).value() == content);
  EXPECT_EQ(ListDir(dir.path()).value(), std::vector<std::string>{"out"});
}

TEST(PartialDownloadTest, TwoDownloadersOfOnePathTakeTurns) {
  loom::testing::ScratchDir dir;
  std::string path = dir.Join("file");
  auto first = PartialDownload::Open(path);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(first->Save({"etag-1", -1, 0, {}}).ok());
  ASSERT_EQ(::write(first->fd(), "first", 5), 5);
  std::atomic<bool> second_opened{false};
  int64_t second_length = -1;
  std::string second_etag = "unset";
  std::thread other([&] {
    auto second = PartialDownload::Open(path);  // waits for the lock
    second_opened = true;
    ASSERT_TRUE(second.ok());
    second_length = second->Length().value();
    second_etag = second->state().etag;
  });
  // The second cannot get in while the first holds the lock; the first commits, and the second
  // then gets a fresh partial file, not the one renamed to `path`.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(second_opened);
  ASSERT_TRUE(first->Commit().ok());
  other.join();
  EXPECT_EQ(second_length, 0);
  EXPECT_EQ(second_etag, "");
  EXPECT_EQ(ReadFile(path).value(), "first");
  EXPECT_TRUE(PartialDownload::IsPartialName(".file.loom-partial"));
  EXPECT_TRUE(PartialDownload::IsPartialName(".file.loom-partial.json"));
  EXPECT_FALSE(PartialDownload::IsPartialName("file.loom-partial"));
}

TEST(S3StoreFaultTest, WrongSecretIsOneClearErrorWithoutRetries) {
  FakeHttpServer server([](const std::string&, int) {
    return FakeHttpServer::Response(
        403, "Forbidden", {"Content-Type: application/xml"},
        "<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>SignatureDoesNotMatch</Code><Message>The request "
        "signature we calculated does not match the signature you provided. Check your key and signing "
        "method.</Message></Error>");
  });
  S3Options o = FastOptions(server.endpoint());
  auto store = MakeStore(o);
  loom::testing::ScratchDir dir;
  auto got = store->Get("obj", dir.Join("out"), {});
  EXPECT_EQ(got.status().code(), StatusCode::kPermissionDenied);
  std::string m = got.status().message();
  EXPECT_NE(m.find("HTTP 403 SignatureDoesNotMatch"), std::string::npos) << m;
  EXPECT_NE(m.find("signature does not match"), std::string::npos) << m;
  EXPECT_NE(m.find("GET s3://bucket/obj"), std::string::npos) << m;
  EXPECT_EQ(m.find(o.secret_key), std::string::npos) << m;
  EXPECT_EQ(server.requests().size(), 1u);
  auto names = ListDir(dir.path());
  EXPECT_TRUE(names.ok() && names->empty());
  // The secret never goes over the wire either (only its signature).
  EXPECT_EQ(server.requests()[0].find(o.secret_key), std::string::npos);
  EXPECT_NE(server.requests()[0].find("x-amz-content-sha256: e3b0c442"), std::string::npos);
}

TEST(S3StoreFaultTest, ServerErrorsAreRetriedThenSucceed) {
  FakeHttpServer server([](const std::string&, int index) {
    if (index < 2) return FakeHttpServer::Response(index == 0 ? 503 : 429, "Busy", {}, "");
    return FakeHttpServer::Response(200, "OK", {"ETag: \"abc\""}, "", 42);
  });
  auto store = MakeStore(FastOptions(server.endpoint()));
  auto head = store->Head("obj");
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->size, 42);
  EXPECT_EQ(head->etag, "abc");
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(S3StoreFaultTest, GivesUpAfterMaxAttempts) {
  FakeHttpServer server([](const std::string&, int) { return FakeHttpServer::Response(500, "Oops", {}, ""); });
  S3Options o = FastOptions(server.endpoint());
  o.max_attempts = 3;
  auto store = MakeStore(o);
  auto head = store->Head("obj");
  EXPECT_EQ(head.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(S3StoreFaultTest, NotFoundIsNotRetried) {
  FakeHttpServer server([](const std::string&, int) {
    return FakeHttpServer::Response(404, "Not Found", {}, "<Error><Code>NoSuchKey</Code></Error>");
  });
  auto store = MakeStore(FastOptions(server.endpoint()));
  loom::testing::ScratchDir dir;
  EXPECT_EQ(store->Get("obj", dir.Join("x"), {}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(S3StoreFaultTest, CorruptBodyIsCaughtAndLeavesNoFile) {
  std::string content = "hello world";
  FakeHttpServer server([&](const std::string&, int) {
    return FakeHttpServer::Response(200, "OK", {"ETag: \"" + Md5Hex(content) + "\""}, "hellO world");
  });
  auto store = MakeStore(FastOptions(server.endpoint()));
  loom::testing::ScratchDir dir;
  auto got = store->Get("obj", dir.Join("out"), {});
  EXPECT_EQ(got.status().code(), StatusCode::kDataLoss) << got.status().ToString();
  auto names = ListDir(dir.path());
  EXPECT_TRUE(names.ok() && names->empty());
}

TEST(S3StoreFaultTest, ConnectionRefusedIsRetriedThenReported) {
  int port;
  {
    FakeHttpServer gone([](const std::string&, int) { return std::string(); });
    port = std::atoi(gone.endpoint().substr(gone.endpoint().rfind(':') + 1).c_str());
  }
  S3Options o = FastOptions("http://127.0.0.1:" + std::to_string(port));
  o.max_attempts = 2;
  auto store = MakeStore(o);
  auto head = store->Head("obj");
  EXPECT_EQ(head.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(head.status().message().find("connection refused"), std::string::npos) << head.status().message();
  EXPECT_NE(head.status().message().find("gave up after 2 attempts"), std::string::npos);
}

TEST(S3StoreTest, PutSendsThePayloadHash) {
  std::string content = "payload bytes";
  FakeHttpServer server([](const std::string&, int) { return FakeHttpServer::Response(200, "OK", {"ETag: \"e\""}, ""); });
  auto store = MakeStore(FastOptions(server.endpoint()));
  loom::testing::ScratchDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.Join("f"), content).ok());
  auto put = store->Put("k", dir.Join("f"), {});
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  auto req = server.requests().at(0);
  EXPECT_EQ(req.rfind("PUT /bucket/k HTTP/1.1", 0), 0u) << req;
  EXPECT_NE(req.find("x-amz-content-sha256: " + Sha256Hex(content)), std::string::npos);
  EXPECT_NE(req.find("Credential=test:tester/"), std::string::npos);
  EXPECT_EQ(req.substr(req.size() - content.size()), content);
}

TEST(S3StoreTest, AnonymousRequestsAreUnsigned) {
  FakeHttpServer server([](const std::string&, int) {
    return FakeHttpServer::Response(200, "OK", {"Content-Type: application/xml"},
                                    "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a&amp;b</Key>"
                                    "<Size>3</Size><ETag>&quot;x&quot;</ETag></Contents></ListBucketResult>");
  });
  S3Options o = FastOptions(server.endpoint());
  o.access_key.clear();
  o.secret_key.clear();
  auto store = MakeStore(o);
  auto page = store->List({});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "a&b");
  EXPECT_EQ(page->objects[0].etag, "x");
  auto req = server.requests().at(0);
  EXPECT_EQ(req.rfind("GET /bucket?list-type=2&max-keys=1000 HTTP/1.1", 0), 0u) << req;
  EXPECT_EQ(req.find("Authorization"), std::string::npos) << req;
}

}  // namespace
}  // namespace loom::storage
