#include "serving/kserve_api.h"

#include <charconv>
#include <cmath>

#include "core/json.h"
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

void Infer(const ServableHandle& h, const std::string& body, net::HttpServerResponse* response) {
  auto json = ParseJson(body, "request body");
  if (!json.ok()) return SetError(json.status(), response);
  const Signature& sig = h.servable->signature();
  if (!json->is_object() || !json->contains("inputs") || !(*json)["inputs"].is_array())
    return SetError(InvalidArgument("request body: \"inputs\" must be a list of tensors"), response);
  const Json& inputs = (*json)["inputs"];
  if (inputs.size() != 1)
    return SetError(InvalidArgument("inputs: the model takes exactly one input, \"" + sig.input_name + "\""), response);
  const Json& in = inputs[0];
  const std::string field = "inputs[0]";
  if (!in.is_object()) return SetError(InvalidArgument(field + ": must be an object"), response);
  if (!in.contains("name") || !in["name"].is_string() || in["name"] != sig.input_name)
    return SetError(InvalidArgument(field + ".name: must be \"" + sig.input_name + "\""), response);
  std::string datatype = in.contains("datatype") && in["datatype"].is_string() ? in["datatype"].get<std::string>() : "";
  if (datatype != "FP32" && datatype != "UINT8")
    return SetError(InvalidArgument(field + ".datatype: \"" + datatype + "\" is not supported (FP32 or UINT8)"), response);
  if (!in.contains("shape") || !in["shape"].is_array() || in["shape"].empty())
    return SetError(InvalidArgument(field + ".shape: must be a non-empty list"), response);
  int64_t total = 1;
  for (const Json& d : in["shape"]) {
    if (!d.is_number_integer() || d.get<int64_t>() < 1 || d.get<int64_t>() > (1 << 24))
      return SetError(InvalidArgument(field + ".shape: " + in["shape"].dump() + " is not a shape"), response);
    total *= d.get<int64_t>();
    if (total > (int64_t{1} << 31)) return SetError(InvalidArgument(field + ".shape: too large"), response);
  }
  int64_t batch = in["shape"][0].get<int64_t>();
  if (total != batch * sig.input_size)
    return SetError(InvalidArgument(field + ".shape: " + in["shape"].dump() + " does not hold " +
                                    std::to_string(sig.input_size) + " values per example"),
                    response);
  if (!in.contains("data")) return SetError(InvalidArgument(field + ".data: missing"), response);
  std::vector<float> values;
  values.reserve(static_cast<size_t>(total));
  if (Status s = Flatten(in["data"], datatype == "UINT8", &values, field + ".data"); !s.ok())
    return SetError(s, response);
  if (static_cast<int64_t>(values.size()) != total)
    return SetError(InvalidArgument(field + ".data: " + std::to_string(values.size()) +
                                    " values for shape " + in["shape"].dump()),
                    response);
  std::vector<float> scores(static_cast<size_t>(batch * sig.num_classes));
  if (Status s = h.servable->Predict(values.data(), batch, scores.data()); !s.ok())
    return SetError(s, response);
  Json classes = Json::array();
  for (int64_t i = 0; i < batch; ++i) {
    const float* row = scores.data() + i * sig.num_classes;
    classes.push_back(std::max_element(row, row + sig.num_classes) - row);
  }
  Json out = {{"model_name", h.model}, {"model_version", std::to_string(h.version)}};
  if (json->contains("id")) out["id"] = (*json)["id"];
  out["outputs"] = Json::array({
      {{"name", sig.scores_name}, {"datatype", "FP32"}, {"shape", {batch, sig.num_classes}}, {"data", scores}},
      {{"name", sig.classes_name}, {"datatype", "INT64"}, {"shape", {batch}}, {"data", classes}},
  });
  SetJson(out, response);
}

}  // namespace

void HandleKServe(const ServableManager& manager, const net::HttpServerRequest& request,
                  net::HttpServerResponse* response) {
  std::string_view path = request.path;
  const bool get = request.method == "GET" || request.method == "HEAD";
  const bool post = request.method == "POST";
  if ((path == "/v2" || path == "/v2/") && get)
    return SetJson({{"name", "loom"}, {"version", "1"}, {"extensions", Json::array()}}, response);
  if (path == "/v2/health/live" && get) return SetJson({{"live", true}}, response);
  if (path == "/v2/health/ready" && get) {
    bool ready = !manager.ModelNames().empty();
    for (const std::string& m : manager.ModelNames())
      ready = ready && manager.Get(ServableRequest{m, std::nullopt, ""}).ok();
    response->status = ready ? 200 : 503;
    return SetJson({{"ready", ready}}, response);
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
        if (!h.ok()) return SetError(h.status(), response);
        const Signature& sig = h->servable->signature();
        Json versions = Json::array();
        if (auto st = manager.GetStatus(which.model); st.ok())
          for (const VersionStatus& v : *st)
            if (v.state == VersionState::kAvailable) versions.push_back(std::to_string(v.version));
        return SetJson({{"name", which.model},
                        {"versions", versions},
                        {"platform", "loom"},
                        {"inputs", Json::array({{{"name", sig.input_name}, {"datatype", "FP32"}, {"shape", Shape(-1, sig.input_shape)}}})},
                        {"outputs", Json::array({{{"name", sig.scores_name}, {"datatype", "FP32"}, {"shape", {-1, sig.num_classes}}},
                                                 {{"name", sig.classes_name}, {"datatype", "INT64"}, {"shape", {-1}}}})}},
                       response);
      }
      if (action == "ready" && get) {
        auto h = manager.Get(which);
        if (!h.ok()) return SetError(h.status(), response);
        return SetJson({{"name", which.model}, {"ready", true}}, response);
      }
      if (action == "infer" && post) {
        auto h = manager.Get(which);
        if (!h.ok()) return SetError(h.status(), response);
        return Infer(*h, request.body, response);
      }
    }
  }
  SetError(NotFound("Malformed request: " + request.method + " " + request.path), response);
}

}  // namespace loom::serving
