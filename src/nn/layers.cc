#include "nn/layers.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <map>

#include "core/logging.h"
#include "nn/kernels.h"
#include "nn/tensor.h"

namespace loom::nn {
namespace {

// Y = X W + b with W [in, units] (TF's Dense kernel layout), and Y = max(X W + b, 0) when the
// spec's next layer is a relu (see MakeLayers): bias and ReLU run inside oneDNN's matmul as it
// writes Y, instead of two more passes over it, and the backward pass masks dY and sums it for
// db in one pass. The matmul primitives are built once per row count and kept (a training run
// sees one or two row counts). Measured on the 100x784x100 product, one thread: matmul with
// bias and ReLU fused 130 us, dnnl_sgemm alone 145 us (src/nn/README.md). An input that is
// mostly zeros (MNIST's pixels) takes the sparse kernels instead, forward and backward: their
// cost follows the nonzeros (kernels.h has the measurements).
class DenseLayer : public Layer {
 public:
  DenseLayer(int64_t in, int64_t units, bool relu)
      : Layer(in, units), relu_(relu), engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}
  std::vector<std::vector<int64_t>> ParamShapes() const override {
    return {{in_size(), out_size()}, {out_size()}};
  }
  void Forward(const float* const* params, const float* in, float* out, int64_t n) override {
    sparse_in_ = nullptr;
    if (in_size() >= kSparseMinInputs && kernels::SparseProductsAvailable() &&
        kernels::FindNonzeros(in, n, in_size(), &nonzeros_) <= kSparseMaxDensity * n * in_size()) {
      kernels::SparseTimesDense(nonzeros_, n, params[0], params[1], out_size(), relu_, out);
      sparse_in_ = in;
      sparse_rows_ = n;
      return;
    }
    Primitives& p = Get(n);
    p.x.set_data_handle(const_cast<float*>(in));
    p.w.set_data_handle(const_cast<float*>(params[0]));
    p.b.set_data_handle(const_cast<float*>(params[1]));
    p.y.set_data_handle(out);
    p.forward.execute(stream_, {{DNNL_ARG_SRC, p.x}, {DNNL_ARG_WEIGHTS, p.w}, {DNNL_ARG_BIAS, p.b},
                                {DNNL_ARG_DST, p.y}, {DNNL_ARG_SCRATCHPAD, p.scratchpad}});
    stream_.wait();
  }
  void Backward(const float* const* params, float* const* grads, const float* in, const float* out,
                float* dout, float* din, int64_t n) override {
    // db = column sums of dY (after the ReLU's mask), dW = X^T dY, dX = dY W^T.
    if (relu_) {
      kernels::ReluBackwardColumnSums(out, dout, n, out_size(), grads[1]);
    } else {
      kernels::ColumnSums(dout, n, out_size(), grads[1]);
    }
    const bool sparse = sparse_in_ == in && sparse_rows_ == n;  // the input of the Forward just before
    if (sparse) kernels::SparseTransposeTimesDense(nonzeros_, n, in_size(), dout, out_size(), grads[0]);
    if (sparse && !din) return;  // no oneDNN primitive needed (nor built) for this row count
    Primitives& p = Get(n);
    p.dy.set_data_handle(dout);
    if (!sparse) {
      p.xt.set_data_handle(const_cast<float*>(in));
      p.dw.set_data_handle(grads[0]);
      p.backward_weights.execute(stream_, {{DNNL_ARG_SRC, p.xt}, {DNNL_ARG_WEIGHTS, p.dy},
                                           {DNNL_ARG_DST, p.dw}, {DNNL_ARG_SCRATCHPAD, p.scratchpad}});
    }
    if (din) {
      if (!p.backward_data) BuildBackwardData(n, p);
      p.wt.set_data_handle(const_cast<float*>(params[0]));
      p.dx.set_data_handle(din);
      p.backward_data.execute(stream_, {{DNNL_ARG_SRC, p.dy}, {DNNL_ARG_WEIGHTS, p.wt},
                                        {DNNL_ARG_DST, p.dx}, {DNNL_ARG_SCRATCHPAD, p.scratchpad}});
    }
    stream_.wait();
  }

 private:
  // For one row count n: Y[n, units] = X[n, in] W (+ b, ReLU); dW[in, units] = X^T dY, X^T
  // read in place through strides; dX[n, in] = dY W^T, W^T likewise (built on first use: the
  // first layer never needs it).
  struct Primitives {
    dnnl::matmul forward, backward_weights, backward_data;
    dnnl::memory x, w, b, y, xt, dy, dw, wt, dx, scratchpad;
    Tensor scratch;
  };

  static dnnl::memory::desc Matrix(int64_t rows, int64_t cols) {
    return dnnl::memory::desc({rows, cols}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab);
  }
  // The transpose of a row-major [cols, rows] matrix, read where it is.
  static dnnl::memory::desc Transposed(int64_t rows, int64_t cols) {
    return dnnl::memory::desc({rows, cols}, dnnl::memory::data_type::f32, dnnl::memory::dims{1, rows});
  }
  dnnl::primitive_attr Attributes(bool relu) const {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (relu) {
      dnnl::post_ops ops;
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      attr.set_post_ops(ops);
    }
    return attr;
  }
  // Gives p a scratchpad as large as `pd` needs and any earlier primitive of p did.
  void FitScratchpad(Primitives& p, const dnnl::primitive_desc_base& pd) {
    const size_t bytes = pd.scratchpad_desc().get_size();
    if (p.scratchpad && p.scratchpad.get_desc().get_size() >= bytes) return;
    p.scratch = Tensor({static_cast<int64_t>(bytes / sizeof(float) + 1)});
    p.scratchpad = dnnl::memory(dnnl::memory::desc({static_cast<dnnl::memory::dim>(bytes)}, dnnl::memory::data_type::u8,
                                                   dnnl::memory::format_tag::x),
                                engine_, p.scratch.data());
  }

  Primitives& Get(int64_t n) {
    auto it = cache_.find(n);
    if (it != cache_.end()) return *it->second;
    const int64_t in = in_size(), units = out_size();
    auto p = std::make_unique<Primitives>();
    dnnl::matmul::primitive_desc forward(
        dnnl::matmul::desc(Matrix(n, in), Matrix(in, units), Matrix(1, units), Matrix(n, units)),
        Attributes(relu_), engine_);
    dnnl::matmul::primitive_desc backward_weights(
        dnnl::matmul::desc(Transposed(in, n), Matrix(n, units), Matrix(in, units)), Attributes(false), engine_);
    p->forward = dnnl::matmul(forward);
    p->backward_weights = dnnl::matmul(backward_weights);
    p->x = dnnl::memory(forward.src_desc(), engine_, DNNL_MEMORY_NONE);
    p->w = dnnl::memory(forward.weights_desc(), engine_, DNNL_MEMORY_NONE);
    p->b = dnnl::memory(forward.bias_desc(), engine_, DNNL_MEMORY_NONE);
    p->y = dnnl::memory(forward.dst_desc(), engine_, DNNL_MEMORY_NONE);
    p->xt = dnnl::memory(backward_weights.src_desc(), engine_, DNNL_MEMORY_NONE);
    p->dy = dnnl::memory(backward_weights.weights_desc(), engine_, DNNL_MEMORY_NONE);
    p->dw = dnnl::memory(backward_weights.dst_desc(), engine_, DNNL_MEMORY_NONE);
    FitScratchpad(*p, forward);
    FitScratchpad(*p, backward_weights);
    return *cache_.emplace(n, std::move(p)).first->second;
  }

  void BuildBackwardData(int64_t n, Primitives& p) {
    const int64_t in = in_size(), units = out_size();
    dnnl::matmul::primitive_desc backward_data(
        dnnl::matmul::desc(Matrix(n, units), Transposed(units, in), Matrix(n, in)), Attributes(false), engine_);
    p.backward_data = dnnl::matmul(backward_data);
    p.wt = dnnl::memory(backward_data.weights_desc(), engine_, DNNL_MEMORY_NONE);
    p.dx = dnnl::memory(backward_data.dst_desc(), engine_, DNNL_MEMORY_NONE);
    FitScratchpad(p, backward_data);
  }

  // The sparse kernels are tried on inputs this wide, and taken up to this fraction of
  // nonzeros: where they broke even with oneDNN on the 100x784x100 products.
  static constexpr int64_t kSparseMinInputs = 256;
  static constexpr double kSparseMaxDensity = 0.25;

  const bool relu_;
  dnnl::engine engine_;
  dnnl::stream stream_;
  std::map<int64_t, std::unique_ptr<Primitives>> cache_;
  kernels::SparseRows nonzeros_;          // of the last Forward's input when it went sparse
  const float* sparse_in_ = nullptr;      // that input, or null when it went to oneDNN
  int64_t sparse_rows_ = 0;
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

// Flatten, and a relu that runs inside the dense layer before it: the input passes through.
class IdentityLayer : public Layer {
 public:
  explicit IdentityLayer(int64_t size) : Layer(size, size) {}
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

std::vector<std::unique_ptr<Layer>> MakeLayers(const ModelSpec& spec,
                                               const std::vector<std::vector<int64_t>>& shapes) {
  std::vector<std::unique_ptr<Layer>> layers;
  const size_t count = spec.layers.size();
  for (size_t i = 0; i < count; ++i) {
    const LayerSpec& l = spec.layers[i];
    const std::vector<int64_t>& in = i == 0 ? spec.input_shape : shapes[i - 1];
    const bool relu_follows = i + 1 < count && spec.layers[i + 1].type == LayerType::kRelu;
    const bool relu_fused = i > 0 && l.type == LayerType::kRelu && spec.layers[i - 1].type == LayerType::kDense;
    switch (l.type) {
      case LayerType::kDense:
        layers.push_back(std::make_unique<DenseLayer>(in[0], l.units, relu_follows));
        break;
      case LayerType::kRelu:
        if (relu_fused) {
          layers.push_back(std::make_unique<IdentityLayer>(ShapeSize(in)));
        } else {
          layers.push_back(std::make_unique<ReluLayer>(ShapeSize(in)));
        }
        break;
      case LayerType::kFlatten: layers.push_back(std::make_unique<IdentityLayer>(ShapeSize(in))); break;
      case LayerType::kMaxPool: layers.push_back(std::make_unique<MaxPoolLayer>(l, in, shapes[i])); break;
      case LayerType::kConv2D: layers.push_back(std::make_unique<Conv2DLayer>(l, in, shapes[i])); break;
    }
    LOOM_CHECK(layers.size() == i + 1) << "unknown layer type";
  }
  return layers;
}

}  // namespace loom::nn
