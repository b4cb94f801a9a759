// The exported model.onnx run by ONNX Runtime (npm onnxruntime-node, tests/export/ort_predict.js)
// on the 10,000 MNIST test images must give Loom's answers: the same class for every image and
// every score within 1e-5. Both model kinds of examples/mnist: the MLP (Gemm, Relu) and the CNN
// (Conv, MaxPool, Flatten after the NHWC/NCHW transposes), each trained a little first so the
// scores are not uniform.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/file.h"
#include "data/mnist.h"
#include "export/bundle.h"
#include "export/onnx.h"
#include "nn/model.h"
#include "test_util/test_env.h"

namespace loom::exporter {
namespace {

// A few hundred plain SGD steps on the first training images.
void TrainALittle(nn::Model& model, const Dataset& train, int steps, int batch, float learning_rate) {
  model.InitParameters(7);
  std::vector<float> images(static_cast<size_t>(batch * train.features));
  for (int step = 0; step < steps; ++step) {
    const int64_t first = (static_cast<int64_t>(step) * batch) % (train.size - batch);
    // The training split may be held as pixels (Dataset::held_as_pixels): copy the batch as floats.
    for (int k = 0; k < batch; ++k) train.CopyImage(first + k, images.data() + k * train.features);
    model.ComputeGradients(images.data(), train.labels.data() + first, batch);
    for (nn::Parameter& p : model.parameters())
      for (int64_t i = 0; i < p.value.size(); ++i) p.value[i] -= learning_rate * p.grad[i];
  }
}

std::string Quote(const std::string& s) { return "'" + s + "'"; }

class OnnxRuntimeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto mnist = LoadMnist(testing::MnistDir());
    ASSERT_TRUE(mnist.ok()) << mnist.status().ToString();
    mnist_ = new Mnist(std::move(*mnist));
  }
  static void TearDownTestSuite() { delete mnist_; }

  // Exports `spec` trained a little as a bundle, runs its model.onnx with ONNX Runtime on the
  // test set and compares with nn::Model::Predict.
  void CheckAgainstOnnxRuntime(const nn::ModelSpec& spec, int steps, float learning_rate) {
    nn::ModelOptions options;
    options.num_threads = 2;
    auto model = nn::Model::Create(spec, options);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    TrainALittle(**model, mnist_->train, steps, 50, learning_rate);
    const Dataset& test = mnist_->test;
    std::vector<float> loom_scores(test.size * nn::kNumClasses);
    (*model)->Predict(test.images.data(), test.size, loom_scores.data());

    ExportOptions export_options;
    export_options.base_path = dir_.Join("models");
    auto version = WriteBundle(export_options, spec, (*model)->ParameterTensors());
    ASSERT_TRUE(version.ok()) << version.status().ToString();
    const std::string onnx = JoinPath(*version, kOnnxFile);
    ASSERT_TRUE(WriteFileAtomic(dir_.Join("images.f32"),
                                std::string_view(reinterpret_cast<const char*>(test.images.data()),
                                                 test.images.size() * sizeof(float)))
                    .ok());
    const char* node_path = std::getenv("LOOM_ONNXRUNTIME_NODE_PATH");
    ASSERT_TRUE(node_path && *node_path) << "LOOM_ONNXRUNTIME_NODE_PATH is not set (CTest sets it)";
    const std::string command = "NODE_PATH=" + Quote(node_path) + " node " +
                                Quote(JoinPath(testing::SourceDir(), "tests/export/ort_predict.js")) + " " +
                                Quote(onnx) + " " + Quote(dir_.Join("images.f32")) + " " +
                                std::to_string(test.size) + " " + std::to_string(test.features) + " " +
                                Quote(dir_.Join("scores.f32")) + " " + Quote(dir_.Join("classes.i64"));
    ASSERT_EQ(std::system(command.c_str()), 0) << command;

    auto scores = ReadFile(dir_.Join("scores.f32"));
    auto classes = ReadFile(dir_.Join("classes.i64"));
    ASSERT_TRUE(scores.ok() && classes.ok());
    ASSERT_EQ(scores->size(), loom_scores.size() * sizeof(float));
    ASSERT_EQ(classes->size(), static_cast<size_t>(test.size) * sizeof(int64_t));
    std::vector<float> ort_scores(loom_scores.size());
    std::vector<int64_t> ort_classes(test.size);
    std::memcpy(ort_scores.data(), scores->data(), scores->size());
    std::memcpy(ort_classes.data(), classes->data(), classes->size());

    int64_t class_mismatches = 0, score_mismatches = 0, correct = 0;
    double max_diff = 0;
    for (int64_t i = 0; i < test.size; ++i) {
      const float* row = loom_scores.data() + i * nn::kNumClasses;
      int64_t loom_class = 0;
      for (int64_t c = 1; c < nn::kNumClasses; ++c)
        if (row[c] > row[loom_class]) loom_class = c;
      class_mismatches += loom_class != ort_classes[i];
      correct += loom_class == test.labels[i];
      for (int64_t c = 0; c < nn::kNumClasses; ++c) {
        const double diff = std::fabs(row[c] - ort_scores[i * nn::kNumClasses + c]);
        max_diff = std::max(max_diff, diff);
        score_mismatches += !(diff <= 1e-5);
      }
    }
    EXPECT_EQ(class_mismatches, 0);
    EXPECT_EQ(score_mismatches, 0) << "largest difference " << max_diff;
    // Trained enough that agreement means something (not one class everywhere).
    EXPECT_GT(correct, test.size * 8 / 10);
    std::cout << spec.name << ": ONNX Runtime agrees on " << test.size << " images; largest score difference "
              << max_diff << "; accuracy " << static_cast<double>(correct) / test.size << "\n";
  }

  testing::ScratchDir dir_;
  static Mnist* mnist_;
};

Mnist* OnnxRuntimeTest::mnist_ = nullptr;

TEST_F(OnnxRuntimeTest, Mlp) {
  auto spec = nn::ModelSpec::FromFile(JoinPath(testing::SourceDir(), "examples/mnist/mlp.yaml"));
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  CheckAgainstOnnxRuntime(*spec, 400, 0.1f);
}

TEST_F(OnnxRuntimeTest, Cnn) {
  auto spec = nn::ModelSpec::FromFile(JoinPath(testing::SourceDir(), "examples/mnist/cnn.yaml"));
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  CheckAgainstOnnxRuntime(*spec, 150, 0.05f);
}


// `loom export --format onnx --bundle` writes the same bytes as the bundle's own model.onnx, and
// a bad --format is one line naming the flag.
TEST(ExportCliTest, FormatOnnxFromABundle) {
  testing::ScratchDir dir;
  nn::ModelSpec spec = nn::ModelSpec::Mlp(100);
  auto model = nn::Model::Create(spec, nn::ModelOptions{});
  ASSERT_TRUE(model.ok());
  (*model)->InitParameters(3);
  ExportOptions options;
  options.base_path = dir.Join("models");
  options.global_step = 42;
  auto version = WriteBundle(options, spec, (*model)->ParameterTensors());
  ASSERT_TRUE(version.ok()) << version.status().ToString();
  const std::string loom = testing::LoomBinary();
  const std::string out = dir.Join("out.onnx");
  ASSERT_EQ(std::system((Quote(loom) + " export --format onnx --bundle " + Quote(options.base_path) +
                         " --output " + Quote(out) + " > " + Quote(dir.Join("stdout"))).c_str()),
            0);
  auto written = ReadFile(out);
  auto bundled = ReadFile(JoinPath(*version, kOnnxFile));
  ASSERT_TRUE(written.ok() && bundled.ok());
  EXPECT_TRUE(*written == *bundled);
  EXPECT_NE(ReadFile(dir.Join("stdout"))->find("global step 42"), std::string::npos);

  const std::string bad = Quote(loom) + " export --format tflite --bundle " + Quote(options.base_path) +
                          " --output " + Quote(out) + " 2> " + Quote(dir.Join("stderr"));
  EXPECT_NE(std::system(bad.c_str()), 0);
  auto err = ReadFile(dir.Join("stderr"));
  ASSERT_TRUE(err.ok());
  EXPECT_NE(err->find("--format: want bundle or onnx, got \"tflite\""), std::string::npos) << *err;
}

}  // namespace
}  // namespace loom::exporter
