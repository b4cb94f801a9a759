#include "serving/rest_api.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <chrono>
#include <cstring>

#include "core/json.h"
#include "serving/kserve_api.h"
#include "serving/predict_request.h"

namespace loom::serving {

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return 200;
    case StatusCode::kCancelled: return 499;
    case StatusCode::kInvalidArgument:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kOutOfRange: return 400;
    case StatusCode::kDeadlineExceeded: return 504;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kUnimplemented: return 501;
    case StatusCode::kUnavailable: return 503;
    default: return 500;
  }
}

std::string ErrorBody(const std::string& message) {
  return Json({{"error", message}}).dump(-1, ' ', false, Json::error_handler_t::replace);
}

void AppendFloat(std::string* out, float v) {
  if (!std::isfinite(v)) {
    out->append(std::isnan(v) ? "NaN" : v < 0 ? "-Infinity" : "Infinity");
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
  if (std::find_if(buf, r.ptr, [](char c) { return c == '.' || c == 'e'; }) == r.ptr) out->append(".0");
}

namespace {

void SetError(const Status& status, net::HttpServerResponse* response) {
  response->status = HttpStatusFor(status.code());
  response->content_type = "application/json";
  response->body = ErrorBody(status.message());
}

bool ParseVersion(std::string_view text, int64_t* out) {
  if (text.empty() || text.size() > 18) return false;
  auto r = std::from_chars(text.data(), text.data() + text.size(), *out);
  return r.ec == std::errc() && r.ptr == text.data() + text.size() && *out >= 0;
}

// TF Serving's signature_def for a classifier servable, under both signature names Kubeflow's
// example exported (serving_default and predict_images).
Json SignatureDefs(const Signature& sig) {
  Json input_dims = Json::array({{{"size", "-1"}, {"name", ""}}});
  for (int64_t d : sig.input_shape) input_dims.push_back({{"size", std::to_string(d)}, {"name", ""}});
  Json def = {
      {"inputs",
       {{sig.input_name,
         {{"dtype", "DT_FLOAT"},
          {"tensor_shape", {{"dim", input_dims}, {"unknown_rank", false}}},
          {"name", sig.input_name}}}}},
      {"outputs",
       {{sig.classes_name,
         {{"dtype", "DT_INT64"},
          {"tensor_shape", {{"dim", Json::array({{{"size", "-1"}, {"name", ""}}})}, {"unknown_rank", false}}},
          {"name", sig.classes_name}}},
        {sig.scores_name,
         {{"dtype", "DT_FLOAT"},
          {"tensor_shape",
           {{"dim", Json::array({{{"size", "-1"}, {"name", ""}},
                                 {{"size", std::to_string(sig.num_classes)}, {"name", ""}}})},
            {"unknown_rank", false}}},
          {"name", sig.scores_name}}}}},
      {"method_name", "tensorflow/serving/predict"}};
  return Json{{"predict_images", def}, {"serving_default", def}};
}

bool KnownSignature(const std::string& name) {
  return name.empty() || name == "serving_default" || name == "predict_images";
}

}  // namespace

namespace {

int64_t MicrosSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start)
      .count();
}

// TF Serving's status names for the HTTP codes the API answers.
const char* StatusName(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "INVALID_ARGUMENT";
    case 404: return "NOT_FOUND";
    case 501: return "UNIMPLEMENTED";
    case 503: return "UNAVAILABLE";
    default: return status >= 500 ? "INTERNAL" : "UNKNOWN";
  }
}

}  // namespace

void RestApi::Handle(const net::HttpServerRequest& request, net::HttpServerResponse* response) const {
  auto start = std::chrono::steady_clock::now();
  Route(request, response, nullptr);
  std::string model, api;
  if (metrics_ != nullptr && MetricLabels(request.path, &model, &api))
    metrics_->Record(model, api, "REST", StatusName(response->status), MicrosSince(start));
}

void RestApi::HandleAsync(const net::HttpServerRequest& request, net::HttpResponder responder) const {
  auto start = std::chrono::steady_clock::now();
  std::string model, api;
  ServingMetrics* metrics = metrics_ != nullptr && MetricLabels(request.path, &model, &api) ? metrics_ : nullptr;
  // Runs on the batch thread for a batched predict: it holds no pointer to this RestApi or the
  // manager, only metrics (which outlive the servables' queues).
  HttpReply reply = [responder = std::move(responder), metrics, model = std::move(model),
                     api = std::move(api), start](net::HttpServerResponse response) {
    if (metrics != nullptr) metrics->Record(model, api, "REST", StatusName(response.status), MicrosSince(start));
    responder.Respond(std::move(response));
  };
  net::HttpServerResponse response;
  if (Route(request, &response, &reply)) reply(std::move(response));
}

bool RestApi::MetricLabels(std::string_view path, std::string* model, std::string* api) const {
  std::string_view name;
  auto ends_with = [&](std::string_view s) {
    return path.size() >= s.size() && path.substr(path.size() - s.size()) == s;
  };
  if (path.rfind("/v1/models/", 0) == 0 && ends_with(":predict")) {
    *api = "predict";
    name = path.substr(11);
    name = name.substr(0, std::min(name.find('/'), name.find(':')));
  } else if (path.rfind("/v2/models/", 0) == 0 && ends_with("/infer")) {
    *api = "infer";
    name = path.substr(11);
    name = name.substr(0, name.find('/'));
  } else {
    return false;
  }
  // Only names the server knows become label values (no unbounded label sets from clients).
  model->clear();
  for (const std::string& m : manager_->ModelNames())
    if (m == name) *model = m;
  return true;
}

bool RestApi::Route(const net::HttpServerRequest& request, net::HttpServerResponse* response,
                    const HttpReply* later) const {
  std::string_view path = request.path;
  if (!metrics_path_.empty() && metrics_ != nullptr && path == metrics_path_ &&
      (request.method == "GET" || request.method == "HEAD")) {
    response->content_type = "text/plain; version=0.0.4";
    response->body = metrics_->PrometheusText();
    return true;
  }
  const bool get = request.method == "GET" || request.method == "HEAD";
  const bool post = request.method == "POST";
  if (path == "/v2" || path.substr(0, 4) == "/v2/") return HandleKServe(*manager_, request, response, later);
  constexpr std::string_view kPrefix = "/v1/models/";
  if (path.substr(0, kPrefix.size()) != kPrefix) {
    SetError(NotFound("Malformed request: " + request.method + " " + request.path), response);
    return true;
  }
  std::string_view rest = path.substr(kPrefix.size());
  // Verb: ":predict" at the end of the path.
  std::string_view verb;
  if (size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    verb = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
  }
  bool metadata = false;
  constexpr std::string_view kMetadata = "/metadata";
  if (verb.empty() && rest.size() > kMetadata.size() &&
      rest.substr(rest.size() - kMetadata.size()) == kMetadata) {
    metadata = true;
    rest = rest.substr(0, rest.size() - kMetadata.size());
  }
  ServableRequest which;
  size_t slash = rest.find('/');
  which.model = std::string(rest.substr(0, slash));
  bool ok = !which.model.empty();
  if (ok && slash != std::string_view::npos) {
    std::string_view tail = rest.substr(slash + 1);
    size_t s2 = tail.find('/');
    std::string_view kind = tail.substr(0, s2);
    std::string_view value = s2 == std::string_view::npos ? std::string_view() : tail.substr(s2 + 1);
    int64_t v = 0;
    if (kind == "versions" && ParseVersion(value, &v)) {
      which.version = v;
    } else if (kind == "labels" && !value.empty() && value.find('/') == std::string_view::npos) {
      which.label = std::string(value);
    } else {
      ok = false;
    }
  }
  if (ok && verb.empty() && get) {
    metadata ? Metadata(which, response) : ModelStatus(which, response);
    return true;
  }
  if (ok && verb == "predict" && post) return Predict(which, request.body, response, later);
  if (ok && (verb == "classify" || verb == "regress") && post) {
    SetError(Unimplemented("The model's signature is predict-only; use :predict"), response);
    return true;
  }
  SetError(NotFound("Malformed request: " + request.method + " " + request.path), response);
  return true;
}

void RestApi::ModelStatus(const ServableRequest& which, net::HttpServerResponse* response) const {
  auto status = manager_->GetStatus(which.model);
  if (!status.ok()) return SetError(status.status(), response);
  int64_t want = -1;
  if (!which.label.empty()) {
    auto h = manager_->Get(which);
    if (!h.ok()) return SetError(h.status(), response);
    want = h->version;
  } else if (which.version) {
    want = *which.version;
  }
  Json list = Json::array();
  for (const VersionStatus& v : *status) {
    if (want >= 0 && v.version != want) continue;
    list.push_back({{"version", std::to_string(v.version)},
                    {"state", VersionStateName(v.state)},
                    {"status",
                     {{"error_code", v.status.ok() ? "OK" : StatusCodeName(v.status.code())},
                      {"error_message", v.status.message()}}}});
  }
  if (list.empty())
    return SetError(NotFound("Could not find version " + std::to_string(want) + " of model " +
                             which.model),
                    response);
  response->body = Json({{"model_version_status", list}}).dump(1, ' ', false, Json::error_handler_t::replace);
}

void RestApi::Metadata(const ServableRequest& which, net::HttpServerResponse* response) const {
  auto h = manager_->Get(which);
  if (!h.ok()) return SetError(h.status(), response);
  Json body = {
      {"model_spec", {{"name", which.model}, {"signature_name", ""}, {"version", std::to_string(h->version)}}},
      {"metadata", {{"signature_def", {{"signature_def", SignatureDefs(h->servable->signature())}}}}}};
  response->body = body.dump(1);
}

namespace {

// A predict request parsed, its scores to come.
struct PredictCall {
  PredictRequest request;
  std::vector<float> scores;
};

// TF Serving's answer: {"predictions": [...]} for rows, {"outputs": {...}} for columns.
void WritePredictions(const PredictCall& call, const Signature& sig, std::string* body) {
  const int64_t n = call.request.num_examples, k = sig.num_classes;
  const std::vector<float>& scores = call.scores;
  std::vector<int64_t> classes(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    for (int64_t j = 1; j < k; ++j)
      if (scores[i * k + j] > scores[i * k + best]) best = j;
    classes[i] = best;
  }
  std::string& out = *body;
  out.reserve(static_cast<size_t>(n * (k * 14 + 32)) + 64);
  auto append_scores = [&](int64_t i) {
    out += '[';
    for (int64_t j = 0; j < k; ++j) {
      if (j) out += ',';
      AppendFloat(&out, scores[i * k + j]);
    }
    out += ']';
  };
  if (!call.request.columnar) {
    out = "{\"predictions\": [";
    for (int64_t i = 0; i < n; ++i) {
      if (i) out += ", ";
      out += "{\"" + sig.scores_name + "\": ";
      append_scores(i);
      out += ", \"" + sig.classes_name + "\": " + std::to_string(classes[i]) + "}";
    }
    out += "]}";
  } else {
    out = "{\"outputs\": {\"" + sig.scores_name + "\": [";
    for (int64_t i = 0; i < n; ++i) {
      if (i) out += ", ";
      append_scores(i);
    }
    out += "], \"" + sig.classes_name + "\": [";
    for (int64_t i = 0; i < n; ++i) {
      if (i) out += ", ";
      out += std::to_string(classes[i]);
    }
    out += "]}}";
  }
}

}  // namespace

bool RestApi::Predict(const ServableRequest& which, const std::string& body,
                      net::HttpServerResponse* response, const HttpReply* later) const {
  auto h = manager_->Get(which);
  if (!h.ok()) {
    SetError(h.status(), response);
    return true;
  }
  const Signature& sig = h->servable->signature();
  auto req = ParsePredictRequest(body, sig);
  if (!req.ok()) {
    SetError(req.status(), response);
    return true;
  }
  if (!KnownSignature(req->signature_name)) {
    SetError(InvalidArgument("Serving signature name: \"" + req->signature_name +
                             "\" not found in signature def"),
             response);
    return true;
  }
  auto call = std::make_shared<PredictCall>();
  call->request = std::move(*req);
  const int64_t n = call->request.num_examples;
  call->scores.resize(static_cast<size_t>(n * sig.num_classes));
  if (later == nullptr) {
    Status s = h->servable->Predict(call->request.values.data(), n, call->scores.data());
    s.ok() ? WritePredictions(*call, sig, &response->body) : SetError(s, response);
    return true;
  }
  // The servable outlives the callback (a batching servable finishes its queue before it goes),
  // so `sig` may be used there; the handle need not be held.
  h->servable->PredictAsync(call->request.values.data(), n, call->scores.data(),
                            [call, &sig, reply = *later](Status s) {
                              net::HttpServerResponse r;
                              s.ok() ? WritePredictions(*call, sig, &r.body) : SetError(s, &r);
                              reply(std::move(r));
                            });
  return false;
}

}  // namespace loom::serving
