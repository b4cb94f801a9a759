#include "serving/loom_servable.h"

#include <condition_variable>
#include <mutex>
#include <thread>
#include <algorithm>

#include "core/file.h"
#include <vector>

#include "export/bundle.h"
#include "nn/model.h"

namespace loom::serving {
namespace {

class LoomServable : public Servable {
 public:
  LoomServable(Signature signature, std::vector<std::unique_ptr<nn::Model>> models)
      : signature_(std::move(signature)), models_(std::move(models)) {
    for (auto& m : models_) free_.push_back(m.get());
  }
  const Signature& signature() const override { return signature_; }

  Status Predict(const float* inputs, int64_t n, float* scores) override {
    nn::Model* model = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !free_.empty(); });
      model = free_.back();
      free_.pop_back();
    }
    model->Predict(inputs, n, scores);
    {
      std::lock_guard<std::mutex> lock(mu_);
      free_.push_back(model);
    }
    cv_.notify_one();
    return OkStatus();
  }

 private:
  Signature signature_;
  std::vector<std::unique_ptr<nn::Model>> models_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<nn::Model*> free_;
};

}  // namespace

StatusOr<std::shared_ptr<Servable>> LoomServableLoader::Load(const std::string& path,
                                                            int64_t version) {
  LOOM_ASSIGN_OR_RETURN(exporter::Bundle bundle, exporter::ReadBundle(path));
  int instances = options_.num_instances;
  if (instances <= 0) instances = std::max(1u, std::thread::hardware_concurrency());
  nn::ModelOptions model_options;
  model_options.num_threads = 1;
  model_options.max_batch = options_.max_batch;
  std::vector<std::unique_ptr<nn::Model>> models;
  for (int i = 0; i < instances; ++i) {
    LOOM_ASSIGN_OR_RETURN(std::unique_ptr<nn::Model> model,
                          nn::Model::Create(bundle.spec, model_options));
    LOOM_RETURN_IF_ERROR(
        model->LoadParameters(bundle.weights, JoinPath(path, "weights.safetensors")));
    models.push_back(std::move(model));
  }
  Signature sig;
  sig.input_shape = bundle.spec.input_shape;
  sig.input_size = models[0]->input_size();
  sig.num_classes = nn::kNumClasses;
  return std::shared_ptr<Servable>(std::make_shared<LoomServable>(std::move(sig), std::move(models)));
}

}  // namespace loom::serving
