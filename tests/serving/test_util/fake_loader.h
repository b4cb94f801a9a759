// FakeLoader: a ServableLoader for core tests. A version directory holding a file named
// "corrupt" fails to load; any other loads as a servable whose scores are the version number.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "core/file.h"
#include "serving/servable.h"

namespace loom::serving::testing {

class FakeServable : public Servable {
 public:
  explicit FakeServable(int64_t version, std::atomic<int>* live) : version_(version), live_(live) {
    signature_.input_shape = {2};
    signature_.input_size = 2;
    signature_.num_classes = 1;
    ++*live_;
  }
  ~FakeServable() override { --*live_; }
  const Signature& signature() const override { return signature_; }
  Status Predict(const float*, int64_t n, float* scores) override {
    for (int64_t i = 0; i < n; ++i) scores[i] = static_cast<float>(version_);
    return OkStatus();
  }

 private:
  int64_t version_;
  std::atomic<int>* live_;
  Signature signature_;
};

class FakeLoader : public ServableLoader {
 public:
  StatusOr<std::shared_ptr<Servable>> Load(const std::string& path, int64_t version) override {
    ++loads;
    if (PathExists(JoinPath(path, "corrupt"))) return DataLoss(path + "/model.json: corrupt");
    return std::shared_ptr<Servable>(std::make_shared<FakeServable>(version, &live));
  }
  std::atomic<int> loads{0};
  std::atomic<int> live{0};  // servables not yet destroyed
};

}  // namespace loom::serving::testing
