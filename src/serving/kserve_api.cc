#include "serving/kserve_api.h"

#include <charconv>
#include <cmath>
#include <memory>
#include <optional>

#include "core/json.h"
#include "serving/predict_request.h"
#include "serving/rest_api.h"

namespace loom::serving {
namespace {

void SetError(const Status& status, net::HttpServerResponse* response) {
  response->status = HttpStatusFor(status.code());
  response->body = ErrorBody(status.message());
}

void SetJson(const Json& body, net::HttpServerResponse* response) {
  response->body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Json Shape(int64_t batch, const std::vector<int64_t>& dims) {
  Json s = Json::array({batch});
  for (int64_t d : dims) s.push_back(d);
  return s;
}

// Appends the numbers of `data` (flat or nested) to out as floats, scaled by `scale`.
Status Flatten(const Json& data, bool uint8, std::vector<float>* out, const std::string& field,
               int depth = 0) {
  if (depth > 8) return InvalidArgument(field + ": nested too deeply");
  if (data.is_array()) {
    for (size_t i = 0; i < data.size(); ++i)
      LOOM_RETURN_IF_ERROR(Flatten(data[i], uint8, out, field, depth + 1));
    return OkStatus();
  }
  if (!data.is_number())
    return InvalidArgument(field + ": expected numbers, got " + std::string(data.type_name()));
  if (uint8) {
    if (!data.is_number_unsigned() || data.get<uint64_t>() > 255)
      return InvalidArgument(field + ": UINT8 values must be integers in [0, 255], got " + data.dump());
    out->push_back(static_cast<float>(data.get<uint64_t>()) / 255.0f);
    return OkStatus();
  }
  double v = data.get<double>();
  if (!std::isfinite(v) || std::fabs(v) > 3.4028234663852886e38)
    return InvalidArgument(field + ": " + data.dump() + " is out of range for FP32");
  out->push_back(static_cast<float>(v));
  return OkStatus();
}

bool Answer(const Json& body, net::HttpServerResponse* response) {
  SetJson(body, response);
  return true;
}

bool AnswerError(const Status& status, net::HttpServerResponse* response) {
  SetError(status, response);
  return true;
}

// An infer request parsed, its scores to come.
struct InferCall {
  std::string model;
  int64_t version = 0;
  int64_t batch = 0;
  std::optional<Json> id;
  std::vector<float> values;
  std::vector<float> scores;
};

// The answer, written directly (a Json document per answer cost more than the model): scores
// as the shortest text of each float, classes as INT64.
void WriteInferAnswer(const InferCall& call, const Signature& sig, net::HttpServerResponse* response) {
  const int64_t k = sig.num_classes;
  std::string& out = response->body;
  out.clear();
  out.reserve(static_cast<size_t>(call.batch * (k * 14 + 4)) + 256);
  auto json_string = [&](const std::string& s) { out += Json(s).dump(-1, ' ', false, Json::error_handler_t::replace); };
  out += "{\"model_name\":";
  json_string(call.model);
  out += ",\"model_version\":\"" + std::to_string(call.version) + "\"";
  if (call.id) out += ",\"id\":" + call.id->dump(-1, ' ', false, Json::error_handler_t::replace);
  out += ",\"outputs\":[{\"name\":";
  json_string(sig.scores_name);
  out += ",\"datatype\":\"FP32\",\"shape\":[" + std::to_string(call.batch) + "," + std::to_string(k) + "],\"data\":[";
  for (int64_t i = 0; i < call.batch * k; ++i) {
    if (i) out += ',';
    AppendFloat(&out, call.scores[static_cast<size_t>(i)]);
  }
  out += "]},{\"name\":";
  json_string(sig.classes_name);
  out += ",\"datatype\":\"INT64\",\"shape\":[" + std::to_string(call.batch) + "],\"data\":[";
  for (int64_t i = 0; i < call.batch; ++i) {
    const float* row = call.scores.data() + i * k;
    if (i) out += ',';
    out += std::to_string(std::max_element(row, row + k) - row);
  }
  out += "]}]}";
}

// An input's shape against the model: a non-empty list of dimensions from 1 to 2^24 whose product
// (*total, at most 2^31) holds whole examples. Errors name `field`.
Status CheckInferShape(const Json& shape, const Signature& sig, const std::string& field, int64_t* total) {
  if (!shape.is_array() || shape.empty()) return InvalidArgument(field + ".shape: must be a non-empty list");
  *total = 1;
  for (const Json& d : shape) {
    if (!d.is_number_integer() || d.get<int64_t>() < 1 || d.get<int64_t>() > (1 << 24))
      return InvalidArgument(field + ".shape: " + shape.dump() + " is not a shape");
    *total *= d.get<int64_t>();
    if (*total > (int64_t{1} << 31)) return InvalidArgument(field + ".shape: too large");
  }
  if (*total != shape[0].get<int64_t>() * sig.input_size)
    return InvalidArgument(field + ".shape: " + shape.dump() + " does not hold " + std::to_string(sig.input_size) +
                           " values per example");
  return OkStatus();
}

// The usual body, read by the fast parser (predict_request.h) into call: false when it is not
// of that shape or does not fit the model, for ParseInfer's general path to explain.
bool ParseInferFast(const ServableHandle& h, const std::string& body, InferCall* call) {
  InferRequest req;
  if (!ParseInferRequestFast(body, &req)) return false;
  const Signature& sig = h.servable->signature();
  if (req.name != sig.input_name) return false;
  int64_t total = 0;
  if (!CheckInferShape(Json(req.shape), sig, "inputs[0]", &total).ok()) return false;
  const int64_t batch = req.shape[0];
  if (static_cast<int64_t>(req.values.size()) != total) return false;
  if (!req.id_json.empty()) {
    auto id = ParseJson(req.id_json, "id");
    if (!id.ok()) return false;
    call->id = std::move(*id);
  }
  call->model = h.model;
  call->version = h.version;
  call->batch = batch;
  call->values = std::move(req.values);
  call->scores.resize(static_cast<size_t>(batch * sig.num_classes));
  return true;
}

// Parses the body into call->values; false with the error in *response.
bool ParseInfer(const ServableHandle& h, const std::string& body, InferCall* call,
                net::HttpServerResponse* response) {
  if (ParseInferFast(h, body, call)) return true;  // call is untouched when it gives up
  auto fail = [&](const Status& s) {
    SetError(s, response);
    return false;
  };
  auto json = ParseJson(body, "request body");
  if (!json.ok()) return fail(json.status());
  const Signature& sig = h.servable->signature();
  if (!json->is_object() || !json->contains("inputs") || !(*json)["inputs"].is_array())
    return fail(InvalidArgument("request body: \"inputs\" must be a list of tensors"));
  const Json& inputs = (*json)["inputs"];
  if (inputs.size() != 1)
    return fail(InvalidArgument("inputs: the model takes exactly one input, \"" + sig.input_name + "\""));
  const Json& in = inputs[0];
  const std::string field = "inputs[0]";
  if (!in.is_object()) return fail(InvalidArgument(field + ": must be an object"));
  if (!in.contains("name") || !in["name"].is_string() || in["name"] != sig.input_name)
    return fail(InvalidArgument(field + ".name: must be \"" + sig.input_name + "\""));
  std::string datatype = in.contains("datatype") && in["datatype"].is_string() ? in["datatype"].get<std::string>() : "";
  if (datatype != "FP32" && datatype != "UINT8")
    return fail(InvalidArgument(field + ".datatype: \"" + datatype + "\" is not supported (FP32 or UINT8)"));
  int64_t total = 0;
  if (Status s = CheckInferShape(in.contains("shape") ? in["shape"] : Json(), sig, field, &total); !s.ok())
    return fail(s);
  const int64_t batch = in["shape"][0].get<int64_t>();
  if (!in.contains("data")) return fail(InvalidArgument(field + ".data: missing"));
  call->values.reserve(static_cast<size_t>(total));
  if (Status s = Flatten(in["data"], datatype == "UINT8", &call->values, field + ".data"); !s.ok())
    return fail(s);
  if (static_cast<int64_t>(call->values.size()) != total)
    return fail(InvalidArgument(field + ".data: " + std::to_string(call->values.size()) +
                                " values for shape " + in["shape"].dump()));
  call->model = h.model;
  call->version = h.version;
  call->batch = batch;
  if (json->contains("id")) call->id = (*json)["id"];
  call->scores.resize(static_cast<size_t>(batch * sig.num_classes));
  return true;
}

// Runs an infer: answered in *response (returns true), or through *later from the batch thread
// when given (returns false).
bool Infer(const ServableHandle& h, const std::string& body, net::HttpServerResponse* response,
           const HttpReply* later) {
  auto call = std::make_shared<InferCall>();
  if (!ParseInfer(h, body, call.get(), response)) return true;
  const Signature& sig = h.servable->signature();
  if (later == nullptr) {
    Status s = h.servable->Predict(call->values.data(), call->batch, call->scores.data());
    s.ok() ? WriteInferAnswer(*call, sig, response) : SetError(s, response);
    return true;
  }
  // The servable outlives the callback (a batching servable finishes its queue before it goes),
  // so `sig` may be used there.
  h.servable->PredictAsync(call->values.data(), call->batch, call->scores.data(),
                           [call, &sig, reply = *later](Status s) {
                             net::HttpServerResponse r;
                             s.ok() ? WriteInferAnswer(*call, sig, &r) : SetError(s, &r);
                             reply(std::move(r));
                           });
  return false;
}

}  // namespace

bool HandleKServe(const ServableManager& manager, const net::HttpServerRequest& request,
                  net::HttpServerResponse* response, const HttpReply* later) {
  std::string_view path = request.path;
  const bool get = request.method == "GET" || request.method == "HEAD";
  const bool post = request.method == "POST";
  if ((path == "/v2" || path == "/v2/") && get)
    return Answer({{"name", "loom"}, {"version", "1"}, {"extensions", Json::array()}}, response);
  if (path == "/v2/health/live" && get) return Answer({{"live", true}}, response);
  if (path == "/v2/health/ready" && get) {
    bool ready = !manager.ModelNames().empty();
    for (const std::string& m : manager.ModelNames())
      ready = ready && manager.Get(ServableRequest{m, std::nullopt, ""}).ok();
    response->status = ready ? 200 : 503;
    return Answer({{"ready", ready}}, response);
  }
  constexpr std::string_view kModels = "/v2/models/";
  if (path.substr(0, kModels.size()) == kModels) {
    std::vector<std::string> parts;
    std::string_view rest = path.substr(kModels.size());
    while (!rest.empty()) {
      size_t slash = rest.find('/');
      parts.emplace_back(rest.substr(0, slash));
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    }
    ServableRequest which;
    std::string action;
    bool ok = !parts.empty() && !parts[0].empty();
    if (ok) which.model = parts[0];
    size_t next = 1;
    if (ok && parts.size() >= 3 && parts[1] == "versions") {
      int64_t v = 0;
      auto r = std::from_chars(parts[2].data(), parts[2].data() + parts[2].size(), v);
      ok = r.ec == std::errc() && r.ptr == parts[2].data() + parts[2].size() && v >= 0;
      which.version = v;
      next = 3;
    }
    if (ok && parts.size() == next + 1) action = parts[next];
    else if (ok && parts.size() != next) ok = false;
    if (ok) {
      if (action.empty() && get) {
        auto h = manager.Get(which);
        if (!h.ok()) return AnswerError(h.status(), response);
        const Signature& sig = h->servable->signature();
        Json versions = Json::array();
        if (auto st = manager.GetStatus(which.model); st.ok())
          for (const VersionStatus& v : *st)
            if (v.state == VersionState::kAvailable) versions.push_back(std::to_string(v.version));
        return Answer({{"name", which.model},
                        {"versions", versions},
                        {"platform", "loom"},
                        {"inputs", Json::array({{{"name", sig.input_name}, {"datatype", "FP32"}, {"shape", Shape(-1, sig.input_shape)}}})},
                        {"outputs", Json::array({{{"name", sig.scores_name}, {"datatype", "FP32"}, {"shape", {-1, sig.num_classes}}},
                                                 {{"name", sig.classes_name}, {"datatype", "INT64"}, {"shape", {-1}}}})}},
                       response);
      }
      if (action == "ready" && get) {
        auto h = manager.Get(which);
        if (!h.ok()) return AnswerError(h.status(), response);
        return Answer({{"name", which.model}, {"ready", true}}, response);
      }
      if (action == "infer" && post) {
        auto h = manager.Get(which);
        if (!h.ok()) return AnswerError(h.status(), response);
        return Infer(*h, request.body, response, later);
      }
    }
  }
  return AnswerError(NotFound("Malformed request: " + request.method + " " + request.path), response);
}

}  // namespace loom::serving
