#include "nn/model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/file.h"
#include "nn/optimizer.h"
#include "test_mnist.h"
#include "test_util/test_env.h"

namespace loom::nn {
namespace {

std::unique_ptr<Model> MakeModel(const ModelSpec& spec, int threads = 1, int64_t max_batch = 100) {
  ModelOptions o;
  o.num_threads = threads;
  o.max_batch = max_batch;
  auto m = Model::Create(spec, o);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return std::move(m).value();
}

ModelSpec Cnn() {
  auto spec = ModelSpec::FromFile(testing::SourceDir() + "/examples/mnist/cnn.yaml");
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  return *spec;
}

struct Batch {
  std::vector<float> images;
  std::vector<int32_t> labels;
};

Batch RandomBatch(int64_t n, int64_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  Batch b;
  b.images.resize(n * size);
  for (float& x : b.images) x = u(rng);
  for (int64_t i = 0; i < n; ++i) b.labels.push_back(static_cast<int32_t>(rng() % 10));
  return b;
}

TEST(ModelTest, ParametersAreNamedAndShapedAsTf) {
  auto mlp = MakeModel(ModelSpec::Mlp(100));
  const auto& p = mlp->parameters();
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[0].name, "dense_0/kernel");
  EXPECT_EQ(p[0].value.shape(), (std::vector<int64_t>{784, 100}));
  EXPECT_EQ(p[1].name, "dense_0/bias");
  EXPECT_EQ(p[1].value.shape(), (std::vector<int64_t>{100}));
  EXPECT_EQ(p[2].name, "dense_1/kernel");
  EXPECT_EQ(p[2].value.shape(), (std::vector<int64_t>{100, 10}));
  EXPECT_EQ(p[3].name, "dense_1/bias");
  auto cnn = MakeModel(Cnn());
  EXPECT_EQ(cnn->parameters()[0].name, "conv2d_0/kernel");
  EXPECT_EQ(cnn->parameters()[0].value.shape(), (std::vector<int64_t>{5, 5, 1, 16}));  // HWIO
  EXPECT_EQ(cnn->parameters()[2].value.shape(), (std::vector<int64_t>{5, 5, 16, 32}));
  EXPECT_EQ(cnn->parameters()[4].value.shape(), (std::vector<int64_t>{1568, 128}));
  EXPECT_EQ(cnn->input_size(), 784);
}

TEST(ModelTest, InitIsDeterministicAndTruncated) {
  auto a = MakeModel(ModelSpec::Mlp(100));
  auto b = MakeModel(ModelSpec::Mlp(100));
  a->InitParameters(7);
  b->InitParameters(7);
  for (size_t i = 0; i < a->parameters().size(); ++i)
    EXPECT_EQ(a->parameters()[i].value, b->parameters()[i].value);
  b->InitParameters(8);
  EXPECT_FALSE(a->parameters()[0].value == b->parameters()[0].value);
  // mnist_replica.py's stddevs: 1/28 and 1/sqrt(100); nothing beyond 2 stddev; biases zero.
  const double stddevs[] = {1.0 / 28, 0.1};
  for (int k = 0; k < 2; ++k) {
    const Tensor& w = a->parameters()[2 * k].value;
    double sum = 0, sum_sq = 0, max_abs = 0;
    for (int64_t i = 0; i < w.size(); ++i) {
      sum += w[i];
      sum_sq += w[i] * w[i];
      max_abs = std::max(max_abs, std::fabs(static_cast<double>(w[i])));
    }
    EXPECT_LE(max_abs, 2 * stddevs[k] * (1 + 1e-6));
    EXPECT_GT(max_abs, 1.9 * stddevs[k]);
    const double sd = std::sqrt(sum_sq / w.size() - (sum / w.size()) * (sum / w.size()));
    // A normal truncated at 2 sigma has standard deviation 0.8796 sigma.
    EXPECT_NEAR(sd / stddevs[k], 0.8796, k == 0 ? 0.01 : 0.06);
    EXPECT_NEAR(sum / w.size() / stddevs[k], 0.0, k == 0 ? 0.01 : 0.1);
    for (int64_t i = 0; i < a->parameters()[2 * k + 1].value.size(); ++i)
      EXPECT_EQ(a->parameters()[2 * k + 1].value[i], 0.0f);
  }
  // The same bits on every machine: pinned values of the sampler for seed 7.
  const Tensor& w = a->parameters()[0].value;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g %.9g %.9g", w[0], w[1], w[78399]);
  EXPECT_STREQ(buf, "0.0254653506 0.057519868 -0.00280338572");
}

void ExpectGradsNear(Model& a, Model& b, double tol) {
  for (size_t p = 0; p < a.parameters().size(); ++p) {
    const Tensor& x = a.parameters()[p].grad;
    const Tensor& y = b.parameters()[p].grad;
    ASSERT_EQ(x.shape(), y.shape());
    double max_diff = 0, max_abs = 0;
    for (int64_t i = 0; i < x.size(); ++i) {
      max_diff = std::max(max_diff, std::fabs(static_cast<double>(x[i]) - y[i]));
      max_abs = std::max(max_abs, std::fabs(static_cast<double>(x[i])));
    }
    EXPECT_LE(max_diff, tol * max_abs + 1e-7) << a.parameters()[p].name;
    EXPECT_GT(max_abs, 0) << a.parameters()[p].name;
  }
}

TEST(ModelTest, TwoThreadGradientsEqualOneThread) {
  for (const ModelSpec& spec : {ModelSpec::Mlp(100), Cnn()}) {
    auto one = MakeModel(spec, 1);
    auto two = MakeModel(spec, 2);
    one->InitParameters(3);
    two->InitParameters(3);
    for (int64_t n : {100, 37, 1}) {
      Batch b = RandomBatch(n, 784, static_cast<uint32_t>(n));
      const float l1 = one->ComputeGradients(b.images.data(), b.labels.data(), n);
      const float l2 = two->ComputeGradients(b.images.data(), b.labels.data(), n);
      EXPECT_NEAR(l1, l2, 1e-5) << spec.name << " n=" << n;
      ExpectGradsNear(*one, *two, 1e-4);
    }
  }
}

TEST(ModelTest, BatchesBiggerThanMaxBatchWork) {
  auto small = MakeModel(ModelSpec::Mlp(20), 2, 10);
  auto big = MakeModel(ModelSpec::Mlp(20), 1, 300);
  small->InitParameters(1);
  big->InitParameters(1);
  Batch b = RandomBatch(250, 784, 5);
  EXPECT_NEAR(small->ComputeGradients(b.images.data(), b.labels.data(), 250),
              big->ComputeGradients(b.images.data(), b.labels.data(), 250), 1e-5);
  ExpectGradsNear(*small, *big, 1e-4);
}

TEST(ModelTest, PredictAndEvaluateAgreeAcrossChunks) {
  auto chunked = MakeModel(ModelSpec::Mlp(30), 2, 64);
  auto whole = MakeModel(ModelSpec::Mlp(30), 1, 1000);
  chunked->InitParameters(9);
  whole->InitParameters(9);
  const int64_t n = 250;
  Batch b = RandomBatch(n, 784, 11);
  std::vector<float> p1(n * 10), p2(n * 10);
  chunked->Predict(b.images.data(), n, p1.data());
  whole->Predict(b.images.data(), n, p2.data());
  int64_t correct = 0;
  double loss = 0;
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0;
    int best = 0;
    for (int c = 0; c < 10; ++c) {
      EXPECT_NEAR(p1[i * 10 + c], p2[i * 10 + c], 1e-6);
      sum += p1[i * 10 + c];
      if (p1[i * 10 + c] > p1[i * 10 + best]) best = c;
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
    correct += best == b.labels[i];
    loss -= std::log(p1[i * 10 + b.labels[i]]);
  }
  EvalResult r1 = chunked->Evaluate(b.images.data(), b.labels.data(), n);
  EvalResult r2 = whole->Evaluate(b.images.data(), b.labels.data(), n);
  EXPECT_EQ(r1.count, n);
  EXPECT_NEAR(r1.cross_entropy, r2.cross_entropy, 1e-6);
  EXPECT_NEAR(r1.cross_entropy, loss / n, 1e-5);
  EXPECT_EQ(r1.accuracy, r2.accuracy);
  EXPECT_NEAR(r1.accuracy, static_cast<double>(correct) / n, 1e-12);
}

TEST(ModelTest, LoadParametersChecksTheArchitecture) {
  auto model = MakeModel(ModelSpec::Mlp(100));
  auto wider = MakeModel(ModelSpec::Mlp(200));
  wider->InitParameters(1);
  Status s = model->LoadParameters(wider->ParameterTensors(), "/d/model.ckpt-550.safetensors");
  EXPECT_EQ(s.message(), "/d/model.ckpt-550.safetensors: dense_0/kernel has shape [784,200], the model expects [784,100]");

  auto cnn = MakeModel(Cnn());
  s = model->LoadParameters(cnn->ParameterTensors(), "c.safetensors");
  EXPECT_EQ(s.message(), "c.safetensors: dense_0/kernel has shape [1568,128], the model expects [784,100]");

  auto same = MakeModel(ModelSpec::Mlp(100));
  same->InitParameters(5);
  std::vector<NamedTensor> tensors = same->ParameterTensors();
  tensors.push_back({"extra", Tensor({1})});
  EXPECT_EQ(model->LoadParameters(tensors, "e").message(),
            "e: tensor extra is not a parameter of the model mnist_mlp (it has dense_0/kernel, dense_0/bias, "
            "dense_1/kernel, dense_1/bias)");
  tensors.pop_back();
  std::vector<NamedTensor> missing(tensors.begin(), tensors.end() - 1);
  EXPECT_EQ(model->LoadParameters(missing, "m").message(),
            "m: has no tensor dense_1/bias, which the model mnist_mlp needs (it has dense_0/kernel, "
            "dense_0/bias, dense_1/kernel, dense_1/bias)");
  ASSERT_TRUE(model->LoadParameters(tensors, "ok").ok());
  for (size_t i = 0; i < tensors.size(); ++i) EXPECT_EQ(model->parameters()[i].value, tensors[i].tensor);
}

TEST(ModelTest, CreateRejectsBadSpecsAndOptions) {
  ModelSpec spec = ModelSpec::Mlp(100);
  spec.layers[2].units = 3;
  EXPECT_EQ(Model::Create(spec, ModelOptions{}).status().message(),
            "model mnist_mlp: layers[2]: the last layer must produce 10 logits, got [3]");
  ModelOptions o;
  o.num_threads = 0;
  EXPECT_FALSE(Model::Create(ModelSpec::Mlp(100), o).ok());
}

// A dense layer's input that is mostly zeros (as MNIST's pixels are) takes the sparse kernels:
// the gradients and the loss must be those of the plain formulas, computed here naively. The
// widths exercise every block shape of those kernels (130 units: 128 + 2; 300 inputs: 18 full
// vectors + 12), and some rows have no nonzero at all.
TEST(ModelTest, SparseInputsGiveThePlainGradients) {
  auto json = ParseYaml(R"(
input_shape: [300]
layers:
  - {type: dense, units: 130}
  - {type: relu}
  - {type: dense, units: 10}
)", "test");
  ASSERT_TRUE(json.ok());
  auto spec = ModelSpec::FromJson(*json, "test");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  const int64_t n = 37, in = 300, hidden = 130, classes = 10;
  for (int threads : {1, 2}) {
    auto model = MakeModel(*spec, threads, n);
    model->InitParameters(5);
    std::mt19937 rng(9);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    std::vector<Parameter>& params = model->parameters();
    for (int64_t k = 0; k < hidden; ++k) params[1].value[k] = u(rng) - 0.5f;  // non-zero biases
    std::vector<float> x(n * in, 0.0f);
    std::vector<int32_t> labels(n);
    for (int64_t r = 0; r < n; ++r) {
      labels[r] = static_cast<int32_t>(rng() % classes);
      if (r % 9 == 4) continue;  // an all-zero row
      for (int64_t k = 0; k < in; ++k)
        if (u(rng) < 0.12f) x[r * in + k] = u(rng);
    }
    const float loss = model->ComputeGradients(x.data(), labels.data(), n);

    const float* w1 = params[0].value.data();
    const float* b1 = params[1].value.data();
    const float* w2 = params[2].value.data();
    const float* b2 = params[3].value.data();
    std::vector<double> h(n * hidden), dl(n * classes), dh(n * hidden, 0.0);
    double want_loss = 0;
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t j = 0; j < hidden; ++j) {
        double a = b1[j];
        for (int64_t k = 0; k < in; ++k) a += double{x[r * in + k]} * w1[k * hidden + j];
        h[r * hidden + j] = a > 0 ? a : 0;
      }
      std::vector<double> z(classes);
      double max = -1e300, sum = 0;
      for (int64_t c = 0; c < classes; ++c) {
        z[c] = b2[c];
        for (int64_t j = 0; j < hidden; ++j) z[c] += h[r * hidden + j] * w2[j * classes + c];
        max = std::max(max, z[c]);
      }
      for (int64_t c = 0; c < classes; ++c) sum += std::exp(z[c] - max);
      want_loss += std::log(sum) - (z[labels[r]] - max);
      for (int64_t c = 0; c < classes; ++c)
        dl[r * classes + c] = (std::exp(z[c] - max) / sum - (c == labels[r] ? 1 : 0)) / n;
      for (int64_t j = 0; j < hidden; ++j) {
        if (h[r * hidden + j] <= 0) continue;
        for (int64_t c = 0; c < classes; ++c) dh[r * hidden + j] += dl[r * classes + c] * w2[j * classes + c];
      }
    }
    EXPECT_NEAR(loss, want_loss / n, 1e-5) << threads << " threads";
    auto expect_grad = [&](int p, int64_t i, double want) {
      EXPECT_NEAR(params[p].grad[i], want, 1e-6 + 1e-4 * std::fabs(want))
          << params[p].name << "[" << i << "], " << threads << " threads";
    };
    for (int64_t k = 0; k < in; ++k)
      for (int64_t j = 0; j < hidden; ++j) {
        double want = 0;
        for (int64_t r = 0; r < n; ++r) want += double{x[r * in + k]} * dh[r * hidden + j];
        expect_grad(0, k * hidden + j, want);
      }
    for (int64_t j = 0; j < hidden; ++j) {
      double want = 0;
      for (int64_t r = 0; r < n; ++r) want += dh[r * hidden + j];
      expect_grad(1, j, want);
    }
    for (int64_t j = 0; j < hidden; ++j)
      for (int64_t c = 0; c < classes; ++c) {
        double want = 0;
        for (int64_t r = 0; r < n; ++r) want += h[r * hidden + j] * dl[r * classes + c];
        expect_grad(2, j * classes + c, want);
      }
    // And the forward pass alone (Predict) agrees with the same formulas.
    std::vector<float> probabilities(n * classes);
    model->Predict(x.data(), n, probabilities.data());
    EXPECT_NEAR(model->Evaluate(x.data(), labels.data(), n).cross_entropy, want_loss / n, 1e-5);
  }
}

// Kubeflow's example model learns MNIST: three shuffled epochs of Adam (3 x 550 steps of 100) reach
// > 96% on the test set, as mnist_replica.py does.
TEST(ModelTest, SeedModelLearnsMnistInThreeEpochs) {
  const testing_mnist::Split train = testing_mnist::Train();
  const testing_mnist::Split test = testing_mnist::Test();
  ASSERT_EQ(train.size, 55000);
  ASSERT_EQ(test.size, 10000);
  auto model = MakeModel(ModelSpec::Mlp(100), 2);
  model->InitParameters(1);
  auto opt = Optimizer::Create(OptimizerOptions{});
  ASSERT_TRUE(opt.ok());
  // The first step starts from ln(10), as any fresh softmax over 10 classes.
  const float first = model->ComputeGradients(train.images.data(), train.labels.data(), 100);
  EXPECT_NEAR(first, std::log(10.0), 0.3);
  std::mt19937_64 rng(1);
  float last = 0;
  for (int epoch = 0; epoch < 3; ++epoch) last = testing_mnist::TrainEpoch(*model, **opt, train, rng);
  EXPECT_LT(last, 0.4);
  EvalResult r = model->Evaluate(test.images.data(), test.labels.data(), 10000);
  std::printf("test accuracy %.4f cross-entropy %.4f\n", r.accuracy, r.cross_entropy);
  EXPECT_GT(r.accuracy, 0.96);
  EXPECT_LT(r.cross_entropy, 0.2);
}

}  // namespace
}  // namespace loom::nn
