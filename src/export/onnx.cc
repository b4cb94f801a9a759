#include "export/onnx.h"

#include <map>
#include <memory>

#include "core/file.h"
#include "nn/model.h"
#include "onnx/onnx.pb.h"

namespace loom::exporter {
namespace {

namespace pb = ::loom::onnx;

constexpr int64_t kIrVersion = 7;  // IR version of opset 13 (ONNX 1.8)

void AddInts(pb::NodeProto* node, const std::string& name, const std::vector<int64_t>& values) {
  pb::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(pb::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

void AddInt(pb::NodeProto* node, const std::string& name, int64_t value) {
  pb::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(pb::AttributeProto::INT);
  a->set_i(value);
}

void SetTensorType(pb::ValueInfoProto* v, const std::string& name, int32_t elem_type,
                   const std::vector<int64_t>& dims_after_batch) {
  v->set_name(name);
  pb::TypeProto::Tensor* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(elem_type);
  pb::TensorShapeProto* shape = t->mutable_shape();
  shape->add_dim()->set_dim_param("N");
  for (int64_t d : dims_after_batch) shape->add_dim()->set_dim_value(d);
}

// Builds the graph one node at a time; each node's output is a fresh value name.
class GraphBuilder {
 public:
  explicit GraphBuilder(pb::GraphProto* graph) : graph_(graph) {}

  // Adds op_type(inputs...) and returns its output's name (`output` if given).
  pb::NodeProto* Add(const std::string& op_type, const std::string& name,
                     const std::vector<std::string>& inputs, const std::string& output) {
    pb::NodeProto* node = graph_->add_node();
    node->set_op_type(op_type);
    node->set_name(name);
    for (const std::string& in : inputs) node->add_input(in);
    node->add_output(output);
    return node;
  }

  void Initializer(const std::string& name, const std::vector<int64_t>& dims, const float* data) {
    pb::TensorProto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(pb::TensorProto::FLOAT);
    int64_t n = 1;
    for (int64_t d : dims) {
      t->add_dims(d);
      n *= d;
    }
    // raw_data is little-endian; so is every machine Loom builds for.
    t->set_raw_data(reinterpret_cast<const char*>(data), static_cast<size_t>(n) * sizeof(float));
  }

  void Int64Initializer(const std::string& name, const std::vector<int64_t>& values) {
    pb::TensorProto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(pb::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(values.size()));
    for (int64_t v : values) t->add_int64_data(v);
  }

 private:
  pb::GraphProto* graph_;
};

// ONNX pads [top, left, bottom, right] for TF's padding rule on an NHWC input [h, w, c].
std::vector<int64_t> Pads(const std::vector<int64_t>& in, const std::array<int64_t, 2>& window,
                          const std::array<int64_t, 2>& strides, nn::Padding padding) {
  int64_t before[2], after[2];
  for (int k = 0; k < 2; ++k) {
    const int64_t out = nn::ConvOutputSize(in[k], window[k], strides[k], padding);
    before[k] = nn::PaddingBefore(in[k], window[k], strides[k], padding);
    after[k] = std::max<int64_t>((out - 1) * strides[k] + window[k] - in[k] - before[k], 0);
  }
  return {before[0], before[1], after[0], after[1]};
}

}  // namespace

StatusOr<std::string> EncodeOnnx(const nn::ModelSpec& spec, const std::vector<nn::NamedTensor>& weights,
                                 const OnnxOptions& options) {
  // The model checks the spec and that the weights are exactly its parameters.
  nn::ModelOptions model_options;
  model_options.max_batch = 1;
  LOOM_ASSIGN_OR_RETURN(std::unique_ptr<nn::Model> model, nn::Model::Create(spec, model_options));
  LOOM_RETURN_IF_ERROR(model->LoadParameters(weights, "ONNX export"));
  LOOM_ASSIGN_OR_RETURN(std::vector<std::vector<int64_t>> shapes, spec.InferShapes());
  std::map<std::string, const nn::Tensor*> params;
  for (const nn::Parameter& p : model->parameters()) params[p.name] = &p.value;

  pb::ModelProto m;
  m.set_ir_version(kIrVersion);
  pb::OperatorSetIdProto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  m.set_producer_name("loom");
  m.set_producer_version("1");
  m.set_model_version(options.model_version);
  m.set_doc_string("Loom model " + spec.name + ": images float[N," + std::to_string(model->input_size()) +
                   "] -> scores float[N,10] (softmax), classes int64[N]");
  pb::StringStringEntryProto* step = m.add_metadata_props();
  step->set_key("global_step");
  step->set_value(std::to_string(options.global_step));
  pb::GraphProto* g = m.mutable_graph();
  g->set_name(options.graph_name);
  SetTensorType(g->add_input(), "images", pb::TensorProto::FLOAT, {model->input_size()});
  SetTensorType(g->add_output(), "scores", pb::TensorProto::FLOAT, {nn::kNumClasses});
  SetTensorType(g->add_output(), "classes", pb::TensorProto::INT64, {});

  GraphBuilder b(g);
  std::string x = "images";
  std::vector<int64_t> shape = spec.input_shape;  // per example, Loom's layout (NHWC)
  // Activations of rank 3 are held as NCHW in the graph; `nchw` says they are now.
  bool nchw = false;
  if (shape.size() > 1) {
    std::vector<int64_t> target{-1};
    target.insert(target.end(), shape.begin(), shape.end());
    b.Int64Initializer("input_shape", target);
    b.Add("Reshape", "input_reshape", {x, "input_shape"}, "images_nhwc");
    x = "images_nhwc";
    if (shape.size() == 3) {
      AddInts(b.Add("Transpose", "input_to_nchw", {x}, "images_nchw"), "perm", {0, 3, 1, 2});
      x = "images_nchw";
      nchw = true;
    }
  }
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const nn::LayerSpec& l = spec.layers[i];
    const std::string out = l.name;
    switch (l.type) {
      case nn::LayerType::kDense: {
        // Loom's kernel is [in, out]: Gemm with B as is.
        const nn::Tensor* kernel = params.at(l.name + "/kernel");
        const nn::Tensor* bias = params.at(l.name + "/bias");
        b.Initializer(l.name + "/kernel", kernel->shape(), kernel->data());
        b.Initializer(l.name + "/bias", bias->shape(), bias->data());
        b.Add("Gemm", l.name, {x, l.name + "/kernel", l.name + "/bias"}, out);
        break;
      }
      case nn::LayerType::kRelu:
        b.Add("Relu", l.name, {x}, out);
        break;
      case nn::LayerType::kFlatten: {
        // Loom flattens NHWC rows: go back to NHWC first.
        if (nchw) {
          AddInts(b.Add("Transpose", l.name + "/to_nhwc", {x}, l.name + "/nhwc"), "perm", {0, 2, 3, 1});
          x = l.name + "/nhwc";
          nchw = false;
        }
        AddInt(b.Add("Flatten", l.name, {x}, out), "axis", 1);
        break;
      }
      case nn::LayerType::kConv2D: {
        // HWIO [kh, kw, in, out] -> OIHW [out, in, kh, kw].
        const nn::Tensor* kernel = params.at(l.name + "/kernel");
        const nn::Tensor* bias = params.at(l.name + "/bias");
        const int64_t kh = kernel->dim(0), kw = kernel->dim(1), ci = kernel->dim(2), co = kernel->dim(3);
        std::vector<float> oihw(static_cast<size_t>(kernel->size()));
        for (int64_t y = 0; y < kh; ++y)
          for (int64_t xk = 0; xk < kw; ++xk)
            for (int64_t c = 0; c < ci; ++c)
              for (int64_t o = 0; o < co; ++o)
                oihw[((o * ci + c) * kh + y) * kw + xk] = (*kernel)[((y * kw + xk) * ci + c) * co + o];
        b.Initializer(l.name + "/kernel", {co, ci, kh, kw}, oihw.data());
        b.Initializer(l.name + "/bias", bias->shape(), bias->data());
        pb::NodeProto* node = b.Add("Conv", l.name, {x, l.name + "/kernel", l.name + "/bias"}, out);
        AddInts(node, "kernel_shape", {kh, kw});
        AddInts(node, "strides", {l.strides[0], l.strides[1]});
        AddInts(node, "pads", Pads(shape, l.kernel_size, l.strides, l.padding));
        break;
      }
      case nn::LayerType::kMaxPool: {
        pb::NodeProto* node = b.Add("MaxPool", l.name, {x}, out);
        AddInts(node, "kernel_shape", {l.pool_size[0], l.pool_size[1]});
        AddInts(node, "strides", {l.strides[0], l.strides[1]});
        AddInts(node, "pads", Pads(shape, l.pool_size, l.strides, l.padding));
        break;
      }
    }
    x = out;
    shape = shapes[i];
  }
  AddInt(b.Add("Softmax", "softmax", {x}, "scores"), "axis", 1);
  pb::NodeProto* argmax = b.Add("ArgMax", "argmax", {"scores"}, "classes");
  AddInt(argmax, "axis", 1);
  AddInt(argmax, "keepdims", 0);

  std::string bytes;
  if (!m.SerializeToString(&bytes)) return Internal("ONNX export: the model does not serialize");
  return bytes;
}

Status WriteOnnx(const std::string& path, const nn::ModelSpec& spec, const std::vector<nn::NamedTensor>& weights,
                 const OnnxOptions& options) {
  StatusOr<std::string> bytes = EncodeOnnx(spec, weights, options);
  if (!bytes.ok()) return bytes.status().WithPrefix(path);
  return WriteFileAtomic(path, *bytes);
}

}  // namespace loom::exporter
