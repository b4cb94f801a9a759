#include "nn/layers.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <map>

#include "core/logging.h"
#include "nn/kernels.h"
#include "nn/tensor.h"

namespace loom::nn {
namespace {

// Y = X W + b with W [in, units] (TF's Dense kernel layout).
class DenseLayer : public Layer {
 public:
  DenseLayer(int64_t in, int64_t units) : Layer(in, units) {}
  std::vector<std::vector<int64_t>> ParamShapes() const override {
    return {{in_size(), out_size()}, {out_size()}};
  }
  void Forward(const float* const* params, const float* in, float* out, int64_t n) override {
    kernels::Gemm(false, false, n, out_size(), in_size(), 1.0f, in, in_size(), params[0],
                  out_size(), 0.0f, out, out_size());
    kernels::AddBias(out, params[1], n, out_size());
  }
  void Backward(const float* const* params, float* const* grads, const float* in, const float*,
                float* dout, float* din, int64_t n) override {
    // dW = X^T dY, db = column sums of dY, dX = dY W^T.
    kernels::Gemm(true, false, in_size(), out_size(), n, 1.0f, in, in_size(), dout, out_size(),
                  0.0f, grads[0], out_size());
    kernels::ColumnSums(dout, n, out_size(), grads[1]);
    if (din) {
      kernels::Gemm(false, true, n, in_size(), out_size(), 1.0f, dout, out_size(), params[0],
                    out_size(), 0.0f, din, in_size());
    }
  }
};

class ReluLayer : public Layer {
 public:
  explicit ReluLayer(int64_t size) : Layer(size, size) {}
  bool can_run_in_place() const override { return true; }
  void Forward(const float* const*, const float* in, float* out, int64_t n) override {
    kernels::Relu(in, out, n * in_size());
  }
  void Backward(const float* const*, float* const*, const float*, const float* out, float* dout,
                float* din, int64_t n) override {
    if (din) kernels::ReluBackward(out, dout, din, n * in_size());
  }
};

class FlattenLayer : public Layer {
 public:
  explicit FlattenLayer(int64_t size) : Layer(size, size) {}
  bool is_identity() const override { return true; }
  void Forward(const float* const*, const float* in, float* out, int64_t n) override {
    if (out != in) std::copy(in, in + n * in_size(), out);
  }
  void Backward(const float* const*, float* const*, const float*, const float*, float* dout,
                float* din, int64_t n) override {
    if (din && din != dout) std::copy(dout, dout + n * in_size(), din);
  }
};

class MaxPoolLayer : public Layer {
 public:
  MaxPoolLayer(const LayerSpec& spec, const std::vector<int64_t>& in, const std::vector<int64_t>& out)
      : Layer(ShapeSize(in), ShapeSize(out)) {
    g_ = {in[0], in[1], in[2], out[0], out[1], spec.pool_size[0], spec.pool_size[1],
          spec.strides[0], spec.strides[1],
          PaddingBefore(in[0], spec.pool_size[0], spec.strides[0], spec.padding),
          PaddingBefore(in[1], spec.pool_size[1], spec.strides[1], spec.padding)};
  }
  void Forward(const float* const*, const float* in, float* out, int64_t n) override {
    if (static_cast<int64_t>(argmax_.size()) < n * out_size()) argmax_.resize(n * out_size());
    for (int64_t i = 0; i < n; ++i)
      kernels::MaxPool(g_, in + i * in_size(), out + i * out_size(), argmax_.data() + i * out_size());
  }
  void Backward(const float* const*, float* const*, const float*, const float*, float* dout,
                float* din, int64_t n) override {
    if (!din) return;
    for (int64_t i = 0; i < n; ++i)
      kernels::MaxPoolBackward(g_, dout + i * out_size(), argmax_.data() + i * out_size(), din + i * in_size());
  }

 private:
  kernels::PoolGeometry g_;
  std::vector<int32_t> argmax_;  // from the last Forward, for Backward
};

// 2-D convolution through oneDNN's primitives on NHWC data and an HWIO kernel, TF's layouts,
// so no reorder is needed on our side. Primitives are built per batch size and cached.
class Conv2DLayer : public Layer {
 public:
  Conv2DLayer(const LayerSpec& spec, const std::vector<int64_t>& in, const std::vector<int64_t>& out)
      : Layer(ShapeSize(in), ShapeSize(out)),
        engine_(dnnl::engine::kind::cpu, 0),
        stream_(engine_),
        in_(in),
        out_(out),
        kernel_{spec.kernel_size[0], spec.kernel_size[1]},
        strides_{spec.strides[0], spec.strides[1]} {
    for (int k = 0; k < 2; ++k) {
      pad_l_[k] = PaddingBefore(in[k], kernel_[k], strides_[k], spec.padding);
      pad_r_[k] = std::max<int64_t>((out[k] - 1) * strides_[k] + kernel_[k] - in[k] - pad_l_[k], 0);
    }
  }
  std::vector<std::vector<int64_t>> ParamShapes() const override {
    return {{kernel_[0], kernel_[1], in_[2], out_[2]}, {out_[2]}};
  }
  void Forward(const float* const* params, const float* in, float* out, int64_t n) override {
    Primitives& p = Get(n);
    p.src.set_data_handle(const_cast<float*>(in));
    p.weights.set_data_handle(const_cast<float*>(params[0]));
    p.bias.set_data_handle(const_cast<float*>(params[1]));
    p.dst.set_data_handle(out);
    if (p.to_fwd_weights) p.to_fwd_weights.execute(stream_, p.weights, p.fwd_weights);
    p.forward.execute(stream_, {{DNNL_ARG_SRC, p.src}, {DNNL_ARG_WEIGHTS, p.to_fwd_weights ? p.fwd_weights : p.weights},
                                {DNNL_ARG_BIAS, p.bias}, {DNNL_ARG_DST, p.dst},
                                {DNNL_ARG_SCRATCHPAD, p.scratchpad}});
    stream_.wait();
  }
  void Backward(const float* const* params, float* const* grads, const float* in, const float*,
                float* dout, float* din, int64_t n) override {
    Primitives& p = Get(n);
    p.src.set_data_handle(const_cast<float*>(in));
    p.dst.set_data_handle(dout);
    p.diff_weights.set_data_handle(grads[0]);
    p.diff_bias.set_data_handle(grads[1]);
    p.backward_weights.execute(
        stream_, {{DNNL_ARG_SRC, p.src}, {DNNL_ARG_DIFF_DST, p.dst},
                  {DNNL_ARG_DIFF_WEIGHTS, p.from_bwd_diff_weights ? p.bwd_diff_weights : p.diff_weights},
                  {DNNL_ARG_DIFF_BIAS, p.diff_bias}, {DNNL_ARG_SCRATCHPAD, p.scratchpad}});
    if (p.from_bwd_diff_weights) p.from_bwd_diff_weights.execute(stream_, p.bwd_diff_weights, p.diff_weights);
    if (din) {
      p.weights.set_data_handle(const_cast<float*>(params[0]));
      p.diff_src.set_data_handle(din);
      if (p.to_bwd_weights) p.to_bwd_weights.execute(stream_, p.weights, p.bwd_weights);
      p.backward_data.execute(stream_, {{DNNL_ARG_DIFF_DST, p.dst},
                                        {DNNL_ARG_WEIGHTS, p.to_bwd_weights ? p.bwd_weights : p.weights},
                                        {DNNL_ARG_DIFF_SRC, p.diff_src},
                                        {DNNL_ARG_SCRATCHPAD, p.scratchpad}});
    }
    stream_.wait();
  }

  // The oneDNN implementation chosen (for the benchmark's report).
  std::string ImplInfo(int64_t n) { return Get(n).info; }

 private:
  struct Primitives {
    dnnl::convolution_forward forward;
    dnnl::convolution_backward_weights backward_weights;
    dnnl::convolution_backward_data backward_data;
    dnnl::memory src, weights, bias, dst, diff_weights, diff_bias, diff_src, scratchpad;
    // The kernel in the blocked layouts the fast implementations want, and the reorders from
    // and to TF's HWIO (null when the primitive takes HWIO as it is). The kernel is small
    // (tens of KB): reordering it on every call costs little next to the convolution.
    dnnl::memory fwd_weights, bwd_weights, bwd_diff_weights;
    dnnl::reorder to_fwd_weights, to_bwd_weights, from_bwd_diff_weights;
    Tensor scratch;
    std::string info;
  };

  Primitives& Get(int64_t n) {
    auto it = cache_.find(n);
    if (it != cache_.end()) return *it->second;
    using dnnl::memory;
    using tag = memory::format_tag;
    const auto f32 = memory::data_type::f32;
    memory::desc src_md({n, in_[2], in_[0], in_[1]}, f32, tag::nhwc);
    memory::desc w_md({out_[2], in_[2], kernel_[0], kernel_[1]}, f32, tag::hwio);
    // "any" lets oneDNN pick its blocked kernel layout: with plain HWIO it falls back to
    // im2col + gemm, 2-3x slower (measured in src/nn/README.md).
    memory::desc w_any({out_[2], in_[2], kernel_[0], kernel_[1]}, f32, tag::any);
    memory::desc b_md({out_[2]}, f32, tag::x);
    memory::desc dst_md({n, out_[2], out_[0], out_[1]}, f32, tag::nhwc);
    const memory::dims strides{strides_[0], strides_[1]};
    const memory::dims pad_l{pad_l_[0], pad_l_[1]}, pad_r{pad_r_[0], pad_r_[1]};
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const auto algo = dnnl::algorithm::convolution_direct;
    dnnl::convolution_forward::primitive_desc fwd_pd(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, src_md, w_any,
                                        b_md, dst_md, strides, pad_l, pad_r),
        attr, engine_);
    dnnl::convolution_backward_weights::primitive_desc bw_pd(
        dnnl::convolution_backward_weights::desc(algo, src_md, w_any, b_md, dst_md, strides, pad_l, pad_r),
        attr, engine_, fwd_pd);
    dnnl::convolution_backward_data::primitive_desc bd_pd(
        dnnl::convolution_backward_data::desc(algo, src_md, w_any, dst_md, strides, pad_l, pad_r),
        attr, engine_, fwd_pd);
    auto p = std::make_unique<Primitives>();
    p->forward = dnnl::convolution_forward(fwd_pd);
    p->backward_weights = dnnl::convolution_backward_weights(bw_pd);
    p->backward_data = dnnl::convolution_backward_data(bd_pd);
    p->src = memory(src_md, engine_, DNNL_MEMORY_NONE);
    p->weights = memory(w_md, engine_, DNNL_MEMORY_NONE);
    p->bias = memory(b_md, engine_, DNNL_MEMORY_NONE);
    p->dst = memory(dst_md, engine_, DNNL_MEMORY_NONE);
    p->diff_weights = memory(w_md, engine_, DNNL_MEMORY_NONE);
    p->diff_bias = memory(b_md, engine_, DNNL_MEMORY_NONE);
    p->diff_src = memory(src_md, engine_, DNNL_MEMORY_NONE);
    if (fwd_pd.weights_desc() != w_md) {
      p->fwd_weights = memory(fwd_pd.weights_desc(), engine_);
      p->to_fwd_weights = dnnl::reorder(p->weights, p->fwd_weights);
    }
    if (bd_pd.weights_desc() != w_md) {
      p->bwd_weights = memory(bd_pd.weights_desc(), engine_);
      p->to_bwd_weights = dnnl::reorder(p->weights, p->bwd_weights);
    }
    if (bw_pd.diff_weights_desc() != w_md) {
      p->bwd_diff_weights = memory(bw_pd.diff_weights_desc(), engine_);
      p->from_bwd_diff_weights = dnnl::reorder(p->bwd_diff_weights, p->diff_weights);
    }
    size_t bytes = std::max({fwd_pd.scratchpad_desc().get_size(), bw_pd.scratchpad_desc().get_size(),
                             bd_pd.scratchpad_desc().get_size()});
    p->scratch = Tensor({static_cast<int64_t>(bytes / sizeof(float) + 1)});
    p->scratchpad = memory(memory::desc({static_cast<memory::dim>(bytes)}, memory::data_type::u8, tag::x),
                           engine_, p->scratch.data());
    p->info = std::string("fwd ") + fwd_pd.impl_info_str() + ", bwd_w " + bw_pd.impl_info_str() +
              ", bwd_d " + bd_pd.impl_info_str();
    return *cache_.emplace(n, std::move(p)).first->second;
  }

  dnnl::engine engine_;
  dnnl::stream stream_;
  std::vector<int64_t> in_, out_;  // [h, w, c]
  int64_t kernel_[2], strides_[2], pad_l_[2], pad_r_[2];
  std::map<int64_t, std::unique_ptr<Primitives>> cache_;
};

}  // namespace

std::unique_ptr<Layer> MakeLayer(const LayerSpec& spec, const std::vector<int64_t>& in_shape,
                                 const std::vector<int64_t>& out_shape) {
  switch (spec.type) {
    case LayerType::kDense: return std::make_unique<DenseLayer>(in_shape[0], spec.units);
    case LayerType::kRelu: return std::make_unique<ReluLayer>(ShapeSize(in_shape));
    case LayerType::kFlatten: return std::make_unique<FlattenLayer>(ShapeSize(in_shape));
    case LayerType::kMaxPool: return std::make_unique<MaxPoolLayer>(spec, in_shape, out_shape);
    case LayerType::kConv2D: return std::make_unique<Conv2DLayer>(spec, in_shape, out_shape);
  }
  LOOM_CHECK(false) << "unknown layer type";
  return nullptr;
}

}  // namespace loom::nn
