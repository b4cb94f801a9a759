// examples/mnist/cnn.yaml keeps its promise: Adam at learning rate 0.001, batch 100, a shuffle
// per epoch, reaches >= 98.8% on the MNIST test set within 5 epochs (about a minute on 2
// threads). An e2e test: it trains for real.
#include <gtest/gtest.h>

#include "nn/model.h"
#include "nn/optimizer.h"
#include "test_mnist.h"

namespace loom::nn {
namespace {

TEST(CnnAccuracyTest, ExampleCnnReaches988) {
  auto spec = ModelSpec::FromFile(testing::SourceDir() + "/examples/mnist/cnn.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  const testing_mnist::Split train = testing_mnist::Train();
  const testing_mnist::Split test = testing_mnist::Test();
  ASSERT_EQ(train.size, 55000);
  ModelOptions options;
  options.num_threads = 2;
  auto model = Model::Create(*spec, options);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  (*model)->InitParameters(1);
  OptimizerOptions opt_options;
  opt_options.learning_rate = 0.001;
  opt_options.num_threads = 2;
  auto opt = Optimizer::Create(opt_options);
  ASSERT_TRUE(opt.ok());

  std::mt19937_64 rng(1);
  double accuracy = 0;
  for (int epoch = 1; epoch <= 5 && accuracy < 0.988; ++epoch) {
    testing_mnist::TrainEpoch(**model, **opt, train, rng);
    accuracy = (*model)->Evaluate(test.images.data(), test.labels.data(), test.size).accuracy;
    std::printf("epoch %d: test accuracy %.4f\n", epoch, accuracy);
  }
  EXPECT_GE(accuracy, 0.988);
}

}  // namespace
}  // namespace loom::nn
