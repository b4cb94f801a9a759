#include "nn/model_spec.h"

#include <gtest/gtest.h>

#include "test_util/test_env.h"

namespace loom::nn {
namespace {

Json Yaml(const std::string& text) {
  auto j = ParseYaml(text, "test");
  EXPECT_TRUE(j.ok()) << j.status().ToString();
  return *j;
}

std::string ErrorOf(const std::string& yaml) {
  auto spec = ModelSpec::FromJson(Yaml(yaml), "examples/x.yaml");
  EXPECT_FALSE(spec.ok()) << yaml;
  return spec.ok() ? "" : spec.status().message();
}

TEST(ModelSpecTest, MlpYamlIsTheSeedModel) {
  auto spec = ModelSpec::FromFile(testing::SourceDir() + "/examples/mnist/mlp.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(*spec, ModelSpec::Mlp(100));
  auto shapes = spec->InferShapes();
  ASSERT_TRUE(shapes.ok());
  EXPECT_EQ(*shapes, (std::vector<std::vector<int64_t>>{{100}, {100}, {10}}));
}

TEST(ModelSpecTest, CnnYamlParses) {
  auto spec = ModelSpec::FromFile(testing::SourceDir() + "/examples/mnist/cnn.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  auto shapes = spec->InferShapes();
  ASSERT_TRUE(shapes.ok());
  EXPECT_EQ(shapes->at(0), (std::vector<int64_t>{28, 28, 16}));
  EXPECT_EQ(shapes->at(2), (std::vector<int64_t>{14, 14, 16}));
  EXPECT_EQ(shapes->at(5), (std::vector<int64_t>{7, 7, 32}));
  EXPECT_EQ(shapes->at(6), (std::vector<int64_t>{1568}));
  EXPECT_EQ(spec->layers[0].name, "conv2d_0");
  EXPECT_EQ(spec->layers[3].name, "conv2d_1");
  EXPECT_EQ(spec->layers[8].name, "relu_2");
  EXPECT_EQ(spec->layers[9].name, "dense_1");
  EXPECT_EQ(spec->layers[0].padding, Padding::kSame);
  EXPECT_EQ(spec->layers[2].strides, (std::array<int64_t, 2>{2, 2}));  // pool default stride
}

TEST(ModelSpecTest, ToJsonRoundTrips) {
  for (const char* file : {"/examples/mnist/mlp.yaml", "/examples/mnist/cnn.yaml"}) {
    auto spec = ModelSpec::FromFile(testing::SourceDir() + file);
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    auto again = ModelSpec::FromJson(spec->ToJson(), "json");
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(*again, *spec);
    // Through text too.
    auto reparsed = ParseJson(spec->ToJson().dump(), "text");
    ASSERT_TRUE(reparsed.ok());
    EXPECT_EQ(*ModelSpec::FromJson(*reparsed, "text"), *spec);
  }
  ModelSpec custom = ModelSpec::Mlp(7);
  custom.layers[0].init_stddev = 0.25;
  custom.layers[0].name = "hidden";
  EXPECT_EQ(*ModelSpec::FromJson(custom.ToJson(), "custom"), custom);
}

TEST(ModelSpecTest, DefaultsAndForms) {
  auto spec = ModelSpec::FromJson(Yaml(R"(
input_shape: [9, 8, 3]
layers:
  - {type: conv2d, filters: 4, kernel_size: [3, 2], strides: [2, 1], padding: VALID, init_stddev: 0.5}
  - {type: max_pool, pool_size: [2, 3], strides: 1, padding: same}
  - {type: flatten, name: flat}
  - {type: dense, units: 10}
)"), "t");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->layers[0].kernel_size, (std::array<int64_t, 2>{3, 2}));
  EXPECT_EQ(spec->layers[0].strides, (std::array<int64_t, 2>{2, 1}));
  EXPECT_EQ(spec->layers[0].padding, Padding::kValid);
  EXPECT_EQ(spec->layers[0].init_stddev, 0.5);
  EXPECT_EQ(spec->layers[1].padding, Padding::kSame);
  EXPECT_EQ(spec->layers[2].name, "flat");
  EXPECT_EQ(spec->layers[3].name, "dense_0");
  auto shapes = spec->InferShapes();
  ASSERT_TRUE(shapes.ok());
  EXPECT_EQ(shapes->at(0), (std::vector<int64_t>{4, 7, 4}));  // (9-3)/2+1, (8-2)/1+1
  EXPECT_EQ(shapes->at(1), (std::vector<int64_t>{4, 7, 4}));
  EXPECT_EQ(shapes->at(2), (std::vector<int64_t>{112}));
}

TEST(ModelSpecTest, ErrorsNameTheField) {
  EXPECT_EQ(ErrorOf("input_shape: [784]\nlayers:\n  - {type: dense, units: 100}\n  - {type: relu}\n  - {type: dens, units: 10}\n"),
            "examples/x.yaml: layers[2].type: unknown layer type \"dens\" (want dense, relu, conv2d, max_pool or flatten)");
  EXPECT_EQ(ErrorOf("input_shape: [784]\nlayers:\n  - {type: relu}\n  - {type: dense, units: -3}\n"),
            "examples/x.yaml: layers[1].units: must be a positive integer, got -3");
  EXPECT_EQ(ErrorOf("input_shape: [784]\nlayers:\n  - {type: relu}\n  - {type: dense, units: ten}\n"),
            "examples/x.yaml: layers[1].units: must be a positive integer, got \"ten\"");
  EXPECT_EQ(ErrorOf("input_shape: [784]\nlayers:\n  - {type: dense, units: 10, activation: relu}\n"),
            "examples/x.yaml: layers[0].activation: unknown key for a dense layer");
  EXPECT_EQ(ErrorOf("input_shape: [784]\nlayers:\n  - {type: dense, units: 100}\n  - {type: relu}\n  - {type: flatten}\n"
                    "  - {type: conv2d, filters: 4, kernel_size: 3}\n  - {type: dense, units: 10}\n"),
            "examples/x.yaml: layers[3]: conv2d needs a rank-3 input, got [100]");
  EXPECT_EQ(ErrorOf("input_shape: [28, 28, 1]\nlayers:\n  - {type: dense, units: 10}\n"),
            "examples/x.yaml: layers[0]: dense needs a rank-1 input, got [28,28,1] (add a flatten layer)");
  EXPECT_EQ(ErrorOf("input_shape: [784]\nlayers:\n  - {type: dense, units: 100}\n"),
            "examples/x.yaml: layers[0]: the last layer must produce 10 logits, got [100]");
  EXPECT_EQ(ErrorOf("input_shape: [784]\nlayers:\n  - {units: 10}\n"),
            "examples/x.yaml: layers[0].type: is required");
  EXPECT_EQ(ErrorOf("input_shape: [784]\nlayers:\n  - {type: dense}\n"),
            "examples/x.yaml: layers[0].units: is required for a dense layer");
  EXPECT_EQ(ErrorOf("layers:\n  - {type: dense, units: 10}\n"), "examples/x.yaml: input_shape: is required");
  EXPECT_EQ(ErrorOf("input_shape: [784, 0]\nlayers:\n  - {type: dense, units: 10}\n"),
            "examples/x.yaml: input_shape[1]: must be a positive integer, got 0");
  EXPECT_EQ(ErrorOf("input_shape: [784]\nlayers: []\n"),
            "examples/x.yaml: layers: must be a non-empty list of layers, got []");
  EXPECT_EQ(ErrorOf("input_shape: [784]\nlayer: []\n"),
            "examples/x.yaml: layer: unknown key (want name, input_shape, layers)");
  EXPECT_EQ(ErrorOf("input_shape: [784]\nlayers:\n  - {type: dense, units: 10, name: a}\n  - {type: relu, name: a}\n"),
            "examples/x.yaml: layers[1].name: duplicate layer name \"a\"");
  EXPECT_EQ(ErrorOf("input_shape: [4, 4, 1]\nlayers:\n  - {type: conv2d, filters: 2, kernel_size: 5, padding: valid}\n"
                    "  - {type: flatten}\n  - {type: dense, units: 10}\n"),
            "examples/x.yaml: layers[0].kernel_size: 5x5 does not fit the input [4,4,1] with valid padding");
  EXPECT_EQ(ErrorOf("input_shape: [4, 4, 1]\nlayers:\n  - {type: max_pool, pool_size: 2, padding: full}\n"),
            "examples/x.yaml: layers[0].padding: must be \"same\" or \"valid\", got \"full\"");
  EXPECT_EQ(ErrorOf("input_shape: [4, 4, 1]\nlayers:\n  - {type: conv2d, filters: 2, kernel_size: [3, 3, 3]}\n"),
            "examples/x.yaml: layers[0].kernel_size: must be an integer or a list of 2, got [3,3,3]");
  EXPECT_EQ(ErrorOf("input_shape: [784]\nlayers:\n  - {type: dense, units: 10, init_stddev: 0}\n"),
            "examples/x.yaml: layers[0].init_stddev: must be a positive number, got 0");
}

TEST(ModelSpecTest, FromFileNamesTheFile) {
  testing::ScratchDir dir;
  const std::string path = dir.Join("bad.yaml");
  ASSERT_TRUE(WriteFileAtomic(path, "input_shape: [784]\nlayers:\n  - {type: dense, units: 0}\n").ok());
  auto spec = ModelSpec::FromFile(path);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().message(), path + ": layers[0].units: must be a positive integer, got 0");
  const std::string json_path = dir.Join("m.json");
  ASSERT_TRUE(WriteFileAtomic(json_path, ModelSpec::Mlp(32).ToJson().dump(2)).ok());
  auto from_json = ModelSpec::FromFile(json_path);
  ASSERT_TRUE(from_json.ok()) << from_json.status().ToString();
  EXPECT_EQ(*from_json, ModelSpec::Mlp(32));
  EXPECT_FALSE(ModelSpec::FromFile(dir.Join("missing.yaml")).ok());
}

TEST(ModelSpecTest, ValidateCatchesCodeBuiltSpecs) {
  ModelSpec spec = ModelSpec::Mlp(100);
  spec.layers[2].units = 11;
  Status s = spec.Validate("code");
  EXPECT_EQ(s.message(), "code: layers[2]: the last layer must produce 10 logits, got [11]");
}

}  // namespace
}  // namespace loom::nn
