#include "serving/model_server.h"

#include <thread>

#include "core/logging.h"
#include "serving/config_file.h"
#include "serving/model_config.h"
#include "tensorflow_serving/config/monitoring_config.pb.h"

namespace loom::serving {

StatusOr<std::unique_ptr<ModelServer>> ModelServer::BuildAndStart(const ModelServerOptions& options) {
  std::vector<ModelConfig> models;
  if (!options.model_config_file.empty()) {
    LOOM_ASSIGN_OR_RETURN(models, ReadModelConfigFile(options.model_config_file));
  } else {
    if (options.model_base_path.empty())
      return InvalidArgument("--model_base_path or --model_config_file: one must be set");
    if (options.model_name.empty()) return InvalidArgument("--model_name: must not be empty");
    ModelConfig m;
    m.name = options.model_name;
    m.base_path = options.model_base_path;
    LOOM_ASSIGN_OR_RETURN(m.policy,
                          ParseVersionPolicy(options.model_version_policy, "--model_version_policy"));
    models.push_back(std::move(m));
  }
  std::unique_ptr<ModelServer> server(new ModelServer);
  LoomServableOptions servable_options;
  servable_options.num_instances = options.num_model_instances;
  server->loader_ = std::make_unique<LoomServableLoader>(servable_options);
  ServableLoader* loader = server->loader_.get();
  if (!options.metrics_path.empty()) {
    if (options.metrics_path[0] != '/')
      return InvalidArgument("metrics path \"" + options.metrics_path + "\": must start with /");
    server->metrics_ = std::make_unique<ServingMetrics>();
  }
  if (options.enable_batching) {
    BatchingParameters params;
    if (!options.batching_parameters_file.empty()) {
      LOOM_ASSIGN_OR_RETURN(params, ReadBatchingParameters(options.batching_parameters_file));
    }
    if (server->metrics_) server->metrics_->EnableBatching();
    server->batching_loader_ = std::make_unique<BatchingLoader>(loader, params, server->metrics_.get());
    loader = server->batching_loader_.get();
  } else if (!options.batching_parameters_file.empty()) {
    return InvalidArgument("--batching_parameters_file: needs --enable_batching");
  }
  server->manager_ = std::make_unique<ServableManager>(loader);
  FileSystemSourceOptions source_options;
  for (const ModelConfig& m : models) {
    source_options.models.push_back({m.name, m.base_path, m.policy});
    server->manager_->SetLabels(m.name, m.version_labels);
  }
  source_options.poll_wait_seconds = options.file_system_poll_wait_seconds;
  source_options.clock = options.clock;
  source_options.cache_dir = options.model_cache_dir;
  source_options.s3 = options.s3;
  ServableManager* manager = server->manager_.get();
  LOOM_ASSIGN_OR_RETURN(server->source_,
                        FileSystemSource::Create(source_options, [manager](const std::string& name,
                                                                           std::vector<AspiredVersion> v) {
                          manager->SetAspiredVersions(name, std::move(v));
                        }));
  server->source_->Start();
  server->rest_ = std::make_unique<RestApi>(server->manager_.get(), server->metrics_.get(),
                                            options.metrics_path);
  net::HttpServerOptions http_options;
  http_options.address = options.rest_api_address;
  http_options.port = options.rest_api_port;
  http_options.num_threads = options.rest_api_num_threads > 0
                                 ? options.rest_api_num_threads
                                 : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  http_options.max_body_bytes = options.max_body_bytes;
  http_options.connection_timeout_seconds = options.connection_timeout_seconds;
  RestApi* rest = server->rest_.get();
  // Asynchronous: with batching on, a predict waits for its batch without holding an event
  // thread (without batching every answer is given before the handler returns).
  auto http = net::HttpServer::CreateAsync(
      http_options, [rest](const net::HttpServerRequest& req, net::HttpResponder responder) {
        rest->HandleAsync(req, std::move(responder));
      });
  if (!http.ok()) return http.status().WithPrefix("--rest_api_address/--rest_api_port");
  server->http_ = std::move(*http);
  server->grpc_api_ = std::make_unique<GrpcApi>(server->manager_.get(), server->metrics_.get());
  GrpcServerOptions grpc_options;
  grpc_options.address = options.rest_api_address;
  grpc_options.port = options.grpc_port;
  grpc_options.socket_path = options.grpc_socket_path;
  grpc_options.max_message_bytes = options.max_body_bytes;
  grpc_options.num_threads = options.grpc_num_threads;
  grpc_options.connection_timeout_seconds = options.connection_timeout_seconds;
  auto grpc = GrpcServer::Start(grpc_options, server->grpc_api_.get());
  if (!grpc.ok()) return grpc.status().WithPrefix("--port/--grpc_socket_path");
  server->grpc_ = std::move(*grpc);
  return server;
}

StatusOr<std::string> ParseMonitoringConfig(const std::string& text, const std::string& source) {
  tensorflow::serving::MonitoringConfig config;
  LOOM_RETURN_IF_ERROR(ParseTextConfig(text, source, &config));
  if (!config.has_prometheus_config()) return InvalidArgument(source + ": no prometheus_config { ... } block");
  const tensorflow::serving::PrometheusConfig& prometheus = config.prometheus_config();
  if (!prometheus.enable()) {
    if (!prometheus.path().empty())
      return InvalidArgument(source + ": prometheus_config.enable: not true, so path \"" + prometheus.path() +
                             "\" would not be served (set enable: true)");
    return std::string();
  }
  const std::string path = prometheus.path().empty() ? kDefaultMetricsPath : prometheus.path();
  if (path[0] != '/')
    return InvalidArgument(source + ": prometheus_config.path: \"" + path + "\" must start with /");
  return path;
}

bool ModelServer::Shutdown(double timeout_seconds) {
  if (source_) source_->Stop();
  // Queued predicts run now rather than wait for batches that will not fill any more.
  if (batching_loader_) batching_loader_->Flush();
  // Both APIs drain at once: each stops accepting, then waits for its calls in flight.
  bool grpc_drained = true;
  std::thread grpc_drain([&] {
    if (grpc_) grpc_drained = grpc_->Drain(timeout_seconds);
  });
  bool drained = http_ ? http_->Drain(timeout_seconds) : true;
  grpc_drain.join();
  if (http_) http_->Stop();
  return drained && grpc_drained;
}

ModelServer::~ModelServer() {
  Shutdown(0);
  // The servables go first: a batching one finishes its queue, whose answers are counted in
  // metrics_ (RestApi::HandleAsync).
  source_.reset();
  manager_.reset();
}

}  // namespace loom::serving
