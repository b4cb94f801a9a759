// TF Serving's gRPC API over the manager, wire-compatible with TF Serving's .proto files
// (proto/tfserving: the same packages, names and field numbers):
//   tensorflow.serving.PredictionService  Predict, GetModelMetadata (signature_def),
//                                         Classify and Regress (refused: predict signatures only)
//   tensorflow.serving.ModelService       GetModelStatus
// Errors carry TF Serving's gRPC codes and messages (NOT_FOUND for an unknown model or version,
// INVALID_ARGUMENT for a bad tensor, FAILED_PRECONDITION for an unknown signature, ...).
// A request field Loom does not act on (one proto/tfserving does not declare, a dtype other than
// DT_FLOAT, a dim name) is refused with INVALID_ARGUMENT naming it, never ignored.
//
// GrpcApi is the request logic without a transport: GrpcServer (grpc_server.h) serves it, the
// fuzzer calls it. Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/status.h"
#include "serving/manager.h"
#include "serving/metrics.h"
#include "tfserving/serving_apis.pb.h"

namespace loom::serving {

namespace tfs = ::tensorflow::serving;

// TensorFlow's error code of a status (the same names and numbers as gRPC's codes).
tensorflow::error::Code ErrorCodeOf(const Status& status);

class GrpcApi {
 public:
  // REQUIRES: manager (and metrics, which may be null) outlive this; the servables finish their
  // queued PredictAsync calls before metrics go.
  explicit GrpcApi(const ServableManager* manager, ServingMetrics* metrics = nullptr)
      : manager_(manager), metrics_(metrics) {}

  // Fills *response and calls done(status) exactly once: before returning, or later from a
  // batch thread. request and response must stay valid until then.
  void Predict(const tfs::PredictRequest& request, tfs::PredictResponse* response,
               std::function<void(Status)> done) const;
  Status GetModelMetadata(const tfs::GetModelMetadataRequest& request,
                          tfs::GetModelMetadataResponse* response) const;
  Status GetModelStatus(const tfs::GetModelStatusRequest& request, tfs::GetModelStatusResponse* response) const;
  Status Classify(const tfs::ClassificationRequest& request) const;
  Status Regress(const tfs::RegressionRequest& request) const;

 private:
  // The version a model_spec asks for; INVALID_ARGUMENT "Missing ModelSpec" without one.
  StatusOr<ServableRequest> Which(const tfs::ModelSpec& spec, bool has_spec, const char* message) const;
  // TF Serving's refusal of Classify/Regress on a model whose signatures are predict ones.
  Status RefuseMethod(const tfs::ModelSpec& spec, bool has_spec, const char* message,
                      const char* method) const;
  // The model label a predict is counted under in metrics_: its name if the server knows it.
  std::string MetricModel(const std::string& model) const;

  const ServableManager* manager_;
  ServingMetrics* metrics_;
};

}  // namespace loom::serving
