#include "export/bundle.h"

#include <gtest/gtest.h>

#include "core/file.h"
#include "nn/model.h"
#include "test_util/test_env.h"

namespace loom::exporter {
namespace {

std::vector<nn::NamedTensor> Weights(const nn::ModelSpec& spec, uint64_t seed) {
  auto model = nn::Model::Create(spec, nn::ModelOptions{});
  EXPECT_TRUE(model.ok());
  (*model)->InitParameters(seed);
  return (*model)->ParameterTensors();
}

TEST(BundleTest, VersionsAreNumberedAndComplete) {
  testing::ScratchDir dir;
  const std::string base = dir.Join("models/mnist");
  nn::ModelSpec spec = nn::ModelSpec::Mlp(100);
  ExportOptions options;
  options.base_path = base;
  options.global_step = 550;
  auto v1 = WriteBundle(options, spec, Weights(spec, 1));
  ASSERT_TRUE(v1.ok()) << v1.status().ToString();
  EXPECT_EQ(*v1, JoinPath(base, "1"));
  auto v2 = WriteBundle(options, spec, Weights(spec, 2));
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(*v2, JoinPath(base, "2"));
  options.version = 7;
  ASSERT_TRUE(WriteBundle(options, spec, Weights(spec, 3)).ok());
  auto versions = ListVersions(base);
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(*versions, (std::vector<int64_t>{1, 2, 7}));
  auto names = ListDir(base);
  EXPECT_EQ(*names, (std::vector<std::string>{"1", "2", "7"}));  // no temporary directory left
  EXPECT_EQ(*ListDir(JoinPath(base, "1")), (std::vector<std::string>{"model.json", "model.onnx", "weights.safetensors"}));

  // An existing version is never overwritten.
  auto again = WriteBundle(options, spec, Weights(spec, 4));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);

  // The base path reads as its largest version; a version directory as itself.
  auto latest = ReadBundle(base);
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  EXPECT_EQ(latest->version, 7);
  auto first = ReadBundle(JoinPath(base, "1"));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->version, 1);
  EXPECT_EQ(first->spec.ToJson(), spec.ToJson());
  EXPECT_EQ(first->model_json["global_step"], 550);
  EXPECT_EQ(first->model_json["signature"]["inputs"]["images"]["shape"], Json({-1, 784}));
  EXPECT_EQ(first->model_json["signature"]["outputs"]["scores"]["shape"], Json({-1, 10}));
  auto expected = Weights(spec, 1);
  ASSERT_EQ(first->weights.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(first->weights[i].name, expected[i].name);
    ASSERT_EQ(first->weights[i].tensor.size(), expected[i].tensor.size());
    for (int64_t j = 0; j < expected[i].tensor.size(); ++j)
      ASSERT_EQ(first->weights[i].tensor.data()[j], expected[i].tensor.data()[j]);
  }
}

TEST(BundleTest, ReadErrorsNameTheFile) {
  testing::ScratchDir dir;
  auto empty = ReadBundle(dir.path());
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find(dir.path()), std::string::npos);

  const std::string version = dir.Join("3");
  ASSERT_TRUE(MakeDirs(version).ok());
  ASSERT_TRUE(WriteFileAtomic(JoinPath(version, "model.json"), "{\"format\": \"something else\"}").ok());
  auto wrong = ReadBundle(dir.path());
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find(JoinPath(version, "model.json") + ": format"), std::string::npos)
      << wrong.status().message();
}

}  // namespace
}  // namespace loom::exporter
