// FileStore: the conformance suite, plus what is particular to a local directory.
#include "storage/file_store.h"

#include "storage/dataset_cache.h"
#include "storage/store_url.h"
#include "store_conformance.h"

namespace loom::storage {
namespace {

using testing::StoreConformanceTest;
using testing::StoreFactory;

// Each test's store lives in a directory that outlives it only until the process ends.
std::unique_ptr<ObjectStore> MakeFileStore() {
  static loom::testing::ScratchDir* root = new loom::testing::ScratchDir();
  auto store = FileStore::Create({root->path()});
  EXPECT_TRUE(store.ok());
  return store.ok() ? std::move(store).value() : nullptr;
}

INSTANTIATE_TEST_SUITE_P(File, StoreConformanceTest, ::testing::Values(StoreFactory{"file", MakeFileStore}),
                         [](const auto& info) { return info.param.name; });

TEST(FileStoreTest, RejectsKeysThatLeaveTheRoot) {
  loom::testing::ScratchDir dir;
  auto store = FileStore::Create({dir.path()});
  ASSERT_TRUE(store.ok());
  for (const char* key : {"../x", "a/../../x", "a//b", "", "./a"}) {
    auto head = (*store)->Head(key);
    EXPECT_EQ(head.status().code(), StatusCode::kInvalidArgument) << key;
  }
}

TEST(FileStoreTest, ListingSkipsTemporaries) {
  loom::testing::ScratchDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.Join("a"), "1").ok());
  ASSERT_TRUE(WriteFileAtomic(dir.Join("a.tmp.123.4"), "partial").ok());
  ASSERT_TRUE(WriteFileAtomic(dir.Join(".b.loom-partial"), "an S3 download in progress").ok());
  ASSERT_TRUE(WriteFileAtomic(dir.Join(".b.loom-partial.json"), "{}").ok());
  auto store = FileStore::Create({dir.path()});
  ASSERT_TRUE(store.ok());
  auto all = (*store)->ListAll("");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].key, "a");
}

TEST(FileStoreTest, UnwritableDestinationLeavesNothing) {
  // The destination's directory is a regular file: no temporary can be made there (even as root).
  loom::testing::ScratchDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.Join("src"), "data").ok());
  ASSERT_TRUE(WriteFileAtomic(dir.Join("notadir"), "").ok());
  auto store = FileStore::Create({dir.path()});
  auto got = (*store)->Get("src", dir.Join("notadir/dst"), {});
  EXPECT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("notadir/dst"), std::string::npos) << got.status().message();
  auto names = ListDir(dir.path());
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"notadir", "src"}));
}

TEST(FileStoreTest, MissingRootIsAnError) {
  auto store = FileStore::Create({"/nonexistent/loom/root"});
  EXPECT_EQ(store.status().code(), StatusCode::kNotFound);
}

TEST(StoreUrlTest, Parses) {
  auto s3 = ParseStoreUrl("s3://bucket/dir/key name");
  ASSERT_TRUE(s3.ok());
  EXPECT_EQ(s3->scheme, StoreUrl::Scheme::kS3);
  EXPECT_EQ(s3->bucket, "bucket");
  EXPECT_EQ(s3->key, "dir/key name");
  auto bucket_only = ParseStoreUrl("s3://bucket");
  ASSERT_TRUE(bucket_only.ok());
  EXPECT_EQ(bucket_only->key, "");
  auto file = ParseStoreUrl("file:///tmp/x/y");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->scheme, StoreUrl::Scheme::kFile);
  EXPECT_EQ(file->key, "tmp/x/y");
  EXPECT_EQ(file->ToString(), "file:///tmp/x/y");
  auto plain = ParseStoreUrl("/abs/path");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->key, "abs/path");
  auto relative = ParseStoreUrl("rel/path");
  ASSERT_TRUE(relative.ok());
  EXPECT_EQ(relative->key.substr(relative->key.size() - 8), "rel/path");
}

TEST(StoreUrlTest, ErrorsNameTheUrl) {
  auto no_bucket = ParseStoreUrl("s3:///key");
  EXPECT_NE(no_bucket.status().message().find("s3:///key: no bucket"), std::string::npos) << no_bucket.status().message();
  auto scheme = ParseStoreUrl("ftp://host/x");
  EXPECT_NE(scheme.status().message().find("unsupported scheme \"ftp\""), std::string::npos);
  auto relative_file = ParseStoreUrl("file://relative");
  EXPECT_EQ(relative_file.status().code(), StatusCode::kInvalidArgument);
}

TEST(LocalDataDirTest, PathsPassAndUrlsGoThroughTheCache) {
  loom::testing::ScratchDir dir;
  auto plain = LocalDataDir("/some/local/dir", {}, dir.Join("cache"));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(*plain, "/some/local/dir");
  ASSERT_TRUE(MakeDirs(dir.Join("store/mnist")).ok());
  ASSERT_TRUE(WriteFileAtomic(dir.Join("store/mnist/t10k-labels-idx1-ubyte"), "labels").ok());
  ASSERT_TRUE(MakeDirs(dir.Join("store/mnist2")).ok());
  ASSERT_TRUE(WriteFileAtomic(dir.Join("store/mnist2/other"), "not in the prefix").ok());
  auto cached = LocalDataDir("file://" + dir.Join("store/mnist"), {}, dir.Join("cache"));
  ASSERT_TRUE(cached.ok()) << cached.status().ToString();
  EXPECT_EQ(ReadFile(JoinPath(*cached, "t10k-labels-idx1-ubyte")).value(), "labels");
  EXPECT_FALSE(PathExists(JoinPath(*cached, "other")));
  auto missing = LocalDataDir("file://" + dir.Join("store/nothing"), {}, dir.Join("cache"));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().ToString();
}

}  // namespace
}  // namespace loom::storage
