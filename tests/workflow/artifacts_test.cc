// Artifacts: tgz round trips of files and trees (libarchive), archive none, the local
// repository as the default location, and archives that try to escape their directory.
#include "workflow/artifacts.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/file.h"
#include "net/http_server.h"
#include "test_util/test_env.h"

namespace loom::workflow {
namespace {

// An artifact as a manifest writes it, read into the model.
Artifact Art(const Json& j) { return ArtifactFromJson(j, "artifact").value(); }

class ArtifactsTest : public ::testing::Test {
 protected:
  ArtifactOptions Options() {
    ArtifactOptions o;
    o.repository_dir = dir_.Join("repo");
    return o;
  }
  testing::ScratchDir dir_;
};

TEST_F(ArtifactsTest, DirectoryRoundTripThroughTheRepository) {
  ASSERT_TRUE(MakeDirs(dir_.Join("src/model/1")).ok());
  ASSERT_TRUE(WriteFileAtomic(dir_.Join("src/model/1/w.bin"), std::string("\0\1\2weights", 10)).ok());
  ASSERT_TRUE(WriteFileAtomic(dir_.Join("src/model/m.json"), "{}").ok());
  Json decl = {{"name", "model"}, {"path", "/tmp/model"}};
  auto saved = SaveArtifact(Art(decl), dir_.Join("src/model"), "wf/n1/model.tgz", Options(), "outputs.artifacts.model");
  ASSERT_TRUE(saved.ok()) << saved.status().ToString();
  EXPECT_EQ(ToJson(*saved)["s3"]["key"], "wf/n1/model.tgz");
  EXPECT_TRUE(LooksLikeTarball(dir_.Join("repo/wf/n1/model.tgz")));
  Status s = LoadArtifact(*saved, dir_.Join("dst/here"), Options(), "inputs.artifacts.model");
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ReadFile(dir_.Join("dst/here/1/w.bin")).value(), std::string("\0\1\2weights", 10));
  EXPECT_EQ(ReadFile(dir_.Join("dst/here/m.json")).value(), "{}");
}

TEST_F(ArtifactsTest, ArchiveNoneKeepsTheFileAsItIs) {
  ASSERT_TRUE(WriteFileAtomic(dir_.Join("f.txt"), "plain").ok());
  Json decl = {{"name", "f"}, {"path", "/tmp/f.txt"}, {"archive", {{"none", Json::object()}}}};
  auto saved = SaveArtifact(Art(decl), dir_.Join("f.txt"), "wf/n/f.tgz", Options(), "f");
  ASSERT_TRUE(saved.ok()) << saved.status().ToString();
  EXPECT_EQ(ToJson(*saved)["s3"]["key"], "wf/n/f");
  EXPECT_EQ(ReadFile(dir_.Join("repo/wf/n/f")).value(), "plain");
  ASSERT_TRUE(LoadArtifact(*saved, dir_.Join("back.txt"), Options(), "f").ok());
  EXPECT_EQ(ReadFile(dir_.Join("back.txt")).value(), "plain");
}

TEST_F(ArtifactsTest, ArchiveNoneDirectoryIsOneObjectPerFile) {
  ASSERT_TRUE(MakeDirs(dir_.Join("d/sub")).ok());
  ASSERT_TRUE(WriteFileAtomic(dir_.Join("d/sub/x"), "x").ok());
  Json decl = {{"name", "d"}, {"archive", {{"none", Json::object()}}}, {"s3", {{"key", "keep/d"}}}};
  auto saved = SaveArtifact(Art(decl), dir_.Join("d"), "unused", Options(), "d");
  ASSERT_TRUE(saved.ok()) << saved.status().ToString();
  EXPECT_EQ(ReadFile(dir_.Join("repo/keep/d/sub/x")).value(), "x");
  ASSERT_TRUE(LoadArtifact(*saved, dir_.Join("d2"), Options(), "d").ok());
  EXPECT_EQ(ReadFile(dir_.Join("d2/sub/x")).value(), "x");
}

TEST_F(ArtifactsTest, MissingAndOptional) {
  Json missing = {{"name", "m"}, {"s3", {{"key", "no/such"}}}};
  Status s = LoadArtifact(Art(missing), dir_.Join("m"), Options(), "inputs.artifacts.m");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("inputs.artifacts.m"), std::string::npos) << s.message();
  missing["optional"] = true;
  EXPECT_TRUE(LoadArtifact(Art(missing), dir_.Join("m"), Options(), "inputs.artifacts.m").ok());
  EXPECT_FALSE(PathExists(dir_.Join("m")));
  Json nosource = {{"name", "n"}};
  EXPECT_EQ(LoadArtifact(Art(nosource), dir_.Join("n"), Options(), "inputs.artifacts.n").code(), StatusCode::kInvalidArgument);
}

// A tarball whose entry climbs out of the target directory is refused.
TEST_F(ArtifactsTest, EscapingEntriesAreRefused) {
  const std::string evil = dir_.Join("evil.tar");
  // A ustar header for "../escaped" holding 0 bytes, then the two zero blocks.
  std::string block(512, '\0');
  const std::string name = "../escaped";
  block.replace(0, name.size(), name);
  block.replace(100, 7, "0000644");
  block.replace(124, 11, "00000000000");
  block.replace(136, 11, "00000000000");
  block[156] = '0';
  block.replace(257, 5, "ustar");
  block.replace(263, 2, "00");
  block.replace(148, 8, "        ");
  unsigned sum = 0;
  for (unsigned char c : block) sum += c;
  char chk[8];
  snprintf(chk, sizeof(chk), "%06o", sum);
  block.replace(148, 7, std::string(chk, 6) + '\0');
  ASSERT_TRUE(WriteFileAtomic(evil, block + std::string(1024, '\0')).ok());
  ASSERT_TRUE(LooksLikeTarball(evil));
  Status s = ExtractTar(evil, dir_.Join("out"));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("outside"), std::string::npos) << s.message();
  EXPECT_FALSE(PathExists(dir_.Join("escaped")));
}

// http inputs: a plain file, and a tgz that is unpacked to the path.
TEST_F(ArtifactsTest, HttpInputs) {
  ASSERT_TRUE(MakeDirs(dir_.Join("tree/d")).ok());
  ASSERT_TRUE(WriteFileAtomic(dir_.Join("tree/d/x"), "in a tarball").ok());
  ASSERT_TRUE(WriteTgz(dir_.Join("tree/d"), "d", dir_.Join("d.tgz")).ok());
  const std::string tgz = ReadFile(dir_.Join("d.tgz")).value();
  auto server = net::HttpServer::Create({}, [&](const net::HttpServerRequest& req, net::HttpServerResponse* resp) {
    resp->content_type = "application/octet-stream";
    if (req.path == "/plain.txt") {
      resp->body = "plain text";
    } else if (req.path == "/d.tgz") {
      resp->body = tgz;
    } else {
      resp->status = 404;
    }
  });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string base = "http://127.0.0.1:" + std::to_string((*server)->port());
  Json plain = {{"name", "p"}, {"http", {{"url", base + "/plain.txt"}}}};
  ASSERT_TRUE(LoadArtifact(Art(plain), dir_.Join("got/plain"), Options(), "inputs.artifacts.p").ok());
  EXPECT_EQ(ReadFile(dir_.Join("got/plain")).value(), "plain text");
  Json tree = {{"name", "t"}, {"http", {{"url", base + "/d.tgz"}}}};
  ASSERT_TRUE(LoadArtifact(Art(tree), dir_.Join("got/tree"), Options(), "inputs.artifacts.t").ok());
  EXPECT_EQ(ReadFile(dir_.Join("got/tree/x")).value(), "in a tarball");
  Json missing = {{"name", "m"}, {"http", {{"url", base + "/none"}}}};
  Status s = LoadArtifact(Art(missing), dir_.Join("got/none"), Options(), "inputs.artifacts.m");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("inputs.artifacts.m: " + base + "/none: HTTP 404"), std::string::npos) << s.message();
  EXPECT_FALSE(PathExists(dir_.Join("got/none")));
}

TEST(AppendToKeyTest, JoinsAsGoPathJoinAndRefusesArtifactsWithoutAKey) {
  Artifact a = Art({{"name", "tree"}, {"s3", {{"key", "wf/node/tree"}}}});
  ASSERT_TRUE(AppendToKey(&a, "./sub//b.txt", "arguments.artifacts.in").ok());
  EXPECT_EQ(a.location.s3->key, "wf/node/tree/sub/b.txt");
  Artifact b = Art({{"s3", {{"key", "wf/tree/"}}}});
  ASSERT_TRUE(AppendToKey(&b, "sub/../a/", "f").ok());
  EXPECT_EQ(b.location.s3->key, "wf/tree/a");
  Artifact raw = Art({{"name", "note"}, {"raw", {{"data", "x"}}}});
  Status s = AppendToKey(&raw, "a.txt", "arguments.artifacts.in");
  EXPECT_EQ(s.message(), "arguments.artifacts.in.subPath: the artifact has no key to append \"a.txt\" to (only s3 "
                         "artifacts and the default artifact repository's have one)");
}

}  // namespace
}  // namespace loom::workflow
