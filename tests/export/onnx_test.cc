// The ONNX graph's structure, read back with our onnx.proto subset. That ONNX Runtime computes
// Loom's answers from it is onnx_runtime_test.cc's job.
#include "export/onnx.h"

#include <gtest/gtest.h>

#include "core/file.h"
#include "nn/model.h"
#include "onnx/onnx.pb.h"
#include "test_util/test_env.h"

namespace loom::exporter {
namespace {

std::vector<nn::NamedTensor> Weights(const nn::ModelSpec& spec) {
  auto model = nn::Model::Create(spec, nn::ModelOptions{});
  EXPECT_TRUE(model.ok());
  (*model)->InitParameters(1);
  return (*model)->ParameterTensors();
}

onnx::ModelProto Encode(const nn::ModelSpec& spec) {
  auto bytes = EncodeOnnx(spec, Weights(spec), OnnxOptions{});
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  onnx::ModelProto m;
  EXPECT_TRUE(bytes.ok() && m.ParseFromString(*bytes));
  return m;
}

std::vector<std::string> OpTypes(const onnx::GraphProto& g) {
  std::vector<std::string> ops;
  for (const auto& n : g.node()) ops.push_back(n.op_type());
  return ops;
}

std::string Dims(const onnx::ValueInfoProto& v) {
  std::string s;
  for (const auto& d : v.type().tensor_type().shape().dim())
    s += (s.empty() ? "" : ",") + (d.has_dim_param() ? d.dim_param() : std::to_string(d.dim_value()));
  return v.name() + ":" + std::to_string(v.type().tensor_type().elem_type()) + "[" + s + "]";
}

const onnx::AttributeProto* Attribute(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

TEST(OnnxTest, MlpIsGemmReluGemmWithTheSignature) {
  onnx::ModelProto m = Encode(nn::ModelSpec::Mlp(100));
  EXPECT_EQ(m.ir_version(), 7);
  ASSERT_EQ(m.opset_import_size(), 1);
  EXPECT_EQ(m.opset_import(0).version(), kOnnxOpset);
  const auto& g = m.graph();
  EXPECT_EQ(OpTypes(g), (std::vector<std::string>{"Gemm", "Relu", "Gemm", "Softmax", "ArgMax"}));
  ASSERT_EQ(g.input_size(), 1);
  EXPECT_EQ(Dims(g.input(0)), "images:1[N,784]");
  ASSERT_EQ(g.output_size(), 2);
  EXPECT_EQ(Dims(g.output(0)), "scores:1[N,10]");
  EXPECT_EQ(Dims(g.output(1)), "classes:7[N]");
  ASSERT_EQ(g.initializer_size(), 4);
  EXPECT_EQ(g.initializer(0).name(), "dense_0/kernel");
  EXPECT_EQ(g.initializer(0).dims_size(), 2);
  EXPECT_EQ(g.initializer(0).raw_data().size(), 784u * 100 * 4);
}

TEST(OnnxTest, CnnTransposesToNchwAndBackAndPadsAsTensorFlow) {
  auto spec = nn::ModelSpec::FromFile(JoinPath(testing::SourceDir(), "examples/mnist/cnn.yaml"));
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  onnx::ModelProto m = Encode(*spec);
  const auto& g = m.graph();
  EXPECT_EQ(OpTypes(g), (std::vector<std::string>{"Reshape", "Transpose", "Conv", "Relu", "MaxPool", "Conv", "Relu",
                                                  "MaxPool", "Transpose", "Flatten", "Gemm", "Relu", "Gemm",
                                                  "Softmax", "ArgMax"}));
  const onnx::NodeProto& conv = g.node(2);
  const auto* pads = Attribute(conv, "pads");
  ASSERT_NE(pads, nullptr);
  EXPECT_EQ(std::vector<int64_t>(pads->ints().begin(), pads->ints().end()), (std::vector<int64_t>{2, 2, 2, 2}));
  // The conv kernel is OIHW: [16, 1, 5, 5].
  for (const auto& t : g.initializer()) {
    if (t.name() != "conv2d_0/kernel") continue;
    EXPECT_EQ(std::vector<int64_t>(t.dims().begin(), t.dims().end()), (std::vector<int64_t>{16, 1, 5, 5}));
  }
  const auto* perm = Attribute(g.node(8), "perm");
  ASSERT_NE(perm, nullptr);
  EXPECT_EQ(std::vector<int64_t>(perm->ints().begin(), perm->ints().end()), (std::vector<int64_t>{0, 2, 3, 1}));
}

TEST(OnnxTest, WeightsThatDoNotFitTheSpecAreRefusedByName) {
  nn::ModelSpec spec = nn::ModelSpec::Mlp(100);
  auto bytes = EncodeOnnx(spec, Weights(nn::ModelSpec::Mlp(50)), OnnxOptions{});
  ASSERT_FALSE(bytes.ok());
  EXPECT_NE(bytes.status().message().find("dense_0/kernel"), std::string::npos) << bytes.status().ToString();
  testing::ScratchDir dir;
  Status s = WriteOnnx(dir.Join("m.onnx"), spec, Weights(nn::ModelSpec::Mlp(50)), OnnxOptions{});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(dir.Join("m.onnx")), std::string::npos) << s.ToString();
  EXPECT_FALSE(PathExists(dir.Join("m.onnx")));
}

}  // namespace
}  // namespace loom::exporter
