// ONNX export: a model (spec + weights) as an ONNX ModelProto (IR 7, opset 13) that any ONNX
// runtime runs with the bundle's signature: input "images" float[N, features] (N dynamic),
// outputs "scores" float[N, 10] (softmax probabilities, as `loom serve` answers) and "classes"
// int64[N] (their argmax). Loom's images are NHWC and its conv kernels HWIO (TensorFlow's
// layouts); ONNX's Conv and MaxPool are NCHW/OIHW, so the graph transposes the activations
// after the input reshape and back before a flatten, and the kernels are transposed here.
// Layers map to Gemm, Relu, Conv, MaxPool, Flatten; padding is TF's, as explicit pads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "nn/model_spec.h"
#include "nn/tensor.h"

namespace loom::exporter {

inline constexpr char kOnnxFile[] = "model.onnx";
inline constexpr int64_t kOnnxOpset = 13;

struct OnnxOptions {
  std::string graph_name = "mnist";  // GraphProto.name
  int64_t model_version = 0;         // ModelProto.model_version (the bundle's version)
  int64_t global_step = 0;           // recorded in metadata_props
};

// The serialized ModelProto. Weights are checked against the spec (names and shapes, as
// nn::Model::LoadParameters would); errors name the tensor.
StatusOr<std::string> EncodeOnnx(const nn::ModelSpec& spec, const std::vector<nn::NamedTensor>& weights,
                                 const OnnxOptions& options);

// EncodeOnnx written atomically to `path`.
Status WriteOnnx(const std::string& path, const nn::ModelSpec& spec,
                 const std::vector<nn::NamedTensor>& weights, const OnnxOptions& options);

}  // namespace loom::exporter
