// Optimizers as TensorFlow 1.x defines them: Adam (tf.train.AdamOptimizer) and SGD with
// momentum (tf.train.MomentumOptimizer). The per-variable updates are free functions on raw
// arrays, so a parameter server can apply them to shards of flat buffers; Optimizer applies
// them to a Model's parameters and keeps the slots (TF's names) and the step count.
//
// Thread-safety: an Optimizer is used by one thread at a time.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/status.h"
#include "nn/model.h"
#include "nn/tensor.h"

namespace loom::nn {

class ComputePool;

// TF's ApplyAdam on n elements, with lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t):
//   m += (g - m) * (1 - beta1);  v += (g*g - v) * (1 - beta2);  w -= lr_t * m / (sqrt(v) + eps)
void AdamUpdate(float* w, const float* g, float* m, float* v, int64_t n, float lr_t, float beta1,
                float beta2, float epsilon);
// lr * sqrt(1 - beta2^step) / (1 - beta1^step) for step >= 1 (the step being taken).
float AdamLearningRate(double learning_rate, double beta1, double beta2, int64_t step);
// TF's ApplyMomentum (not Nesterov): accum = accum * momentum + g;  w -= lr * accum.
void MomentumUpdate(float* w, const float* g, float* accum, int64_t n, float lr, float momentum);

struct OptimizerOptions {
  std::string type = "adam";   // "adam", or "sgd" (SGD with momentum)
  double learning_rate = 0.01;
  double beta1 = 0.9;          // adam
  double beta2 = 0.999;        // adam
  double epsilon = 1e-8;       // adam (TF's "epsilon hat")
  double momentum = 0.9;       // sgd
  int num_threads = 1;         // threads for Apply (the caller is one); not part of ToJson

  // The defaults for "adam" or "sgd" ("momentum" is accepted for sgd).
  static StatusOr<OptimizerOptions> FromName(const std::string& name);
  // {"type": "adam", "learning_rate": 0.01, ...}; missing fields keep their defaults.
  static StatusOr<OptimizerOptions> FromJson(const Json& json, const std::string& source);
  Json ToJson() const;
};

class Optimizer {
 public:
  static StatusOr<std::unique_ptr<Optimizer>> Create(const OptimizerOptions& options);

  const OptimizerOptions& options() const { return options_; }
  // Steps applied so far (TF's optimizer step; Adam's t is step() + 1 on the next Apply).
  int64_t step() const { return step_; }
  // Changes the learning rate from the next Apply on (a schedule's decay).
  void set_learning_rate(double learning_rate) { options_.learning_rate = learning_rate; }

  // One update of every parameter from its grad; creates zero slots on first sight of a
  // parameter; increments step(). REQUIRES: a parameter keeps its shape from step to step.
  void Apply(std::vector<Parameter>& params);

  // The state as named tensors: "step" (a float32 scalar holding the step count, exact up to
  // 2^24) and, per parameter seen, "<param>/Adam" and "<param>/Adam_1" (TF's m and v) or
  // "<param>/Momentum".
  std::vector<NamedTensor> SaveState() const;
  // Replaces the state with tensors as SaveState wrote them. Errors name the source and the
  // tensor (a slot of another optimizer type, a bad step). Slot shapes are checked against
  // the parameters on the next Apply, or here by the overload that takes them.
  Status LoadState(const std::vector<NamedTensor>& tensors, const std::string& source);
  // Also checks that every parameter has each of its slots with its shape, and no slot is of
  // a parameter not in `params`.
  Status LoadState(const std::vector<NamedTensor>& tensors, const std::string& source,
                   const std::vector<Parameter>& params);

 private:
  explicit Optimizer(const OptimizerOptions& options);
  std::vector<std::string> SlotSuffixes() const;
  Tensor& Slot(const std::string& name, const std::vector<int64_t>& shape);

  OptimizerOptions options_;
  int64_t step_ = 0;
  std::vector<NamedTensor> slots_;     // in creation order
  std::map<std::string, size_t> slot_index_;
  ComputePool* pool_ = nullptr;  // shared with Models of the same thread count
};

}  // namespace loom::nn
