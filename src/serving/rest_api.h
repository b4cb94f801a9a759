// RestApi: TF Serving's REST API (and KServe v2's health endpoints) over the manager:
//   GET  /v1/models/{m}[/versions/{v}|/labels/{l}]            model_version_status
//   GET  /v1/models/{m}[/versions/{v}|/labels/{l}]/metadata   signature_def
//   POST /v1/models/{m}[/versions/{v}|/labels/{l}]:predict    instances/inputs -> predictions/outputs
//   /v2/...                                                   KServe v2 (kserve_api.h)
//   GET  <metrics_path> (/monitoring/prometheus/metrics)      Prometheus text (metrics.h)
// Errors are {"error": "..."} with TF Serving's HTTP code for the status (HttpStatusFor).
// Thread-safe: Handle runs on every HTTP event thread at once. HandleAsync is the same for
// HttpServer::CreateAsync: a predict or infer is handed to Servable::PredictAsync, so with
// batching on the event thread goes on to other connections while the request waits for its
// batch, and the batch thread sends the answer.
#pragma once

#include <string>
#include <string_view>

#include "net/http_server.h"
#include "serving/kserve_api.h"
#include "serving/manager.h"
#include "serving/metrics.h"

namespace loom::serving {

class RestApi {
 public:
  // REQUIRES: manager outlives this.
  // metrics may be null (no metrics); metrics_path is where Prometheus text is served
  // (empty: nowhere).
  explicit RestApi(const ServableManager* manager, ServingMetrics* metrics = nullptr,
                   std::string metrics_path = "")
      : manager_(manager), metrics_(metrics), metrics_path_(std::move(metrics_path)) {}
  // Answers before returning (a batched predict waits for its batch in the calling thread).
  void Handle(const net::HttpServerRequest& request, net::HttpServerResponse* response) const;
  // Answers through `responder`, a batched predict or infer later from its batch thread.
  // REQUIRES: the servables finish their queued PredictAsync calls before metrics go.
  void HandleAsync(const net::HttpServerRequest& request, net::HttpResponder responder) const;

 private:
  // Answers in *response and returns true; or, given `later`, may hand a predict or infer to
  // PredictAsync and return false (then *later gets the answer).
  bool Route(const net::HttpServerRequest& request, net::HttpServerResponse* response,
             const HttpReply* later) const;
  void ModelStatus(const ServableRequest& which, net::HttpServerResponse* response) const;
  void Metadata(const ServableRequest& which, net::HttpServerResponse* response) const;
  bool Predict(const ServableRequest& which, const std::string& body,
               net::HttpServerResponse* response, const HttpReply* later) const;

  // The labels a predict/infer request is counted under in metrics_: model ("" when the
  // server does not know it) and api; false for other requests (not counted).
  bool MetricLabels(std::string_view path, std::string* model, std::string* api) const;

  const ServableManager* manager_;
  ServingMetrics* metrics_;
  std::string metrics_path_;
};

// TF Serving's mapping (http_server.cc ToHTTPStatusCode): INVALID_ARGUMENT, FAILED_PRECONDITION
// and OUT_OF_RANGE 400, NOT_FOUND 404, ALREADY_EXISTS 409, PERMISSION_DENIED 403,
// UNIMPLEMENTED 501, UNAVAILABLE 503, DEADLINE_EXCEEDED 504, CANCELLED 499, others 500.
int HttpStatusFor(StatusCode code);
// {"error": "<message>"} with JSON escaping.
std::string ErrorBody(const std::string& message);
// Appends the shortest text that reads back as exactly v, as TF Serving prints a float: whole
// numbers with ".0", and NaN, Infinity and -Infinity as those bare words (not strict JSON, but
// what TF Serving answers and Python's json reads).
void AppendFloat(std::string* out, float v);

}  // namespace loom::serving
