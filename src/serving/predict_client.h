// The mnist client (Kubeflow's mnist_client.py): sends test images one per request to a model
// server's predict API from `concurrency` connections, and compares the answers with the
// labels. Over TF Serving's gRPC API (PredictionService.Predict, as Kubeflow's client did), its
// REST API, or KServe v2. Used by `loom predict`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "data/dataset.h"

namespace loom::serving {

struct PredictClientOptions {
  std::string server = "127.0.0.1:8501";  // host:port of the API the protocol speaks
  std::string model = "mnist";
  int64_t version = -1;                   // -1: the latest the server has
  std::string signature;                  // signature_name sent in the body; empty: none
  int concurrency = 8;                    // requests in flight at once
  // rest: TF Serving's :predict; grpc: TF Serving's PredictionService.Predict; v2: KServe's /infer
  std::string protocol = "rest";
};

struct PredictReport {
  int64_t count = 0;          // images sent
  int64_t wrong = 0;          // answers whose class differs from the label
  double error_rate = 0;      // wrong / count
  double seconds = 0;         // wall time of the whole run
  double p50_ms = 0, p90_ms = 0, p99_ms = 0;  // per-request latency
};

// The request body for n images of `features` floats each, floats written shortest-exact (the
// server reads back the very floats `loom eval` uses): TF Serving's row format, or (v2) a
// KServe FP32 tensor [n, features].
std::string PredictBody(const float* images, int64_t n, int64_t features, const std::string& signature);
std::string InferBodyV2(const float* images, int64_t n, int64_t features);

// One image's answer: the predicted class and the scores of every class.
struct ImagePrediction {
  int64_t digit = -1;
  std::vector<float> scores;
};

// Sends n images in one request and returns the answer for each, in order. Errors as
// RunPredictions'; an answer without n scores rows and classes is DATA_LOSS naming the field.
// REQUIRES: n >= 1.
StatusOr<std::vector<ImagePrediction>> PredictImages(const PredictClientOptions& options, const float* images,
                                                     int64_t n, int64_t features);

// Runs the first num_tests examples of `data` (all if num_tests <= 0 or larger). The first
// failed request (connection, non-200 or a gRPC error) ends the run with its error:
// "127.0.0.1:8501: POST /v1/models/mnist:predict: 404: Servable not found ...",
// "127.0.0.1:8500: Predict: NOT_FOUND: Servable not found ...".
StatusOr<PredictReport> RunPredictions(const PredictClientOptions& options, const Dataset& data,
                                       int64_t num_tests);

}  // namespace loom::serving
