// ModelSpec: a model's architecture as data (JSON or YAML), so that a wider MLP or a small CNN
// is a file, not code. A spec is a per-example input shape and a list of layers; the last layer
// must produce 10 logits, and softmax cross-entropy on them is implied. Shapes never include the
// batch dimension. Images are NHWC ([28,28,1]) and conv kernels HWIO, as in TensorFlow.
//
//   name: mnist_mlp
//   input_shape: [784]
//   layers:
//     - {type: dense, units: 100}
//     - {type: relu}
//     - {type: dense, units: 10}
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace loom::nn {

enum class LayerType { kDense, kRelu, kConv2D, kMaxPool, kFlatten };
enum class Padding { kSame, kValid };

// "dense", "relu", "conv2d", "max_pool", "flatten".
const char* LayerTypeName(LayerType type);
const char* PaddingName(Padding padding);

// The number of classes every model ends in (MNIST digits).
inline constexpr int64_t kNumClasses = 10;

struct LayerSpec {
  LayerType type = LayerType::kDense;
  // Unique within the model; parameters are "<name>/kernel" and "<name>/bias". FromJson fills
  // the default "<type>_<k>", k counting the layers of that type (dense_0, relu_0, dense_1).
  std::string name;
  int64_t units = 0;                     // dense: output features
  int64_t filters = 0;                   // conv2d: output channels
  std::array<int64_t, 2> kernel_size{};  // conv2d: [height, width]; JSON: 5 or [5, 5]
  std::array<int64_t, 2> pool_size{};    // max_pool: [height, width]
  std::array<int64_t, 2> strides{1, 1};  // conv2d (default 1) and max_pool (default pool_size)
  Padding padding = Padding::kValid;     // conv2d default "same", max_pool default "valid"
  // dense and conv2d: stddev of the truncated-normal kernel init; unset means 1/sqrt(fan_in).
  std::optional<double> init_stddev;

  bool operator==(const LayerSpec&) const = default;
};

struct ModelSpec {
  std::string name;
  std::vector<int64_t> input_shape;  // per example: [784] or [28,28,1]
  std::vector<LayerSpec> layers;

  // Parses and validates (shapes included). Errors read "<source>: layers[2].units: ...".
  static StatusOr<ModelSpec> FromJson(const Json& json, const std::string& source);
  // A .json file, or YAML for any other name.
  static StatusOr<ModelSpec> FromFile(const std::string& path);
  // Every field explicit (names, strides, padding), so FromJson(ToJson()) gives back *this.
  Json ToJson() const;

  // Kubeflow's example model (mnist_replica.py): 784 -> hidden ReLU -> 10, kernels initialised with
  // stddev 1/28 and 1/sqrt(hidden), which is the default 1/sqrt(fan_in). Mlp(100) is what
  // examples/mnist/mlp.yaml says.
  static ModelSpec Mlp(int hidden_units);

  // Checks every field and infers shapes: the output shape (per example) of each layer, or an
  // error naming the layer, e.g. "layers[3]: conv2d needs a rank-3 input, got [784]".
  StatusOr<std::vector<std::vector<int64_t>>> InferShapes() const;
  // The same checks, with errors prefixed by `source`.
  Status Validate(const std::string& source) const;

  bool operator==(const ModelSpec&) const = default;
};

// Output size of one spatial dimension under TF's padding rules.
int64_t ConvOutputSize(int64_t input, int64_t window, int64_t stride, Padding padding);
// TF's "same" padding: total = max((out-1)*stride + window - input, 0), before = total / 2.
int64_t PaddingBefore(int64_t input, int64_t window, int64_t stride, Padding padding);

}  // namespace loom::nn
