// Model: a network built from a ModelSpec, with its parameters, that computes gradients for a
// batch (forward + backward), probabilities, and loss/accuracy on a data set. Softmax
// cross-entropy (mean over the batch) is the loss of every model.
//
// Speed: matrix products and convolutions run in oneDNN, single-threaded per thread; with
// num_threads > 1 the batch is split across threads, each with its own activations and
// gradient buffers, and the partial gradients are summed (see src/nn/README.md).
//
// Thread-safety: a Model is used by one thread at a time (its calls share scratch buffers).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <functional>
#include <vector>

#include "core/status.h"
#include "nn/model_spec.h"
#include "nn/tensor.h"

namespace loom::nn {

class ComputePool;
class Layer;

struct ModelOptions {
  // Threads for the math of one call; the calling thread is one of them.
  int num_threads = 1;
  // The largest batch ComputeGradients is expected to see, and the chunk size of Evaluate and
  // Predict. Buffers are sized for it up front; a bigger batch grows them (once).
  int64_t max_batch = 100;
};

// A trainable tensor and its gradient (same shape), named "<layer name>/kernel" or "/bias".
struct Parameter {
  std::string name;
  Tensor value;
  Tensor grad;
};

struct EvalResult {
  double cross_entropy = 0;  // mean over the examples
  double accuracy = 0;       // fraction whose largest logit is the label
  int64_t count = 0;         // examples evaluated
};

class Model {
 public:
  // REQUIRES nothing of spec: it is validated here (errors as ModelSpec::InferShapes).
  static StatusOr<std::unique_ptr<Model>> Create(const ModelSpec& spec, const ModelOptions& options);
  ~Model();

  const ModelSpec& spec() const { return spec_; }
  const ModelOptions& options() const { return options_; }
  // Per-example input size (784 for MNIST).
  int64_t input_size() const { return input_size_; }

  // In layer order: kernel then bias of each dense/conv2d layer. Values may be written (e.g.
  // by a parameter server), but tensors must keep their shapes.
  std::vector<Parameter>& parameters() { return parameters_; }
  const std::vector<Parameter>& parameters() const { return parameters_; }
  // The parameters' values as named tensors (copies), for checkpoints and bundles.
  std::vector<NamedTensor> ParameterTensors() const;

  // Kernels from a truncated normal (TF's: values beyond 2 stddev are redrawn) with the layer's
  // init_stddev or 1/sqrt(fan_in); biases zero. The same seed gives the same bits on every
  // machine: the sampler is ours (Box-Muller on std::mt19937_64), not std::normal_distribution.
  void InitParameters(uint64_t seed);

  // Forward and backward on n examples (images [n, input_size] row-major, labels in [0, 10)):
  // fills every parameter's grad with the gradient of the mean cross-entropy, and returns that
  // mean. The gradient w.r.t. the images is never computed.
  float ComputeGradients(const float* images, const int32_t* labels, int64_t n);

  // Softmax probabilities [n, 10] for n images, in chunks of max_batch.
  void Predict(const float* images, int64_t n, float* probabilities);
  // Mean cross-entropy and accuracy over n examples, in chunks of max_batch.
  EvalResult Evaluate(const float* images, const int32_t* labels, int64_t n);

  // Copies values from tensors named and shaped as parameters(): every parameter must be
  // present with its exact shape and no other tensor may be there. Errors name the source and
  // the tensor: "<source>: dense_0/kernel has shape [784,200], the model expects [784,100]".
  Status LoadParameters(const std::vector<NamedTensor>& tensors, const std::string& source);

 private:
  struct ThreadState;
  Model(ModelSpec spec, ModelOptions options);
  Status Build();
  // "model <name>" for messages.
  std::string ModelLabel() const;
  // Runs the forward pass of rows [0, n) of `images` on thread state `t`; returns the logits.
  const float* Forward(ThreadState& t, const float* images, int64_t n);
  // Runs fn(thread state, row begin, row end) on each thread for its share of n rows.
  void SplitRows(int64_t n, const std::function<void(ThreadState&, int64_t, int64_t)>& fn);

  ModelSpec spec_;
  ModelOptions options_;
  int64_t input_size_ = 0;
  std::vector<std::vector<int64_t>> shapes_;  // per layer output
  std::vector<Parameter> parameters_;
  // For each layer, the indices of its parameters in parameters_.
  std::vector<std::vector<int>> layer_params_;
  int first_param_layer_ = 0;  // backward stops here: no gradient w.r.t. the input
  std::vector<std::unique_ptr<ThreadState>> threads_;
  ComputePool* pool_ = nullptr;  // shared, see compute_pool.h; null for one thread
};

}  // namespace loom::nn
