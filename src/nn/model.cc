#include "nn/model.h"

#include <cmath>
#include <cstring>
#include <map>
#include <random>

#include "core/logging.h"
#include "nn/compute_pool.h"
#include "nn/kernels.h"
#include "nn/layers.h"

namespace loom::nn {

// What one thread needs for its share of a batch: its own layers (they cache per-thread state),
// activation and gradient buffers, and (threads other than the first) gradient accumulators.
struct Model::ThreadState {
  int index = 0;
  std::vector<std::unique_ptr<Layer>> layers;
  int64_t capacity = 0;             // rows the buffers hold
  std::vector<Tensor> act_buffers;  // [i]: output of layer i (unused when it aliases)
  std::vector<Tensor> grad_buffers; // [i]: gradient w.r.t. the output of layer i
  std::vector<float*> act;          // [i]: input of layer i; [L]: the logits
  std::vector<float*> grad;         // [i]: gradient w.r.t. act[i]
  std::vector<Tensor> param_grads;  // per parameter; empty for thread 0 (writes Parameter::grad)
  double loss = 0;
  int64_t correct = 0;
};

namespace {

// A standard normal from two 53-bit uniforms (Box-Muller, cosine branch). Bit-identical
// wherever std::mt19937_64, std::log, std::sqrt and std::cos are (IEEE double, glibc).
double StandardNormal(std::mt19937_64& gen) {
  constexpr double kScale = 1.0 / 9007199254740992.0;  // 2^-53
  const double u1 = (static_cast<double>(gen() >> 11) + 1.0) * kScale;  // (0, 1]
  const double u2 = static_cast<double>(gen() >> 11) * kScale;          // [0, 1)
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

}  // namespace

Model::Model(ModelSpec spec, ModelOptions options)
    : spec_(std::move(spec)), options_(options) {}

Model::~Model() = default;

StatusOr<std::unique_ptr<Model>> Model::Create(const ModelSpec& spec, const ModelOptions& options) {
  if (options.num_threads < 1)
    return InvalidArgument("num_threads: must be at least 1, got " + std::to_string(options.num_threads));
  if (options.max_batch < 1)
    return InvalidArgument("max_batch: must be at least 1, got " + std::to_string(options.max_batch));
  std::unique_ptr<Model> model(new Model(spec, options));
  LOOM_RETURN_IF_ERROR(model->Build());
  return model;
}

Status Model::Build() {
  auto shapes = spec_.InferShapes();
  if (!shapes.ok()) return shapes.status().WithPrefix(ModelLabel());
  shapes_ = std::move(shapes).value();
  input_size_ = ShapeSize(spec_.input_shape);
  const size_t num_layers = spec_.layers.size();
  first_param_layer_ = static_cast<int>(num_layers);
  threads_.resize(options_.num_threads);
  for (int t = 0; t < options_.num_threads; ++t) {
    threads_[t] = std::make_unique<ThreadState>();
    threads_[t]->index = t;
  }
  layer_params_.assign(num_layers, {});
  for (auto& t : threads_) t->layers = MakeLayers(spec_, shapes_);
  for (size_t i = 0; i < num_layers; ++i) {
    std::vector<std::vector<int64_t>> param_shapes = threads_[0]->layers[i]->ParamShapes();
    static const char* kParamNames[] = {"kernel", "bias"};
    for (size_t k = 0; k < param_shapes.size(); ++k) {
      layer_params_[i].push_back(static_cast<int>(parameters_.size()));
      parameters_.push_back({spec_.layers[i].name + "/" + kParamNames[k], Tensor(param_shapes[k]),
                             Tensor(param_shapes[k])});
    }
    if (!param_shapes.empty() && first_param_layer_ == static_cast<int>(num_layers))
      first_param_layer_ = static_cast<int>(i);
  }
  for (size_t t = 1; t < threads_.size(); ++t)
    for (const Parameter& p : parameters_) threads_[t]->param_grads.emplace_back(p.value.shape());
  if (options_.num_threads > 1) pool_ = ComputePool::Get(options_.num_threads);
  return OkStatus();
}

std::string Model::ModelLabel() const {
  return spec_.name.empty() ? "model" : "model " + spec_.name;
}

std::vector<NamedTensor> Model::ParameterTensors() const {
  std::vector<NamedTensor> out;
  for (const Parameter& p : parameters_) out.push_back({p.name, p.value});
  return out;
}

void Model::InitParameters(uint64_t seed) {
  std::mt19937_64 gen(seed);
  size_t index = 0;
  for (size_t i = 0; i < spec_.layers.size(); ++i) {
    for (int p : layer_params_[i]) {
      Parameter& param = parameters_[p];
      param.grad.Fill(0.0f);
      if (index++ % 2 == 1 || param.value.rank() < 2) {  // bias
        param.value.Fill(0.0f);
        continue;
      }
      const std::vector<int64_t>& shape = param.value.shape();
      int64_t fan_in = ShapeSize(shape) / shape.back();
      const double stddev = spec_.layers[i].init_stddev.value_or(1.0 / std::sqrt(static_cast<double>(fan_in)));
      for (int64_t k = 0; k < param.value.size(); ++k) {
        double z;
        do {
          z = StandardNormal(gen);
        } while (std::fabs(z) > 2.0);
        param.value[k] = static_cast<float>(z * stddev);
      }
    }
  }
}

void Model::SplitRows(int64_t n, const std::function<void(ThreadState&, int64_t, int64_t)>& fn) {
  const int parts = static_cast<int>(std::min<int64_t>(options_.num_threads, n));
  auto run = [&](int part) {
    kernels::UseOneThreadHere();
    kernels::ScopedFlushDenormal flush;
    ThreadState& t = *threads_[part];
    const int64_t begin = n * part / parts, end = n * (part + 1) / parts;
    const int64_t rows_needed = (n + parts - 1) / parts;
    if (t.capacity < rows_needed) {
      // Size the buffers for this thread's share of max_batch (or more, if asked for more).
      const int64_t rows = std::max(rows_needed, (options_.max_batch + options_.num_threads - 1) / options_.num_threads);
      const size_t num_layers = t.layers.size();
      t.act_buffers.assign(num_layers, Tensor());
      t.grad_buffers.assign(num_layers, Tensor());
      for (size_t i = 0; i < num_layers; ++i) {
        t.act_buffers[i] = Tensor({rows, t.layers[i]->out_size()});
        t.grad_buffers[i] = Tensor({rows, t.layers[i]->out_size()});
      }
      t.capacity = rows;
    }
    fn(t, begin, end);
  };
  if (parts <= 1 || !pool_) {
    for (int part = 0; part < parts; ++part) run(part);
    return;
  }
  pool_->ParallelFor(parts, [&](int, int64_t b, int64_t e) {
    for (int64_t part = b; part < e; ++part) run(static_cast<int>(part));
  });
}

const float* Model::Forward(ThreadState& t, const float* images, int64_t n) {
  const size_t num_layers = t.layers.size();
  t.act.assign(num_layers + 1, nullptr);
  t.act[0] = const_cast<float*>(images);
  bool x_is_input = true;  // act[i] still points into the caller's images
  for (size_t i = 0; i < num_layers; ++i) {
    Layer& l = *t.layers[i];
    float* x = t.act[i];
    float* out;
    if (l.is_identity()) {
      out = x;
    } else if (l.can_run_in_place() && !x_is_input && i != num_layers - 1) {
      out = x;
    } else {
      out = t.act_buffers[i].data();
      x_is_input = false;
    }
    const float* params[2] = {nullptr, nullptr};
    for (size_t k = 0; k < layer_params_[i].size(); ++k) params[k] = parameters_[layer_params_[i][k]].value.data();
    l.Forward(params, x, out, n);
    t.act[i + 1] = out;
  }
  return t.act[num_layers];
}

float Model::ComputeGradients(const float* images, const int32_t* labels, int64_t n) {
  LOOM_CHECK(n > 0) << "ComputeGradients needs at least one example";
  const size_t num_layers = spec_.layers.size();
  const int f = first_param_layer_;
  SplitRows(n, [&](ThreadState& t, int64_t begin, int64_t end) {
    const int64_t rows = end - begin;
    const float* logits = Forward(t, images + begin * input_size_, rows);
    // Gradients w.r.t. each layer's output, from the top: a layer that aliases its input
    // (flatten, in-place ReLU) shares its gradient buffer with its input's.
    t.grad.assign(num_layers + 1, nullptr);
    t.grad[num_layers] = t.grad_buffers[num_layers - 1].data();
    for (int i = static_cast<int>(num_layers) - 1; i > f; --i) {
      const bool aliased_out = t.act[i + 1] == t.act[i];
      t.grad[i] = aliased_out ? t.grad[i + 1] : t.grad_buffers[i - 1].data();
    }
    t.correct = 0;
    t.loss = kernels::SoftmaxCrossEntropy(logits, labels + begin, rows, kNumClasses,
                                          1.0f / static_cast<float>(n), t.grad[num_layers],
                                          nullptr, &t.correct);
    for (int i = static_cast<int>(num_layers) - 1; i >= f; --i) {
      const float* params[2] = {nullptr, nullptr};
      float* grads[2] = {nullptr, nullptr};
      for (size_t k = 0; k < layer_params_[i].size(); ++k) {
        const int p = layer_params_[i][k];
        params[k] = parameters_[p].value.data();
        grads[k] = t.index == 0 ? parameters_[p].grad.data() : t.param_grads[p].data();
      }
      t.layers[i]->Backward(params, grads, t.act[i], t.act[i + 1], t.grad[i + 1],
                            i > f ? t.grad[i] : nullptr, rows);
    }
  });
  const int parts_used = static_cast<int>(std::min<int64_t>(options_.num_threads, n));
  double loss = 0;
  for (int k = 0; k < parts_used; ++k) loss += threads_[k]->loss;
  if (parts_used > 1) {
    // Sum the other threads' partial gradients into Parameter::grad, split over the threads.
    int64_t total = 0;
    for (const Parameter& p : parameters_) total += p.grad.size();
    auto reduce = [&](int64_t begin, int64_t end) {
      int64_t offset = 0;
      for (size_t p = 0; p < parameters_.size(); ++p) {
        const int64_t size = parameters_[p].grad.size();
        const int64_t b = std::max(begin, offset), e = std::min(end, offset + size);
        if (b < e) {
          for (int k = 1; k < parts_used; ++k)
            kernels::Add(threads_[k]->param_grads[p].data() + (b - offset),
                         parameters_[p].grad.data() + (b - offset), e - b);
        }
        offset += size;
      }
    };
    pool_->ParallelFor(total, [&](int, int64_t b, int64_t e) { reduce(b, e); });
  }
  return static_cast<float>(loss / static_cast<double>(n));
}

void Model::Predict(const float* images, int64_t n, float* probabilities) {
  for (int64_t start = 0; start < n; start += options_.max_batch) {
    const int64_t chunk = std::min(options_.max_batch, n - start);
    SplitRows(chunk, [&](ThreadState& t, int64_t begin, int64_t end) {
      const float* logits = Forward(t, images + (start + begin) * input_size_, end - begin);
      kernels::SoftmaxCrossEntropy(logits, nullptr, end - begin, kNumClasses, 1.0f, nullptr,
                                   probabilities + (start + begin) * kNumClasses, nullptr);
    });
  }
}

EvalResult Model::Evaluate(const float* images, const int32_t* labels, int64_t n) {
  double loss = 0;
  int64_t correct = 0;
  for (int64_t start = 0; start < n; start += options_.max_batch) {
    const int64_t chunk = std::min(options_.max_batch, n - start);
    const int parts = static_cast<int>(std::min<int64_t>(options_.num_threads, chunk));
    SplitRows(chunk, [&](ThreadState& t, int64_t begin, int64_t end) {
      const float* logits = Forward(t, images + (start + begin) * input_size_, end - begin);
      t.correct = 0;
      t.loss = kernels::SoftmaxCrossEntropy(logits, labels + start + begin, end - begin,
                                            kNumClasses, 1.0f, nullptr, nullptr, &t.correct);
    });
    for (int k = 0; k < parts; ++k) {
      loss += threads_[k]->loss;
      correct += threads_[k]->correct;
    }
  }
  EvalResult r;
  r.count = n;
  if (n > 0) {
    r.cross_entropy = loss / static_cast<double>(n);
    r.accuracy = static_cast<double>(correct) / static_cast<double>(n);
  }
  return r;
}

Status Model::LoadParameters(const std::vector<NamedTensor>& tensors, const std::string& source) {
  std::map<std::string, const Tensor*> by_name;
  for (const NamedTensor& t : tensors) {
    if (!by_name.emplace(t.name, &t.tensor).second)
      return InvalidArgument(source + ": tensor " + t.name + " appears twice");
  }
  std::string expected;
  for (const Parameter& p : parameters_) expected += (expected.empty() ? "" : ", ") + p.name;
  for (const Parameter& p : parameters_) {
    auto it = by_name.find(p.name);
    if (it == by_name.end())
      return InvalidArgument(source + ": has no tensor " + p.name + ", which the " + ModelLabel() +
                             " needs (it has " + expected + ")");
    if (it->second->shape() != p.value.shape())
      return InvalidArgument(source + ": " + p.name + " has shape " + ShapeString(it->second->shape()) +
                             ", the model expects " + ShapeString(p.value.shape()));
  }
  for (const NamedTensor& t : tensors) {
    bool known = false;
    for (const Parameter& p : parameters_) known = known || p.name == t.name;
    if (!known)
      return InvalidArgument(source + ": tensor " + t.name + " is not a parameter of the " +
                             ModelLabel() + " (it has " + expected + ")");
  }
  for (Parameter& p : parameters_) {
    const Tensor& src = *by_name[p.name];
    if (p.value.size() > 0) std::memcpy(p.value.data(), src.data(), p.value.size() * sizeof(float));
  }
  return OkStatus();
}

}  // namespace loom::nn
