// GrpcServer: GrpcApi (grpc_api.h) on gRPC++, with its callback API: a predict is handed to
// Servable::PredictAsync, so with batching on a call waits for its batch without holding a
// thread, and the batch thread finishes the call. The only file that includes gRPC's server.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "serving/grpc_api.h"

namespace grpc {
class Server;
}

namespace loom::serving {

struct GrpcServerOptions {
  std::string address = "127.0.0.1";  // never all interfaces unless asked
  int port = 8500;                    // 0 picks a free port; -1: no TCP port (socket_path only)
  std::string socket_path;            // also listen on this UNIX socket when set
  size_t max_message_bytes = 64u << 20;  // larger requests are refused (RESOURCE_EXHAUSTED)
};

class GrpcServer {
 public:
  // REQUIRES: api outlives the server. Errors name the address.
  static StatusOr<std::unique_ptr<GrpcServer>> Start(const GrpcServerOptions& options, const GrpcApi* api);
  ~GrpcServer();  // Stop()

  int port() const { return port_; }  // the TCP port bound, -1 without one
  // Stops accepting calls and waits up to timeout_seconds for the calls in flight to finish,
  // then cancels the rest. True if they all finished in time.
  bool Drain(double timeout_seconds);
  void Stop() { Drain(0); }

 private:
  struct Services;
  GrpcServer() = default;

  std::unique_ptr<Services> services_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = -1;
  bool stopped_ = false;
};

}  // namespace loom::serving
