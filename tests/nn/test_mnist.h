// MNIST for the nn tests, read plainly from the IDX files (the data module's reader is not
// this module's business): mnist_replica.py's split, train = examples 5000..59999, test = t10k.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/file.h"
#include "nn/model.h"
#include "nn/optimizer.h"
#include "test_util/test_env.h"

namespace loom::nn::testing_mnist {

struct Split {
  std::vector<float> images;  // [n, 784], pixel / 255
  std::vector<int32_t> labels;
  int64_t size = 0;
};

inline Split ReadSplit(const std::string& images_file, const std::string& labels_file, int64_t first,
                       int64_t count) {
  const std::string dir = testing::MnistDir();
  auto images = ReadFile(dir + "/" + images_file);
  auto labels = ReadFile(dir + "/" + labels_file);
  EXPECT_TRUE(images.ok() && labels.ok()) << "MNIST not found in " << dir;
  Split s;
  if (!images.ok() || !labels.ok()) return s;
  EXPECT_GE(images->size(), static_cast<size_t>(16 + (first + count) * 784));
  EXPECT_GE(labels->size(), static_cast<size_t>(8 + first + count));
  if (images->size() < static_cast<size_t>(16 + (first + count) * 784)) return s;
  s.size = count;
  s.images.resize(count * 784);
  for (int64_t i = 0; i < count * 784; ++i)
    s.images[i] = static_cast<unsigned char>((*images)[16 + first * 784 + i]) / 255.0f;
  for (int64_t i = 0; i < count; ++i) s.labels.push_back(static_cast<unsigned char>((*labels)[8 + first + i]));
  return s;
}

inline Split Train() { return ReadSplit("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 5000, 55000); }
inline Split Test() { return ReadSplit("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 0, 10000); }

// One epoch of batches of 100 in an order shuffled by `rng` (Fisher-Yates), each a
// ComputeGradients and an Apply. Returns the last batch's loss.
inline float TrainEpoch(Model& model, Optimizer& opt, const Split& train, std::mt19937_64& rng) {
  std::vector<int64_t> order(train.size);
  std::iota(order.begin(), order.end(), 0);
  for (int64_t i = train.size - 1; i > 0; --i) std::swap(order[i], order[rng() % (i + 1)]);
  std::vector<float> images(100 * 784);
  std::vector<int32_t> labels(100);
  float loss = 0;
  for (int64_t step = 0; step < train.size / 100; ++step) {
    for (int k = 0; k < 100; ++k) {
      const int64_t e = order[step * 100 + k];
      std::copy(train.images.begin() + e * 784, train.images.begin() + (e + 1) * 784, images.begin() + k * 784);
      labels[k] = train.labels[e];
    }
    loss = model.ComputeGradients(images.data(), labels.data(), 100);
    opt.Apply(model.parameters());
  }
  return loss;
}

}  // namespace loom::nn::testing_mnist
