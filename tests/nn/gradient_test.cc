// Finite-difference checks of every layer's backward pass: the analytic gradient of the mean
// cross-entropy w.r.t. every parameter coordinate against central differences of the loss,
// on small models built to route the gradient through each layer type (and its input gradient).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "nn/model.h"

namespace loom::nn {
namespace {

ModelSpec Spec(const std::string& yaml) {
  auto json = ParseYaml(yaml, "test");
  EXPECT_TRUE(json.ok());
  auto spec = ModelSpec::FromJson(*json, "test");
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  return *spec;
}

struct CheckStats {
  int checked = 0;
  int kinks = 0;  // coordinates where the loss is not smooth within +-h (ReLU/max-pool switch)
};

// Checks every parameter coordinate of `spec` on n random examples.
CheckStats CheckGradients(const ModelSpec& spec, int n, uint64_t seed) {
  ModelOptions options;
  options.max_batch = n;
  auto model_or = Model::Create(spec, options);
  EXPECT_TRUE(model_or.ok()) << model_or.status().ToString();
  Model& model = **model_or;
  model.InitParameters(seed);
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  // Non-zero biases, so that every bias gradient path is exercised with real values.
  for (Parameter& p : model.parameters())
    if (p.value.rank() == 1)
      for (int64_t i = 0; i < p.value.size(); ++i) p.value[i] = 0.1f * uniform(rng);
  std::vector<float> images(n * model.input_size());
  for (float& x : images) x = uniform(rng);
  std::vector<int32_t> labels(n);
  for (int i = 0; i < n; ++i) labels[i] = static_cast<int32_t>(rng() % 10);

  const float loss = model.ComputeGradients(images.data(), labels.data(), n);
  const double loss_eval = model.Evaluate(images.data(), labels.data(), n).cross_entropy;
  EXPECT_NEAR(loss, loss_eval, 1e-5);
  std::vector<Tensor> analytic;
  for (const Parameter& p : model.parameters()) analytic.push_back(p.grad);

  CheckStats stats;
  auto loss_at = [&]() { return model.Evaluate(images.data(), labels.data(), n).cross_entropy; };
  // Central difference with step h (the step actually taken in float).
  auto central = [&](float* x, float h) {
    const float saved = *x;
    *x = saved + h;
    const double plus = loss_at();
    const double step_up = static_cast<double>(*x) - saved;
    *x = saved - h;
    const double minus = loss_at();
    const double step_down = saved - static_cast<double>(*x);
    *x = saved;
    return (plus - minus) / (step_up + step_down);
  };
  for (size_t p = 0; p < model.parameters().size(); ++p) {
    Parameter& param = model.parameters()[p];
    for (int64_t i = 0; i < param.value.size(); ++i) {
      const double numeric = central(&param.value[i], 1e-3f);
      // Where a ReLU or a max-pool switches within the step, the loss has a kink and no
      // difference quotient means anything: two step sizes disagree there. Skip (and count).
      const double wider = central(&param.value[i], 2e-3f);
      const double a = analytic[p][i];
      const double tol = 1e-2 * std::max(std::fabs(a), std::fabs(numeric)) + 5e-4;
      if (std::fabs(numeric - wider) > tol) {
        ++stats.kinks;
        continue;
      }
      EXPECT_NEAR(a, numeric, tol) << param.name << "[" << i << "] (" << wider << " with a wider step)";
      ++stats.checked;
    }
  }
  return stats;
}

void ExpectMostlySmooth(const CheckStats& s) {
  std::printf("checked %d coordinates, skipped %d at kinks\n", s.checked, s.kinks);
  EXPECT_GT(s.checked, 0);
  EXPECT_LE(s.kinks * 20, s.checked + s.kinks) << s.kinks << " kinks of " << s.checked + s.kinks;
}

TEST(GradientTest, DenseReluSoftmaxCrossEntropy) {
  ExpectMostlySmooth(CheckGradients(Spec(R"(
input_shape: [6]
layers:
  - {type: dense, units: 5, init_stddev: 0.8}
  - {type: relu}
  - {type: dense, units: 7, init_stddev: 0.8}
  - {type: relu}
  - {type: dense, units: 10, init_stddev: 0.8}
)"), 4, 1));
}

TEST(GradientTest, ConvSameAndValidStridedMaxPoolFlatten) {
  // conv same stride 1 -> relu -> conv valid stride 2 (its input gradient feeds the first conv)
  // -> max_pool valid -> flatten -> dense.
  ExpectMostlySmooth(CheckGradients(Spec(R"(
input_shape: [7, 6, 2]
layers:
  - {type: conv2d, filters: 3, kernel_size: 3, padding: same, init_stddev: 0.5}
  - {type: relu}
  - {type: conv2d, filters: 4, kernel_size: [3, 2], strides: 2, padding: valid, init_stddev: 0.5}
  - {type: max_pool, pool_size: 2}
  - {type: flatten}
  - {type: dense, units: 10, init_stddev: 0.5}
)"), 3, 2));
}

TEST(GradientTest, ConvSameStridedOverlappingMaxPoolSame) {
  // Same padding with stride 2 pads asymmetrically (TF: the extra row/column goes after);
  // an overlapping 3x3 stride-1 "same" pool sends several outputs to one input.
  ExpectMostlySmooth(CheckGradients(Spec(R"(
input_shape: [6, 5, 1]
layers:
  - {type: conv2d, filters: 2, kernel_size: 2, strides: 2, padding: same, init_stddev: 0.7}
  - {type: max_pool, pool_size: 3, strides: 1, padding: same}
  - {type: conv2d, filters: 3, kernel_size: 3, padding: same, init_stddev: 0.7}
  - {type: relu}
  - {type: flatten}
  - {type: dense, units: 10, init_stddev: 0.5}
)"), 3, 3));
}

TEST(GradientTest, FlattenFirstThenDense) {
  ExpectMostlySmooth(CheckGradients(Spec(R"(
input_shape: [3, 3, 2]
layers:
  - {type: flatten}
  - {type: dense, units: 10, init_stddev: 0.5}
)"), 5, 4));
}

TEST(GradientTest, SoftmaxCrossEntropyValue) {
  // All-zero parameters give equal logits: the loss is ln(10) for every example.
  auto model = Model::Create(ModelSpec::Mlp(4), ModelOptions{});
  ASSERT_TRUE(model.ok());
  for (Parameter& p : (*model)->parameters()) p.value.Fill(0.0f);
  std::vector<float> images(2 * 784, 0.5f);
  std::vector<int32_t> labels = {3, 9};
  EXPECT_NEAR((*model)->ComputeGradients(images.data(), labels.data(), 2), std::log(10.0), 1e-6);
  // d loss / d bias_1 = mean(softmax - onehot) = 0.1 - 0.5 for labels 3 and 9, 0.1 elsewhere.
  const Tensor& db = (*model)->parameters()[3].grad;
  for (int c = 0; c < 10; ++c) EXPECT_NEAR(db[c], (c == 3 || c == 9) ? 0.1 - 0.5 : 0.1, 1e-6) << c;
}

}  // namespace
}  // namespace loom::nn
