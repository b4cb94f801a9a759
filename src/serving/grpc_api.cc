#include "serving/grpc_api.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>
#include <vector>


namespace loom::serving {
namespace {

using google::protobuf::Message;

constexpr char kPredictMethod[] = "tensorflow/serving/predict";
constexpr char kDefaultSignature[] = "serving_default";
// The signatures a Loom bundle answers under (Kubeflow's example exported both).
bool KnownSignature(const std::string& name) { return name == kDefaultSignature || name == "predict_images"; }

// A field the wire carried that proto/tfserving does not declare: refused, never ignored.
Status RefuseUnknownFields(const Message& message, const std::string& where) {
  const auto& unknown = message.GetReflection()->GetUnknownFields(message);
  if (unknown.empty()) return OkStatus();
  return InvalidArgument(where + ": field " + std::to_string(unknown.field(0).number()) +
                         " is not one Loom acts on");
}

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

}  // namespace

tensorflow::error::Code ErrorCodeOf(const Status& s) {
  tensorflow::error::Code code = tensorflow::error::UNKNOWN;
  if (!tensorflow::error::Code_Parse(StatusCodeName(s.code()), &code)) return tensorflow::error::UNKNOWN;
  return code;
}

namespace {

int64_t MicrosSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start)
      .count();
}

void SetShape(std::initializer_list<int64_t> dims, tensorflow::TensorShapeProto* shape) {
  for (int64_t d : dims) shape->add_dim()->set_size(d);
}

// TF Serving's SignatureDef of a classifier servable: images in, scores and classes out.
tensorflow::SignatureDef SignatureDefOf(const Signature& sig) {
  tensorflow::SignatureDef def;
  def.set_method_name(kPredictMethod);
  tensorflow::TensorInfo& in = (*def.mutable_inputs())[sig.input_name];
  in.set_name(sig.input_name);
  in.set_dtype(tensorflow::DT_FLOAT);
  SetShape({-1}, in.mutable_tensor_shape());
  for (int64_t d : sig.input_shape) in.mutable_tensor_shape()->add_dim()->set_size(d);
  tensorflow::TensorInfo& scores = (*def.mutable_outputs())[sig.scores_name];
  scores.set_name(sig.scores_name);
  scores.set_dtype(tensorflow::DT_FLOAT);
  SetShape({-1, sig.num_classes}, scores.mutable_tensor_shape());
  tensorflow::TensorInfo& classes = (*def.mutable_outputs())[sig.classes_name];
  classes.set_name(sig.classes_name);
  classes.set_dtype(tensorflow::DT_INT64);
  SetShape({-1}, classes.mutable_tensor_shape());
  return def;
}

// The images of a predict request's input tensor: DT_FLOAT, shape [n, input_size] or
// [n, input_shape...], values in tensor_content or float_val (fewer float_val than elements
// repeat the last one, as TensorFlow reads a TensorProto). Sets *n, and *values when the
// tensor's own floats cannot be used in place (tensor_content, a short float_val).
StatusOr<const float*> ReadImages(const tensorflow::TensorProto& t, const Signature& sig, const std::string& where,
                                  int64_t* n, std::vector<float>* values) {
  LOOM_RETURN_IF_ERROR(RefuseUnknownFields(t, where));
  if (t.dtype() != tensorflow::DT_FLOAT)
    return InvalidArgument(where + ": dtype " + tensorflow::DataType_Name(t.dtype()) +
                           " is not the signature's DT_FLOAT");
  if (t.version_number() != 0) return InvalidArgument(where + ".version_number: is not one Loom acts on");
  if (t.double_val_size() || t.int_val_size() || t.string_val_size() || t.int64_val_size())
    return InvalidArgument(where + ": a DT_FLOAT tensor holds its values in float_val or tensor_content");
  const tensorflow::TensorShapeProto& shape = t.tensor_shape();
  LOOM_RETURN_IF_ERROR(RefuseUnknownFields(shape, where + ".tensor_shape"));
  if (shape.unknown_rank()) return InvalidArgument(where + ".tensor_shape: unknown_rank in a request");
  std::string dims;
  for (const auto& d : shape.dim()) {
    LOOM_RETURN_IF_ERROR(RefuseUnknownFields(d, where + ".tensor_shape.dim"));
    if (!d.name().empty()) return InvalidArgument(where + ".tensor_shape.dim.name: is not one Loom acts on");
    dims += (dims.empty() ? "" : ",") + std::to_string(d.size());
  }
  std::string want;
  for (int64_t d : sig.input_shape) want += "," + std::to_string(d);
  const auto& dim = shape.dim();
  bool ok = dim.size() >= 2 && dim[0].size() >= 1;
  if (ok && dim.size() == 2) {
    ok = dim[1].size() == sig.input_size;
  } else if (ok) {
    ok = dim.size() == static_cast<int>(sig.input_shape.size()) + 1;
    for (int i = 1; ok && i < dim.size(); ++i) ok = dim[i].size() == sig.input_shape[static_cast<size_t>(i - 1)];
  }
  if (!ok)
    return InvalidArgument(where + ": shape [" + dims + "] is not the signature's [-1" + want +
                           "] (or [-1," + std::to_string(sig.input_size) + "]) with at least one example");
  *n = dim[0].size();
  // A short float_val fills the whole shape, so the shape alone must not make the server
  // allocate without bound: the largest request gRPC takes by default (64 MiB of floats).
  constexpr int64_t kMaxValues = int64_t{16} << 20;
  if (*n > kMaxValues / sig.input_size)
    return InvalidArgument(where + ": shape [" + dims + "] holds more than " + std::to_string(kMaxValues) +
                           " values, the most Loom takes in one request");
  const int64_t count = *n * sig.input_size;
  if (!t.tensor_content().empty()) {
    if (t.float_val_size())
      return InvalidArgument(where + ": both tensor_content and float_val are set; send one");
    if (static_cast<int64_t>(t.tensor_content().size()) != count * 4)
      return InvalidArgument(where + ": tensor_content holds " + std::to_string(t.tensor_content().size()) +
                             " bytes, shape [" + dims + "] of DT_FLOAT needs " + std::to_string(count * 4));
    values->resize(static_cast<size_t>(count));
    std::memcpy(values->data(), t.tensor_content().data(), static_cast<size_t>(count) * 4);
    return values->data();
  }
  const int64_t given = t.float_val_size();
  if (given > count)
    return InvalidArgument(where + ": float_val holds " + std::to_string(given) + " values, shape [" + dims +
                           "] has " + std::to_string(count));
  if (given == count) return t.float_val().data();
  values->assign(static_cast<size_t>(count), given ? t.float_val(static_cast<int>(given - 1)) : 0.f);
  std::copy(t.float_val().begin(), t.float_val().end(), values->begin());
  return values->data();
}

// A predict in flight: what its completion needs.
struct PredictCall {
  std::vector<float> values;  // the images when they are not read in place
  tensorflow::TensorProto* scores = nullptr;   // null when filtered out
  tensorflow::TensorProto* classes = nullptr;  // null when filtered out
  std::vector<float> scores_out;               // when scores are filtered out
  int64_t n = 0, k = 0;
  std::string metric_model;  // the model label of its metrics
  std::chrono::steady_clock::time_point start;
  std::function<void(Status)> done;
};

}  // namespace

StatusOr<ServableRequest> GrpcApi::Which(const tfs::ModelSpec& spec, bool has_spec, const char* message) const {
  if (!has_spec) return InvalidArgument("Missing ModelSpec");
  LOOM_RETURN_IF_ERROR(RefuseUnknownFields(spec, std::string(message) + ".model_spec"));
  ServableRequest which;
  which.model = spec.name();
  if (spec.has_version()) {
    LOOM_RETURN_IF_ERROR(RefuseUnknownFields(spec.version(), std::string(message) + ".model_spec.version"));
    if (spec.version().value() < 0)
      return InvalidArgument(std::string(message) + ".model_spec.version: " +
                             std::to_string(spec.version().value()) + " is negative");
    which.version = spec.version().value();
  } else if (spec.version_choice_case() == tfs::ModelSpec::kVersionLabel) {
    if (spec.version_label().empty())
      return InvalidArgument(std::string(message) + ".model_spec.version_label: empty");
    which.label = spec.version_label();
  }
  return which;
}

std::string GrpcApi::MetricModel(const std::string& model) const {
  // Only names the server knows become label values (no unbounded label sets from clients).
  for (const std::string& m : manager_->ModelNames())
    if (m == model) return m;
  return "";
}

void GrpcApi::Predict(const tfs::PredictRequest& request, tfs::PredictResponse* response,
                      std::function<void(Status)> done) const {
  auto call = std::make_shared<PredictCall>();
  call->start = std::chrono::steady_clock::now();
  call->done = std::move(done);
  // Runs on the batch thread for a batched predict: it holds no pointer to this GrpcApi or the
  // manager, only metrics (which outlive the servables' queues).
  ServingMetrics* metrics = metrics_;
  if (metrics != nullptr) call->metric_model = MetricModel(request.model_spec().name());
  auto finish = [metrics, call](const Status& s) {
    if (metrics != nullptr)
      metrics->Record(call->metric_model, "predict", "GRPC", s.ok() ? "OK" : StatusCodeName(s.code()),
                      MicrosSince(call->start));
    call->done(s);
  };
  Status s = RefuseUnknownFields(request, "PredictRequest");
  StatusOr<ServableRequest> which = s.ok() ? Which(request.model_spec(), request.has_model_spec(), "PredictRequest")
                                           : StatusOr<ServableRequest>(s);
  if (!which.ok()) return finish(which.status());
  auto handle = manager_->Get(*which);
  if (!handle.ok()) return finish(handle.status());
  const Signature& sig = handle->servable->signature();
  std::string signature_name = request.model_spec().signature_name();
  if (signature_name.empty()) signature_name = kDefaultSignature;
  if (!KnownSignature(signature_name))
    return finish(FailedPrecondition("Serving signature key \"" + signature_name + "\" not found."));
  if (request.inputs_size() == 1 && !request.inputs().contains(sig.input_name))
    return finish(InvalidArgument("input tensor alias not found in signature: " + request.inputs().begin()->first +
                                  ". Inputs expected to be in the set {" + sig.input_name + "}."));
  if (request.inputs_size() != 1) {
    std::vector<std::string> sent, extra;
    for (const auto& [name, tensor] : request.inputs()) {
      sent.push_back(name);
      if (name != sig.input_name) extra.push_back(name);
    }
    std::sort(sent.begin(), sent.end());
    std::sort(extra.begin(), extra.end());
    const bool missing = !request.inputs().contains(sig.input_name);
    return finish(InvalidArgument("input size does not match signature: " + std::to_string(request.inputs_size()) +
                                  "!=1 len({" + Join(sent) + "}) != len({" + sig.input_name +
                                  "}). Sent extra: {" + Join(extra) + "}. Missing but required: {" +
                                  (missing ? sig.input_name : "") + "}."));
  }
  bool want_scores = request.output_filter_size() == 0, want_classes = want_scores;
  for (const std::string& alias : request.output_filter()) {
    bool* want = alias == sig.scores_name ? &want_scores : alias == sig.classes_name ? &want_classes : nullptr;
    if (want == nullptr)
      return finish(InvalidArgument("output tensor alias not found in signature: " + alias +
                                    " Outputs expected to be in the set {" + sig.classes_name + "," +
                                    sig.scores_name + "}."));
    if (*want) return finish(InvalidArgument("duplicate output tensor alias: " + alias));
    *want = true;
  }
  const std::string where = "PredictRequest.inputs[\"" + sig.input_name + "\"]";
  auto images = ReadImages(request.inputs().at(sig.input_name), sig, where, &call->n, &call->values);
  if (!images.ok()) return finish(images.status());
  call->k = sig.num_classes;
  const int64_t n = call->n, k = call->k;

  tfs::ModelSpec* spec = response->mutable_model_spec();
  spec->set_name(which->model);
  spec->mutable_version()->set_value(handle->version);
  spec->set_signature_name(signature_name);
  auto* outputs = response->mutable_outputs();
  float* scores = nullptr;
  if (want_scores) {
    call->scores = &(*outputs)[sig.scores_name];
    call->scores->set_dtype(tensorflow::DT_FLOAT);
    SetShape({n, k}, call->scores->mutable_tensor_shape());
    call->scores->mutable_float_val()->Resize(static_cast<int>(n * k), 0.f);
    scores = call->scores->mutable_float_val()->mutable_data();
  } else {
    call->scores_out.resize(static_cast<size_t>(n * k));
    scores = call->scores_out.data();
  }
  if (want_classes) {
    call->classes = &(*outputs)[sig.classes_name];
    call->classes->set_dtype(tensorflow::DT_INT64);
    SetShape({n}, call->classes->mutable_tensor_shape());
  }
  // The servable outlives the callback (a batching servable finishes its queue before it goes);
  // the handle is not held there, so its last copy never goes on the batch thread.
  handle->servable->PredictAsync(*images, n, scores, [call, scores, finish](Status s) {
    if (s.ok() && call->classes != nullptr) {
      auto* classes = call->classes->mutable_int64_val();
      classes->Reserve(static_cast<int>(call->n));
      for (int64_t i = 0; i < call->n; ++i) {
        const float* row = scores + i * call->k;
        classes->Add(std::max_element(row, row + call->k) - row);
      }
    }
    finish(s);
  });
}

Status GrpcApi::GetModelMetadata(const tfs::GetModelMetadataRequest& request,
                                 tfs::GetModelMetadataResponse* response) const {
  LOOM_RETURN_IF_ERROR(RefuseUnknownFields(request, "GetModelMetadataRequest"));
  LOOM_ASSIGN_OR_RETURN(ServableRequest which,
                        Which(request.model_spec(), request.has_model_spec(), "GetModelMetadataRequest"));
  if (request.metadata_field_size() == 0)
    return InvalidArgument("GetModelMetadataRequest must specify at least one metadata_field");
  for (const std::string& field : request.metadata_field())
    if (field != "signature_def") return InvalidArgument("Metadata field " + field + " is not supported");
  LOOM_ASSIGN_OR_RETURN(ServableHandle handle, manager_->Get(which));
  if (!request.model_spec().signature_name().empty())
    return InvalidArgument("GetModelMetadataRequest.model_spec.signature_name: metadata lists every signature; "
                           "leave it empty");
  tfs::SignatureDefMap map;
  const tensorflow::SignatureDef def = SignatureDefOf(handle.servable->signature());
  (*map.mutable_signature_def())[kDefaultSignature] = def;
  (*map.mutable_signature_def())["predict_images"] = def;
  response->mutable_model_spec()->set_name(handle.model);
  response->mutable_model_spec()->mutable_version()->set_value(handle.version);
  (*response->mutable_metadata())["signature_def"].PackFrom(map);
  return OkStatus();
}

Status GrpcApi::GetModelStatus(const tfs::GetModelStatusRequest& request,
                               tfs::GetModelStatusResponse* response) const {
  LOOM_RETURN_IF_ERROR(RefuseUnknownFields(request, "GetModelStatusRequest"));
  LOOM_ASSIGN_OR_RETURN(ServableRequest which,
                        Which(request.model_spec(), request.has_model_spec(), "GetModelStatusRequest"));
  if (!request.model_spec().signature_name().empty())
    return InvalidArgument("GetModelStatusRequest.model_spec.signature_name: a status is per version, not "
                           "per signature; leave it empty");
  LOOM_ASSIGN_OR_RETURN(std::vector<VersionStatus> versions, manager_->GetStatus(which.model));
  std::optional<int64_t> want = which.version;
  if (!which.label.empty()) {
    LOOM_ASSIGN_OR_RETURN(ServableHandle handle, manager_->Get(which));
    want = handle.version;
  }
  for (const VersionStatus& v : versions) {
    if (want && v.version != *want) continue;
    tfs::ModelVersionStatus* out = response->add_model_version_status();
    out->set_version(v.version);
    switch (v.state) {
      case VersionState::kStart: out->set_state(tfs::ModelVersionStatus::START); break;
      case VersionState::kLoading: out->set_state(tfs::ModelVersionStatus::LOADING); break;
      case VersionState::kAvailable: out->set_state(tfs::ModelVersionStatus::AVAILABLE); break;
      case VersionState::kUnloading: out->set_state(tfs::ModelVersionStatus::UNLOADING); break;
      case VersionState::kEnd: out->set_state(tfs::ModelVersionStatus::END); break;
    }
    out->mutable_status()->set_error_code(ErrorCodeOf(v.status));
    out->mutable_status()->set_error_message(v.status.message());
  }
  if (response->model_version_status_size() == 0)
    return NotFound("Could not find version " + std::to_string(*want) + " of model " + which.model);
  return OkStatus();
}

Status GrpcApi::RefuseMethod(const tfs::ModelSpec& spec, bool has_spec, const char* message,
                             const char* method) const {
  LOOM_ASSIGN_OR_RETURN(ServableRequest which, Which(spec, has_spec, message));
  LOOM_ASSIGN_OR_RETURN(ServableHandle handle, manager_->Get(which));
  const std::string signature_name = spec.signature_name().empty() ? kDefaultSignature : spec.signature_name();
  if (!KnownSignature(signature_name)) return InvalidArgument("No signature was found with name " + signature_name);
  return InvalidArgument("Expected " + std::string(method) + " signature method_name to be tensorflow/serving/" +
                         (std::string(method) == "classification" ? "classify" : "regress") +
                         ". Was: " + kPredictMethod);
}

Status GrpcApi::Classify(const tfs::ClassificationRequest& request) const {
  return RefuseMethod(request.model_spec(), request.has_model_spec(), "ClassificationRequest", "classification");
}

Status GrpcApi::Regress(const tfs::RegressionRequest& request) const {
  return RefuseMethod(request.model_spec(), request.has_model_spec(), "RegressionRequest", "regression");
}

}  // namespace loom::serving
