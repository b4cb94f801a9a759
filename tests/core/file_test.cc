#include "core/file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "test_util/test_env.h"

namespace loom {
namespace {

TEST(FileTest, WriteAtomicThenRead) {
  testing::ScratchDir dir;
  std::string path = dir.Join("a.txt");
  ASSERT_TRUE(WriteFileAtomic(path, "hello").ok());
  ASSERT_TRUE(WriteFileAtomic(path, "world!").ok());
  auto text = ReadFile(path);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "world!");
  auto names = ListDir(dir.path());
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"a.txt"});  // no temporary left
}

TEST(FileTest, UncommittedWriterLeavesNothing) {
  testing::ScratchDir dir;
  {
    auto w = AtomicFileWriter::Open(dir.Join("big.bin"));
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->Append("partial").ok());
  }
  auto names = ListDir(dir.path());
  ASSERT_TRUE(names.ok());
  EXPECT_TRUE(names->empty());
}

TEST(FileTest, ErrorsNameThePath) {
  auto r = ReadFile("/nonexistent/loom/file");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/loom/file"), std::string::npos);
  Status w = WriteFileAtomic("/nonexistent/loom/file", "x");
  EXPECT_FALSE(w.ok());
  EXPECT_NE(w.message().find("/nonexistent/loom/file"), std::string::npos);
}

TEST(FileTest, EnsureWritableDir) {
  testing::ScratchDir dir;
  EXPECT_TRUE(EnsureWritableDir(dir.Join("x/y")).ok());
  EXPECT_TRUE(IsDirectory(dir.Join("x/y")));
  ASSERT_TRUE(WriteFileAtomic(dir.Join("plain"), "").ok());
  EXPECT_FALSE(EnsureWritableDir(dir.Join("plain")).ok());
  EXPECT_FALSE(EnsureWritableDir(dir.Join("plain/sub")).ok());
}

TEST(FileTest, PathHelpers) {
  EXPECT_EQ(JoinPath("a", "b"), "a/b");
  EXPECT_EQ(JoinPath("a/", "b"), "a/b");
  EXPECT_EQ(JoinPath("a", "/b"), "/b");
  EXPECT_EQ(Dirname("/x/y/z"), "/x/y");
  EXPECT_EQ(Dirname("z"), ".");
  EXPECT_EQ(Basename("/x/y/z"), "z");
}

}  // namespace
}  // namespace loom
