// What the serving fuzzers serve: a manager with model "mnist", versions 1 and 2 (labels
// "stable" and "canary") of an MNIST-shaped servable whose scores are cheap to compute.
#pragma once

#include <memory>
#include <string>

#include "serving/manager.h"

namespace loom::serving::fuzzing {

// MNIST's signature: 784 floats in ([-1, 28, 28] also accepted by the parsers), 10 scores out.
class MnistShapedServable : public Servable {
 public:
  MnistShapedServable() {
    signature_.input_shape = {784};
    signature_.input_size = 784;
    signature_.num_classes = 10;
  }
  const Signature& signature() const override { return signature_; }
  Status Predict(const float* inputs, int64_t n, float* scores) override {
    for (int64_t i = 0; i < n; ++i) {
      double sum = 0;
      for (int64_t k = 0; k < 784; ++k) sum += inputs[i * 784 + k];
      for (int64_t c = 0; c < 10; ++c) scores[i * 10 + c] = static_cast<float>(c == 3 ? sum : 0.0);
    }
    return OkStatus();
  }

 private:
  Signature signature_;
};

class MnistShapedLoader : public ServableLoader {
 public:
  StatusOr<std::shared_ptr<Servable>> Load(const std::string&, int64_t) override {
    return std::shared_ptr<Servable>(std::make_shared<MnistShapedServable>());
  }
};

struct MnistManager {
  MnistShapedLoader loader;
  ServableManager manager{&loader};
  MnistManager() {
    manager.SetAspiredVersions("mnist", {{1, "/nonexistent/1"}, {2, "/nonexistent/2"}});
    manager.SetLabels("mnist", {{"stable", 1}, {"canary", 2}});
  }
};

}  // namespace loom::serving::fuzzing
