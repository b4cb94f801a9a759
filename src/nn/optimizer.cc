#include "nn/optimizer.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

#include "core/logging.h"
#include "nn/compute_pool.h"
#include "nn/kernels.h"

#define LOOM_VECTORIZE __attribute__((target_clones("avx512f", "avx2", "default")))

namespace loom::nn {

LOOM_VECTORIZE void AdamUpdate(float* __restrict w, const float* __restrict g, float* __restrict m,
                               float* __restrict v, int64_t n, float lr_t,
                               float beta1, float beta2, float epsilon) {
  const float one_minus_b1 = 1.0f - beta1, one_minus_b2 = 1.0f - beta2;
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i];
    const float mi = m[i] + (gi - m[i]) * one_minus_b1;
    const float vi = v[i] + (gi * gi - v[i]) * one_minus_b2;
    m[i] = mi;
    v[i] = vi;
    w[i] -= lr_t * mi / (std::sqrt(vi) + epsilon);
  }
}

float AdamLearningRate(double learning_rate, double beta1, double beta2, int64_t step) {
  const double t = static_cast<double>(step);
  return static_cast<float>(learning_rate * std::sqrt(1.0 - std::pow(beta2, t)) /
                            (1.0 - std::pow(beta1, t)));
}

LOOM_VECTORIZE void MomentumUpdate(float* __restrict w, const float* __restrict g,
                                   float* __restrict accum, int64_t n, float lr,
                                   float momentum) {
  for (int64_t i = 0; i < n; ++i) {
    const float a = accum[i] * momentum + g[i];
    accum[i] = a;
    w[i] -= lr * a;
  }
}

namespace {

constexpr char kStepName[] = "step";

Status OptionError(const std::string& source, const std::string& field, const std::string& message) {
  return InvalidArgument((source.empty() ? "" : source + ": ") + field + ": " + message);
}

}  // namespace

StatusOr<OptimizerOptions> OptimizerOptions::FromName(const std::string& name) {
  OptimizerOptions o;
  if (name == "adam") {
    o.type = "adam";
  } else if (name == "sgd" || name == "momentum") {
    o.type = "sgd";
  } else {
    return InvalidArgument("unknown optimizer \"" + name + "\" (want adam or sgd)");
  }
  return o;
}

StatusOr<OptimizerOptions> OptimizerOptions::FromJson(const Json& json, const std::string& source) {
  if (!json.is_object()) return OptionError(source, "optimizer", "must be a mapping, got " + json.dump());
  auto type = json.find("type");
  std::string name = "adam";
  if (type != json.end()) {
    if (!type->is_string()) return OptionError(source, "type", "must be a string, got " + type->dump());
    name = type->get<std::string>();
  }
  auto made = FromName(name);
  if (!made.ok()) return OptionError(source, "type", made.status().message());
  OptimizerOptions o = *made;
  for (const auto& [key, value] : json.items()) {
    double* field = key == "learning_rate" ? &o.learning_rate
                    : key == "beta1"       ? &o.beta1
                    : key == "beta2"       ? &o.beta2
                    : key == "epsilon"     ? &o.epsilon
                    : key == "momentum"    ? &o.momentum
                                           : nullptr;
    if (key == "type") continue;
    if (!field) return OptionError(source, key, "unknown optimizer option");
    if (!value.is_number()) return OptionError(source, key, "must be a number, got " + value.dump());
    *field = value.get<double>();
  }
  return o;
}

Json OptimizerOptions::ToJson() const {
  Json j = Json::object();
  j["type"] = type;
  j["learning_rate"] = learning_rate;
  if (type == "adam") {
    j["beta1"] = beta1;
    j["beta2"] = beta2;
    j["epsilon"] = epsilon;
  } else {
    j["momentum"] = momentum;
  }
  return j;
}

Optimizer::Optimizer(const OptimizerOptions& options) : options_(options) {
  if (options_.num_threads > 1) pool_ = ComputePool::Get(options_.num_threads);
}

StatusOr<std::unique_ptr<Optimizer>> Optimizer::Create(const OptimizerOptions& options) {
  if (options.type != "adam" && options.type != "sgd")
    return OptionError("", "optimizer.type", "unknown optimizer \"" + options.type + "\" (want adam or sgd)");
  auto positive = [](double x) { return std::isfinite(x) && x > 0; };
  if (!positive(options.learning_rate))
    return OptionError("", "optimizer.learning_rate", "must be a positive number, got " + std::to_string(options.learning_rate));
  if (options.type == "adam") {
    if (!(options.beta1 >= 0 && options.beta1 < 1)) return OptionError("", "optimizer.beta1", "must be in [0, 1)");
    if (!(options.beta2 >= 0 && options.beta2 < 1)) return OptionError("", "optimizer.beta2", "must be in [0, 1)");
    if (!positive(options.epsilon)) return OptionError("", "optimizer.epsilon", "must be a positive number");
  } else if (!(options.momentum >= 0 && options.momentum < 1)) {
    return OptionError("", "optimizer.momentum", "must be in [0, 1)");
  }
  if (options.num_threads < 1) return OptionError("", "optimizer.num_threads", "must be at least 1");
  return std::unique_ptr<Optimizer>(new Optimizer(options));
}

std::vector<std::string> Optimizer::SlotSuffixes() const {
  if (options_.type == "adam") return {"/Adam", "/Adam_1"};
  return {"/Momentum"};
}

Tensor& Optimizer::Slot(const std::string& name, const std::vector<int64_t>& shape) {
  auto it = slot_index_.find(name);
  if (it == slot_index_.end()) {
    it = slot_index_.emplace(name, slots_.size()).first;
    slots_.push_back({name, Tensor(shape)});
  }
  Tensor& slot = slots_[it->second].tensor;
  LOOM_CHECK(slot.shape() == shape) << "optimizer slot " << name << " has shape " << ShapeString(slot.shape())
                                    << " but its parameter has " << ShapeString(shape)
                                    << " (LoadState with the parameters checks this)";
  return slot;
}

void Optimizer::Apply(std::vector<Parameter>& params) {
  ++step_;
  const bool adam = options_.type == "adam";
  const float lr = adam ? AdamLearningRate(options_.learning_rate, options_.beta1, options_.beta2, step_)
                        : static_cast<float>(options_.learning_rate);
  // Per parameter: w, g and one or two slots.
  struct Work {
    float *w, *m, *v;
    const float* g;
    int64_t size;
  };
  std::vector<Work> work;
  work.reserve(params.size());
  int64_t total = 0;
  const std::vector<std::string> suffixes = SlotSuffixes();
  for (Parameter& p : params) {
    LOOM_CHECK(p.grad.shape() == p.value.shape()) << p.name << ": grad and value shapes differ";
    Work w{p.value.data(), Slot(p.name + suffixes[0], p.value.shape()).data(), nullptr, p.grad.data(), p.value.size()};
    if (adam) w.v = Slot(p.name + suffixes[1], p.value.shape()).data();
    work.push_back(w);
    total += w.size;
  }
  const float b1 = static_cast<float>(options_.beta1), b2 = static_cast<float>(options_.beta2);
  const float eps = static_cast<float>(options_.epsilon), mom = static_cast<float>(options_.momentum);
  // Elements [begin, end) of all parameters laid end to end.
  auto update = [&](int64_t begin, int64_t end) {
    kernels::ScopedFlushDenormal flush;
    int64_t offset = 0;
    for (const Work& w : work) {
      const int64_t b = std::max(begin, offset), e = std::min(end, offset + w.size);
      if (b < e) {
        const int64_t o = b - offset;
        if (adam) {
          AdamUpdate(w.w + o, w.g + o, w.m + o, w.v + o, e - b, lr, b1, b2, eps);
        } else {
          MomentumUpdate(w.w + o, w.g + o, w.m + o, e - b, lr, mom);
        }
      }
      offset += w.size;
    }
  };
  if (pool_) {
    // Split on 16-float boundaries so that threads never share a cache line of one array.
    const int64_t blocks = (total + 15) / 16;
    pool_->ParallelFor(blocks, [&](int, int64_t b, int64_t e) { update(b * 16, std::min(e * 16, total)); });
  } else {
    update(0, total);
  }
}

std::vector<NamedTensor> Optimizer::SaveState() const {
  std::vector<NamedTensor> out;
  Tensor step(std::vector<int64_t>{});
  step[0] = static_cast<float>(step_);
  out.push_back({kStepName, std::move(step)});
  for (const NamedTensor& s : slots_) out.push_back(s);
  return out;
}

Status Optimizer::LoadState(const std::vector<NamedTensor>& tensors, const std::string& source) {
  const std::vector<std::string> suffixes = SlotSuffixes();
  std::optional<int64_t> step;
  std::vector<NamedTensor> slots;
  std::map<std::string, size_t> index;
  for (const NamedTensor& t : tensors) {
    if (t.name == kStepName) {
      const float v = t.tensor.size() == 1 ? t.tensor[0] : -1.0f;
      if (t.tensor.size() != 1 || !(v >= 0) || v != std::floor(v) || v > 16777216.0f)
        return DataLoss(source + ": optimizer state " + t.name + " must be one non-negative integer, got shape " +
                        ShapeString(t.tensor.shape()));
      step = static_cast<int64_t>(v);
      continue;
    }
    bool mine = false;
    for (const std::string& s : suffixes) {
      mine = mine || (t.name.size() > s.size() && t.name.compare(t.name.size() - s.size(), s.size(), s) == 0);
    }
    if (!mine)
      return InvalidArgument(source + ": optimizer state " + t.name + " is not a slot of the " +
                             options_.type + " optimizer (its slots end in " + suffixes[0] +
                             (suffixes.size() > 1 ? " and " + suffixes[1] : "") + ")");
    if (!index.emplace(t.name, slots.size()).second)
      return InvalidArgument(source + ": optimizer state " + t.name + " appears twice");
    slots.push_back(t);
  }
  if (!step) return InvalidArgument(source + ": optimizer state has no " + kStepName);
  step_ = *step;
  slots_ = std::move(slots);
  slot_index_ = std::move(index);
  return OkStatus();
}

Status Optimizer::LoadState(const std::vector<NamedTensor>& tensors, const std::string& source,
                            const std::vector<Parameter>& params) {
  const std::vector<std::string> suffixes = SlotSuffixes();
  std::map<std::string, const Tensor*> by_name;
  for (const NamedTensor& t : tensors) by_name[t.name] = &t.tensor;
  for (const Parameter& p : params) {
    for (const std::string& s : suffixes) {
      auto it = by_name.find(p.name + s);
      if (it == by_name.end()) {
        if (tensors.size() <= 1) continue;  // only a step: no update applied yet, no slots
        return InvalidArgument(source + ": optimizer state has no " + p.name + s);
      }
      if (it->second->shape() != p.value.shape())
        return InvalidArgument(source + ": " + p.name + s + " has shape " + ShapeString(it->second->shape()) +
                               ", the parameter has " + ShapeString(p.value.shape()));
    }
  }
  std::set<std::string> slot_names;
  for (const Parameter& p : params)
    for (const std::string& suffix : suffixes) slot_names.insert(p.name + suffix);
  for (const NamedTensor& t : tensors) {
    if (t.name != kStepName && !slot_names.count(t.name) &&
        std::any_of(suffixes.begin(), suffixes.end(), [&](const std::string& suffix) {
          return t.name.size() > suffix.size() && t.name.ends_with(suffix);
        })) {
      return InvalidArgument(source + ": optimizer state " + t.name + " is not a slot of any parameter");
    }
  }
  return LoadState(tensors, source);
}

}  // namespace loom::nn
