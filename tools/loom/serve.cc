// loom serve: the model server, with TF Serving's flags (tensorflow_model_server --port
// --rest_api_port ...): gRPC on --port (8500), REST on --rest_api_port (8501). SIGTERM or SIGINT stops polling and accepting, answers in-flight requests, exits 0.
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "commands.h"
#include "core/file.h"
#include "serving/model_server.h"

namespace loom::cli {

int RunServe(const Args& args) {
  serving::ModelServerOptions options;
  int64_t port = options.rest_api_port;
  int64_t grpc_port = options.grpc_port;
  int64_t num_threads = 0;
  int64_t grpc_threads = 0;
  int64_t max_body_mb = static_cast<int64_t>(options.max_body_bytes >> 20);
  int64_t instances = 0;
  FlagSet flags(
      "loom serve (--model_name NAME --model_base_path DIR | --model_config_file FILE) [--port 8500] "
      "[--rest_api_port 8501]");
  flags.Int("port", &grpc_port,
            "port of the gRPC API (TF Serving's PredictionService and ModelService); 0 turns it off, "
            "which needs --grpc_socket_path");
  flags.String("grpc_socket_path", &options.grpc_socket_path, "also serve the gRPC API on this UNIX socket");
  flags.Int("grpc_max_threads", &grpc_threads, "threads serving gRPC calls (default: number of CPUs)");
  flags.Int("rest_api_port", &port, "port of the HTTP/REST API (0 picks a free one)");
  flags.String("rest_api_address", &options.rest_api_address,
               "address to bind the REST and gRPC APIs to (0.0.0.0 for all interfaces)");
  flags.Int("rest_api_num_threads", &num_threads, "HTTP event threads (default: number of CPUs)");
  flags.String("model_name", &options.model_name, "name of the model in the URLs");
  flags.String("model_base_path", &options.model_base_path,
               "directory, file:// or s3:// URL holding numbered version directories");
  options.model_cache_dir = JoinPath(LoomHome(), "serving_cache");
  flags.String("model_cache_dir", &options.model_cache_dir,
               "where versions from s3:// and file:// base paths are copied before loading");
  flags.String("model_version_policy", &options.model_version_policy,
               "which versions to serve: latest [N], all, or specific V[,V...]");
  flags.String("model_config_file", &options.model_config_file,
               "several models: TF Serving's ModelServerConfig (text format) or the same as YAML");
  flags.Float("file_system_poll_wait_seconds", &options.file_system_poll_wait_seconds,
              "seconds between polls of the base path for new versions (0: load once)");
  flags.Int("max_body_mb", &max_body_mb, "larger request bodies are answered 413");
  flags.Int("num_model_instances", &instances, "concurrent predicts per version (default: CPUs)");
  flags.Bool("enable_batching", &options.enable_batching, "batch concurrent predicts server-side");
  flags.String("batching_parameters_file", &options.batching_parameters_file,
               "TF Serving's BatchingParameters: max_batch_size, batch_timeout_micros, "
               "max_enqueued_batches, num_batch_threads");
  std::string monitoring_config_file;
  bool metrics = false;
  flags.String("monitoring_config_file", &monitoring_config_file,
               "TF Serving's MonitoringConfig (prometheus_config { enable: true, path: ... })");
  flags.Bool("metrics", &metrics, "serve Prometheus metrics at /monitoring/prometheus/metrics");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "serve", &code)) return code;
  if (!positional.empty())
    return Fail("serve", InvalidArgument("unexpected argument \"" + positional[0] + "\""));
  auto s3 = S3OptionsFromEnv();
  if (!s3.ok()) return Fail("serve", s3.status());
  options.s3 = *s3;
  options.rest_api_port = static_cast<int>(port);
  // TF Serving's rules: --port 0 turns the TCP port off, which leaves gRPC only on a socket;
  // the two APIs cannot share a port.
  if (grpc_port == 0 && options.grpc_socket_path.empty())
    return Fail("serve", InvalidArgument("--port: 0 turns gRPC's TCP port off; at least one of --port or "
                                         "--grpc_socket_path must be set"));
  if (grpc_port < 0 || grpc_port > 65535)
    return Fail("serve", InvalidArgument("--port: " + std::to_string(grpc_port) + " is not a TCP port"));
  if (grpc_port != 0 && grpc_port == port)
    return Fail("serve", InvalidArgument("--rest_api_port: cannot be the same as --port (" +
                                         std::to_string(grpc_port) + ")"));
  options.grpc_port = grpc_port == 0 ? -1 : static_cast<int>(grpc_port);
  options.rest_api_num_threads = static_cast<int>(num_threads);
  if (grpc_threads < 0 || grpc_threads > 1024)
    return Fail("serve", InvalidArgument("--grpc_max_threads: " + std::to_string(grpc_threads) +
                                         " is not between 0 (the number of CPUs) and 1024"));
  options.grpc_num_threads = static_cast<int>(grpc_threads);
  options.max_body_bytes = static_cast<size_t>(max_body_mb) << 20;
  options.num_model_instances = static_cast<int>(instances);
  if (metrics) options.metrics_path = serving::kDefaultMetricsPath;
  if (!monitoring_config_file.empty()) {
    auto text = ReadFile(monitoring_config_file);
    if (!text.ok()) return Fail("serve", text.status().WithPrefix("--monitoring_config_file"));
    auto path = serving::ParseMonitoringConfig(*text, monitoring_config_file);
    if (!path.ok()) return Fail("serve", path.status());
    options.metrics_path = *path;
  }

  // Thousands of client connections need as many descriptors: take the hard limit.
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  // Stop signals are taken by sigwait below; every thread started from here inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto server = serving::ModelServer::BuildAndStart(options);
  if (!server.ok()) return Fail("serve", server.status());
  if ((*server)->grpc_port() >= 0)
    std::cout << "Running gRPC ModelServer at " << options.rest_api_address << ":" << (*server)->grpc_port()
              << " ..." << std::endl;
  if (!options.grpc_socket_path.empty())
    std::cout << "Running gRPC ModelServer at UNIX socket " << options.grpc_socket_path << " ..." << std::endl;
  std::cout << "Exporting HTTP/REST API at:" << options.rest_api_address << ":" << (*server)->port()
            << " ..." << std::endl;
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::cout << "Received signal " << sig << ", draining in-flight requests" << std::endl;
  bool drained = (*server)->Shutdown(30);
  std::cout << (drained ? "Drained, exiting" : "Drain timed out, exiting") << std::endl;
  return 0;
}

}  // namespace loom::cli
