// ModelServer: TF Serving's server core put together: a FileSystemSource polling the model's
// base path feeds a ServableManager (Loom bundles as the servable plug-in); RestApi answers
// HTTP on an HttpServer and GrpcApi gRPC on a GrpcServer, both from the same manager (and the
// same batching and metrics). `loom serve` is flags -> ModelServerOptions -> BuildAndStart -> wait.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "core/status.h"
#include "net/http_server.h"
#include "serving/batching.h"
#include "serving/clock.h"
#include "serving/grpc_server.h"
#include "serving/loom_servable.h"
#include "serving/manager.h"
#include "serving/rest_api.h"
#include "serving/source.h"

namespace loom::serving {

struct ModelServerOptions {
  std::string rest_api_address = "127.0.0.1";  // never all interfaces unless asked
  int rest_api_port = 8501;                     // 0 picks a free port (tests)
  int rest_api_num_threads = 0;                 // HTTP event threads; 0: number of CPUs
  // gRPC (TF Serving's --port and --grpc_socket_path), bound to rest_api_address too.
  int grpc_port = 8500;                         // 0 picks a free port (tests); -1: none
  std::string grpc_socket_path;                 // also (or, with grpc_port -1, only) this socket
  int grpc_num_threads = 0;                     // gRPC event loops; 0: number of CPUs
  std::string model_name = "default";           // TF Serving's default name
  std::string model_base_path;                  // <base>/<version>/ directories; file:// or s3://
  std::string model_version_policy = "latest 1";  // latest [N] | all | specific V[,V...]
  // Several models (TF Serving's ModelServerConfig, text or YAML; model_config.h). When set,
  // model_name, model_base_path and model_version_policy are not used.
  std::string model_config_file;
  double file_system_poll_wait_seconds = 1;     // 0: load once at start
  // Versions from s3:// and file:// base paths are copied here before loading (source.h).
  std::string model_cache_dir;
  storage::S3Options s3;                        // endpoint and credentials for s3:// base paths
  size_t max_body_bytes = 64u << 20;            // larger requests get 413
  int connection_timeout_seconds = 60;          // idle or stalled connections are closed
  int num_model_instances = 0;                  // concurrent Predicts per version; 0: CPUs
  Clock* clock = nullptr;                       // null: the real clock
  // Server-side batching of concurrent predicts (batching.h), with parameters from
  // batching_parameters_file (TF Serving's BatchingParameters) or the defaults.
  bool enable_batching = false;
  std::string batching_parameters_file;
  // Where Prometheus text is served; empty: no metrics (TF Serving's default).
  std::string metrics_path;
};

// TF Serving's --monitoring_config_file (MonitoringConfig in protobuf text format):
//   prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }
// Returns the path to serve metrics at, or empty when not enabled. Errors name the source.
StatusOr<std::string> ParseMonitoringConfig(const std::string& text, const std::string& source);
inline constexpr char kDefaultMetricsPath[] = "/monitoring/prometheus/metrics";

class ModelServer {
 public:
  // Validates options, loads what the base path holds now, then serves. Errors name the flag.
  static StatusOr<std::unique_ptr<ModelServer>> BuildAndStart(const ModelServerOptions& options);
  ~ModelServer();

  int port() const { return http_->port(); }
  int grpc_port() const { return grpc_ ? grpc_->port() : -1; }
  const ServableManager& manager() const { return *manager_; }
  // Stops polling and accepting, answers in-flight requests (up to timeout_seconds), stops.
  // Returns true if every in-flight request was answered.
  bool Shutdown(double timeout_seconds);

 private:
  ModelServer() = default;

  std::unique_ptr<LoomServableLoader> loader_;
  std::unique_ptr<BatchingLoader> batching_loader_;  // wraps loader_ when batching is on
  std::unique_ptr<ServableManager> manager_;
  std::unique_ptr<FileSystemSource> source_;
  std::unique_ptr<ServingMetrics> metrics_;
  std::unique_ptr<RestApi> rest_;
  std::unique_ptr<net::HttpServer> http_;
  std::unique_ptr<GrpcApi> grpc_api_;
  std::unique_ptr<GrpcServer> grpc_;
};

}  // namespace loom::serving
