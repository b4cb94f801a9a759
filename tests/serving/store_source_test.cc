// FileSystemSource over an object store (file:// with a cache directory here; s3:// against a
// real S3 server in serve_s3_test.cc): only complete versions are aspired, each from a verified
// local copy, and a URL the source cannot use is an error naming the field.
#include <gtest/gtest.h>

#include <map>

#include "core/file.h"
#include "export/bundle.h"
#include "serving/source.h"
#include "test_util/bundles.h"
#include "test_util/test_env.h"

namespace loom::serving {
namespace {

TEST(StoreSourceTest, CompleteVersionsAreCopiedToTheCacheThenAspired) {
  loom::testing::ScratchDir dir;
  const std::string base = dir.Join("models/mnist");
  testing::WriteTestBundle(base, 1, 1);
  testing::WriteTestBundle(base, 2, 2);
  // Version 3 is being uploaded: model.json is there, the weights not yet.
  ASSERT_TRUE(MakeDirs(JoinPath(base, "3")).ok());
  ASSERT_TRUE(WriteFileAtomic(JoinPath(base, "3/model.json"), *ReadFile(JoinPath(base, "2/model.json"))).ok());

  FileSystemSourceOptions options;
  options.models.push_back({"mnist", "file://" + base, VersionPolicy{VersionPolicy::Kind::kLatest, 1, {}}});
  options.poll_wait_seconds = 0;
  options.cache_dir = dir.Join("cache");
  std::map<std::string, std::vector<AspiredVersion>> seen;
  auto source = FileSystemSource::Create(
      options, [&](const std::string& name, std::vector<AspiredVersion> v) { seen[name] = std::move(v); });
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  ASSERT_TRUE((*source)->PollOnce().ok());
  ASSERT_EQ(seen["mnist"].size(), 1u);
  EXPECT_EQ(seen["mnist"][0].version, 2);
  const std::string copy = JoinPath(dir.Join("cache/file"), base.substr(1) + "/2");
  EXPECT_EQ(seen["mnist"][0].path, copy);
  for (const char* file : {"model.json", "weights.safetensors", "model.onnx"})
    EXPECT_EQ(*ReadFile(JoinPath(copy, file)), *ReadFile(JoinPath(base, std::string("2/") + file))) << file;
  auto bundle = exporter::ReadBundle(copy);
  EXPECT_TRUE(bundle.ok()) << bundle.status().ToString();

  // The upload of version 3 finishes: the next poll copies and aspires it.
  ASSERT_TRUE(WriteFileAtomic(JoinPath(base, "3/weights.safetensors"),
                              *ReadFile(JoinPath(base, "2/weights.safetensors")))
                  .ok());
  ASSERT_TRUE((*source)->PollOnce().ok());
  ASSERT_EQ(seen["mnist"].size(), 1u);
  EXPECT_EQ(seen["mnist"][0].version, 3);
  EXPECT_TRUE(exporter::ReadBundle(seen["mnist"][0].path).ok());
}

TEST(StoreSourceTest, UrlsTheSourceCannotUseAreErrorsNamingTheField) {
  FileSystemSourceOptions options;
  options.models.push_back({"mnist", "s3://bucket/models/mnist", VersionPolicy{}});
  auto no_cache = FileSystemSource::Create(options, [](const std::string&, std::vector<AspiredVersion>) {});
  ASSERT_FALSE(no_cache.ok());
  EXPECT_NE(no_cache.status().message().find("models[0].base_path: \"s3://bucket/models/mnist\": an s3:// model "
                                             "needs a local cache directory"),
            std::string::npos)
      << no_cache.status().ToString();
  options.cache_dir = "/tmp/unused";
  options.models[0].base_path = "s3://";
  auto no_bucket = FileSystemSource::Create(options, [](const std::string&, std::vector<AspiredVersion>) {});
  ASSERT_FALSE(no_bucket.ok());
  EXPECT_EQ(no_bucket.status().message().rfind("models[0].base_path: ", 0), 0u) << no_bucket.status().ToString();
}

}  // namespace
}  // namespace loom::serving
