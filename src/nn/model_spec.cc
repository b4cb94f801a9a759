#include "nn/model_spec.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "nn/tensor.h"

namespace loom::nn {
namespace {

constexpr LayerType kAllTypes[] = {LayerType::kDense, LayerType::kRelu, LayerType::kConv2D,
                                   LayerType::kMaxPool, LayerType::kFlatten};

// The keys each layer type accepts (besides "type" and "name").
std::set<std::string> AllowedKeys(LayerType type) {
  switch (type) {
    case LayerType::kDense: return {"units", "init_stddev"};
    case LayerType::kConv2D: return {"filters", "kernel_size", "strides", "padding", "init_stddev"};
    case LayerType::kMaxPool: return {"pool_size", "strides", "padding"};
    case LayerType::kRelu:
    case LayerType::kFlatten: return {};
  }
  return {};
}

std::string Quoted(const std::string& s) { return "\"" + s + "\""; }

Status FieldError(const std::string& field, const std::string& message) {
  return InvalidArgument(field + ": " + message);
}

StatusOr<int64_t> PositiveInt(const Json& j, const std::string& field) {
  if (!j.is_number_integer() || j.get<int64_t>() <= 0)
    return FieldError(field, "must be a positive integer, got " + j.dump());
  return j.get<int64_t>();
}

// 5 or [5, 5] -> {5, 5}.
StatusOr<std::array<int64_t, 2>> PositivePair(const Json& j, const std::string& field) {
  if (j.is_array()) {
    if (j.size() != 2) return FieldError(field, "must be an integer or a list of 2, got " + j.dump());
    LOOM_ASSIGN_OR_RETURN(int64_t h, PositiveInt(j[0], JoinField(field, 0)));
    LOOM_ASSIGN_OR_RETURN(int64_t w, PositiveInt(j[1], JoinField(field, 1)));
    return std::array<int64_t, 2>{h, w};
  }
  LOOM_ASSIGN_OR_RETURN(int64_t v, PositiveInt(j, field));
  return std::array<int64_t, 2>{v, v};
}

StatusOr<Padding> ParsePadding(const Json& j, const std::string& field) {
  if (j.is_string()) {
    std::string s = j.get<std::string>();
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    if (s == "same") return Padding::kSame;
    if (s == "valid") return Padding::kValid;
  }
  return FieldError(field, "must be \"same\" or \"valid\", got " + j.dump());
}

StatusOr<LayerSpec> ParseLayer(const Json& j, const std::string& field) {
  if (!j.is_object()) return FieldError(field, "must be a mapping with a \"type\", got " + j.dump());
  LayerSpec layer;
  auto type_it = j.find("type");
  if (type_it == j.end()) return FieldError(JoinField(field, "type"), "is required");
  if (!type_it->is_string())
    return FieldError(JoinField(field, "type"), "must be a string, got " + type_it->dump());
  const std::string type = type_it->get<std::string>();
  bool known = false;
  for (LayerType t : kAllTypes) {
    if (type == LayerTypeName(t)) {
      layer.type = t;
      known = true;
    }
  }
  if (!known) {
    return FieldError(JoinField(field, "type"),
                      "unknown layer type " + Quoted(type) +
                          " (want dense, relu, conv2d, max_pool or flatten)");
  }
  const std::set<std::string> allowed = AllowedKeys(layer.type);
  for (const auto& [key, value] : j.items()) {
    if (key != "type" && key != "name" && !allowed.count(key))
      return FieldError(JoinField(field, key), "unknown key for a " + type + " layer");
  }
  if (auto it = j.find("name"); it != j.end()) {
    if (!it->is_string() || it->get<std::string>().empty())
      return FieldError(JoinField(field, "name"), "must be a non-empty string, got " + it->dump());
    layer.name = it->get<std::string>();
    if (layer.name.find('/') != std::string::npos)
      return FieldError(JoinField(field, "name"), "must not contain '/', got " + Quoted(layer.name));
  }
  auto required = [&](const char* key) -> StatusOr<const Json*> {
    auto it = j.find(key);
    if (it == j.end()) return FieldError(JoinField(field, key), std::string("is required for a ") + type + " layer");
    return &*it;
  };
  if (auto it = j.find("init_stddev"); it != j.end()) {
    if (!it->is_number() || !(it->get<double>() > 0) || !std::isfinite(it->get<double>()))
      return FieldError(JoinField(field, "init_stddev"), "must be a positive number, got " + it->dump());
    layer.init_stddev = it->get<double>();
  }
  switch (layer.type) {
    case LayerType::kDense: {
      LOOM_ASSIGN_OR_RETURN(const Json* units, required("units"));
      LOOM_ASSIGN_OR_RETURN(layer.units, PositiveInt(*units, JoinField(field, "units")));
      break;
    }
    case LayerType::kConv2D: {
      LOOM_ASSIGN_OR_RETURN(const Json* filters, required("filters"));
      LOOM_ASSIGN_OR_RETURN(layer.filters, PositiveInt(*filters, JoinField(field, "filters")));
      LOOM_ASSIGN_OR_RETURN(const Json* kernel, required("kernel_size"));
      LOOM_ASSIGN_OR_RETURN(layer.kernel_size, PositivePair(*kernel, JoinField(field, "kernel_size")));
      layer.padding = Padding::kSame;
      break;
    }
    case LayerType::kMaxPool: {
      LOOM_ASSIGN_OR_RETURN(const Json* pool, required("pool_size"));
      LOOM_ASSIGN_OR_RETURN(layer.pool_size, PositivePair(*pool, JoinField(field, "pool_size")));
      layer.strides = layer.pool_size;
      layer.padding = Padding::kValid;
      break;
    }
    case LayerType::kRelu:
    case LayerType::kFlatten:
      break;
  }
  if (layer.type == LayerType::kConv2D || layer.type == LayerType::kMaxPool) {
    // Over the defaults set above (conv: stride 1, same; pool: stride = pool_size, valid).
    if (auto it = j.find("strides"); it != j.end()) {
      LOOM_ASSIGN_OR_RETURN(layer.strides, PositivePair(*it, JoinField(field, "strides")));
    }
    if (auto it = j.find("padding"); it != j.end()) {
      LOOM_ASSIGN_OR_RETURN(layer.padding, ParsePadding(*it, JoinField(field, "padding")));
    }
  }
  return layer;
}

// Fills default names and checks that every name is unique.
Status NameLayers(std::vector<LayerSpec>& layers) {
  std::map<LayerType, int> count;
  for (LayerSpec& layer : layers) {
    int k = count[layer.type]++;
    if (layer.name.empty()) layer.name = std::string(LayerTypeName(layer.type)) + "_" + std::to_string(k);
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (!seen.insert(layers[i].name).second)
      return FieldError(JoinField(JoinField("layers", i), "name"), "duplicate layer name " + Quoted(layers[i].name));
  }
  return OkStatus();
}

Json PairJson(const std::array<int64_t, 2>& p) { return Json::array({p[0], p[1]}); }

}  // namespace

const char* LayerTypeName(LayerType type) {
  switch (type) {
    case LayerType::kDense: return "dense";
    case LayerType::kRelu: return "relu";
    case LayerType::kConv2D: return "conv2d";
    case LayerType::kMaxPool: return "max_pool";
    case LayerType::kFlatten: return "flatten";
  }
  return "?";
}

const char* PaddingName(Padding padding) { return padding == Padding::kSame ? "same" : "valid"; }

int64_t ConvOutputSize(int64_t input, int64_t window, int64_t stride, Padding padding) {
  if (padding == Padding::kSame) return (input + stride - 1) / stride;
  return input >= window ? (input - window) / stride + 1 : 0;
}

int64_t PaddingBefore(int64_t input, int64_t window, int64_t stride, Padding padding) {
  if (padding == Padding::kValid) return 0;
  int64_t out = ConvOutputSize(input, window, stride, padding);
  return std::max<int64_t>((out - 1) * stride + window - input, 0) / 2;
}

StatusOr<ModelSpec> ModelSpec::FromJson(const Json& json, const std::string& source) {
  auto parse = [&]() -> StatusOr<ModelSpec> {
    if (!json.is_object())
      return InvalidArgument("a model spec must be a mapping with input_shape and layers, got " + json.dump());
    for (const auto& [key, value] : json.items()) {
      if (key != "name" && key != "input_shape" && key != "layers")
        return FieldError(key, "unknown key (want name, input_shape, layers)");
    }
    ModelSpec spec;
    if (auto it = json.find("name"); it != json.end()) {
      if (!it->is_string()) return FieldError("name", "must be a string, got " + it->dump());
      spec.name = it->get<std::string>();
    }
    auto shape = json.find("input_shape");
    if (shape == json.end()) return FieldError("input_shape", "is required");
    if (!shape->is_array() || shape->empty())
      return FieldError("input_shape", "must be a non-empty list of positive integers, got " + shape->dump());
    for (size_t i = 0; i < shape->size(); ++i) {
      LOOM_ASSIGN_OR_RETURN(int64_t d, PositiveInt((*shape)[i], JoinField("input_shape", i)));
      spec.input_shape.push_back(d);
    }
    auto layers = json.find("layers");
    if (layers == json.end()) return FieldError("layers", "is required");
    if (!layers->is_array() || layers->empty())
      return FieldError("layers", "must be a non-empty list of layers, got " + layers->dump());
    for (size_t i = 0; i < layers->size(); ++i) {
      LOOM_ASSIGN_OR_RETURN(LayerSpec layer, ParseLayer((*layers)[i], JoinField("layers", i)));
      spec.layers.push_back(std::move(layer));
    }
    LOOM_RETURN_IF_ERROR(NameLayers(spec.layers));
    LOOM_RETURN_IF_ERROR(spec.InferShapes().status());
    return spec;
  };
  StatusOr<ModelSpec> spec = parse();
  if (!spec.ok()) return spec.status().WithPrefix(source);
  return spec;
}

StatusOr<ModelSpec> ModelSpec::FromFile(const std::string& path) {
  LOOM_ASSIGN_OR_RETURN(Json json, ReadJsonOrYamlFile(path));
  return FromJson(json, path);
}

Json ModelSpec::ToJson() const {
  Json j = Json::object();
  j["name"] = name;
  j["input_shape"] = input_shape;
  Json layers_json = Json::array();
  for (const LayerSpec& l : layers) {
    Json lj = Json::object();
    lj["type"] = LayerTypeName(l.type);
    lj["name"] = l.name;
    switch (l.type) {
      case LayerType::kDense:
        lj["units"] = l.units;
        break;
      case LayerType::kConv2D:
        lj["filters"] = l.filters;
        lj["kernel_size"] = PairJson(l.kernel_size);
        lj["strides"] = PairJson(l.strides);
        lj["padding"] = PaddingName(l.padding);
        break;
      case LayerType::kMaxPool:
        lj["pool_size"] = PairJson(l.pool_size);
        lj["strides"] = PairJson(l.strides);
        lj["padding"] = PaddingName(l.padding);
        break;
      case LayerType::kRelu:
      case LayerType::kFlatten:
        break;
    }
    if (l.init_stddev) lj["init_stddev"] = *l.init_stddev;
    layers_json.push_back(std::move(lj));
  }
  j["layers"] = std::move(layers_json);
  return j;
}

ModelSpec ModelSpec::Mlp(int hidden_units) {
  ModelSpec spec;
  spec.name = "mnist_mlp";
  spec.input_shape = {784};
  LayerSpec hidden;
  hidden.type = LayerType::kDense;
  hidden.name = "dense_0";
  hidden.units = hidden_units;
  LayerSpec relu;
  relu.type = LayerType::kRelu;
  relu.name = "relu_0";
  LayerSpec logits;
  logits.type = LayerType::kDense;
  logits.name = "dense_1";
  logits.units = kNumClasses;
  spec.layers = {hidden, relu, logits};
  return spec;
}

StatusOr<std::vector<std::vector<int64_t>>> ModelSpec::InferShapes() const {
  if (input_shape.empty()) return FieldError("input_shape", "must not be empty");
  for (size_t i = 0; i < input_shape.size(); ++i)
    if (input_shape[i] <= 0) return FieldError(JoinField("input_shape", i), "must be a positive integer");
  if (layers.empty()) return FieldError("layers", "must not be empty");
  std::vector<std::vector<int64_t>> out;
  std::vector<int64_t> shape = input_shape;
  std::set<std::string> names;
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerSpec& l = layers[i];
    const std::string field = JoinField("layers", i);
    const std::string type = LayerTypeName(l.type);
    if (l.name.empty() || l.name.find('/') != std::string::npos || !names.insert(l.name).second)
      return FieldError(JoinField(field, "name"), "must be a unique non-empty name without '/', got " + Quoted(l.name));
    auto need_rank = [&](size_t rank) -> Status {
      if (shape.size() == rank) return OkStatus();
      return FieldError(field, type + " needs a rank-" + std::to_string(rank) + " input, got " +
                                   ShapeString(shape) + (rank == 1 ? " (add a flatten layer)" : ""));
    };
    switch (l.type) {
      case LayerType::kDense:
        LOOM_RETURN_IF_ERROR(need_rank(1));
        if (l.units <= 0) return FieldError(JoinField(field, "units"), "must be a positive integer");
        shape = {l.units};
        break;
      case LayerType::kRelu:
        break;
      case LayerType::kFlatten: {
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        shape = {n};
        break;
      }
      case LayerType::kConv2D:
      case LayerType::kMaxPool: {
        LOOM_RETURN_IF_ERROR(need_rank(3));
        const bool conv = l.type == LayerType::kConv2D;
        const auto& window = conv ? l.kernel_size : l.pool_size;
        const char* window_key = conv ? "kernel_size" : "pool_size";
        for (int k = 0; k < 2; ++k) {
          if (window[k] <= 0) return FieldError(JoinField(field, window_key), "must be positive");
          if (l.strides[k] <= 0) return FieldError(JoinField(field, "strides"), "must be positive");
        }
        if (conv && l.filters <= 0) return FieldError(JoinField(field, "filters"), "must be a positive integer");
        int64_t oh = ConvOutputSize(shape[0], window[0], l.strides[0], l.padding);
        int64_t ow = ConvOutputSize(shape[1], window[1], l.strides[1], l.padding);
        if (oh <= 0 || ow <= 0) {
          return FieldError(JoinField(field, window_key),
                            std::to_string(window[0]) + "x" + std::to_string(window[1]) +
                                " does not fit the input " + ShapeString(shape) + " with valid padding");
        }
        shape = {oh, ow, conv ? l.filters : shape[2]};
        break;
      }
    }
    out.push_back(shape);
  }
  if (shape != std::vector<int64_t>{kNumClasses}) {
    return FieldError(JoinField("layers", layers.size() - 1),
                      "the last layer must produce " + std::to_string(kNumClasses) +
                          " logits, got " + ShapeString(shape));
  }
  return out;
}

Status ModelSpec::Validate(const std::string& source) const {
  Status s = InferShapes().status();
  return s.ok() ? s : s.WithPrefix(source);
}

}  // namespace loom::nn
