// The layer implementations behind Model (internal to nn/). A Layer computes one spec layer on
// a block of examples: forward, and backward into its parameters' gradients and (when asked)
// its input's gradient. Each worker thread of a Model has its own Layer objects, so a layer may
// keep per-thread caches (oneDNN primitives, max-pool argmax) without locks.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "nn/model_spec.h"

namespace loom::nn {

class Layer {
 public:
  virtual ~Layer() = default;

  // Per-example sizes of the input and output.
  int64_t in_size() const { return in_size_; }
  int64_t out_size() const { return out_size_; }

  // Shapes of the parameters ([kernel, bias] or none), as TensorFlow lays them out.
  virtual std::vector<std::vector<int64_t>> ParamShapes() const { return {}; }
  // Flatten produces its input unchanged: the model passes the same buffer through.
  virtual bool is_identity() const { return false; }
  // ReLU can write its output over its input (and its input's gradient over its output's).
  virtual bool can_run_in_place() const { return false; }

  // out[n, out_size] from in[n, in_size]; params[i] is the i-th of ParamShapes().
  virtual void Forward(const float* const* params, const float* in, float* out, int64_t n) = 0;
  // From dout (gradient of the loss w.r.t. out; may be overwritten): writes grads[i] (overwrite,
  // not accumulate) and, when din is not null, the gradient w.r.t. in.
  virtual void Backward(const float* const* params, float* const* grads, const float* in,
                        const float* out, float* dout, float* din, int64_t n) = 0;

 protected:
  Layer(int64_t in_size, int64_t out_size) : in_size_(in_size), out_size_(out_size) {}

 private:
  int64_t in_size_;
  int64_t out_size_;
};

// The layers of `spec`, whose per-example output shapes the spec's inference gave (shapes[i]
// for layer i). A relu right after a dense layer runs inside it (bias and ReLU fused into the
// matrix product); its own entry then passes its input through.
std::vector<std::unique_ptr<Layer>> MakeLayers(const ModelSpec& spec,
                                               const std::vector<std::vector<int64_t>>& shapes);

}  // namespace loom::nn
