// The plug-in point of the serving core (TF Serving's Servable and Loader): the core moves
// versions through load, serve and unload without knowing the model type; a ServableLoader
// turns a version directory into a Servable. Loom's own bundles are one plug-in
// (loom_servable.h); a test plugs in a fake.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace loom::serving {

// What a classifier takes and gives: one float input of `input_size` values per example and
// `num_classes` scores (probabilities) per example, plus the argmax as "classes".
struct Signature {
  std::string input_name = "images";
  std::vector<int64_t> input_shape;  // per example, e.g. {784}; its product is input_size
  int64_t input_size = 0;
  std::string scores_name = "scores";
  std::string classes_name = "classes";
  int64_t num_classes = 0;
};

// One loaded version of a model. Thread-safe: requests call Predict concurrently.
class Servable {
 public:
  virtual ~Servable() = default;
  virtual const Signature& signature() const = 0;
  // scores[n * num_classes] for inputs[n * input_size].
  virtual Status Predict(const float* inputs, int64_t n, float* scores) = 0;
  // The same, finished by calling done(status) exactly once, maybe later from another thread
  // (a batching servable runs it with the batch); inputs and scores must stay valid until then.
  // By default it runs Predict and calls done before returning.
  virtual void PredictAsync(const float* inputs, int64_t n, float* scores,
                            std::function<void(Status)> done) {
    done(Predict(inputs, n, scores));
  }
};

class ServableLoader {
 public:
  virtual ~ServableLoader() = default;
  // Loads the version in `path`; errors name the file and field (a corrupt version is an error
  // value, never a crash).
  virtual StatusOr<std::shared_ptr<Servable>> Load(const std::string& path, int64_t version) = 0;
};

}  // namespace loom::serving
