// KServe v2 (the Open Inference Protocol) REST endpoints over the same manager as the TF
// Serving API:
//   GET  /v2                                   server metadata
//   GET  /v2/health/live, /v2/health/ready     liveness; ready when every model has a version
//   GET  /v2/models/{m}[/versions/{v}]         model metadata (inputs/outputs, datatypes, shapes)
//   GET  /v2/models/{m}[/versions/{v}]/ready   200 when servable, else 404/400
//   POST /v2/models/{m}[/versions/{v}]/infer   FP32 input, or UINT8 raw pixels (scaled by 1/255
//                                              as MNIST was prepared for training)
// Errors are {"error": "..."} with the TF Serving API's codes. Bodies are parsed with
// nlohmann::json (core/json.h): the v2 path is not the benchmarked one.
#pragma once

#include <functional>

#include "net/http_server.h"
#include "serving/manager.h"

namespace loom::serving {

// Takes an answer given later (from a batch thread).
using HttpReply = std::function<void(net::HttpServerResponse)>;

// Handles a request whose path starts with "/v2"; answers 404 for unknown /v2 paths. Returns
// true with the answer in *response; or, when `later` is given, may hand an infer to
// Servable::PredictAsync and return false: *later gets the answer, maybe from another thread.
bool HandleKServe(const ServableManager& manager, const net::HttpServerRequest& request,
                  net::HttpServerResponse* response, const HttpReply* later = nullptr);

}  // namespace loom::serving
