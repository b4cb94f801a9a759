// GrpcServer: GrpcApi (grpc_api.h) on gRPC++'s asynchronous API: one completion queue per
// thread, each call handled on the thread its queue delivered it to. A predict is handed to
// Servable::PredictAsync, so with batching on a call waits for its batch without holding a
// thread, and the batch thread sends the answer. (gRPC 1.51's callback API runs every call on
// threads of its own behind the pollers: 93 us of server CPU per predict against 65 us here,
// and 3.8k against 8.3k predicts/s, grpc_load at 32 connections on the same machine.) The only
// file that includes gRPC's server.
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
  int num_threads = 0;                   // completion-queue threads; 0: number of CPUs
};

class GrpcServer {
 public:
  struct Impl;  // the services, queues, threads and calls in flight (grpc_server.cc)

  // REQUIRES: api outlives the server. Errors name the address.
  static StatusOr<std::unique_ptr<GrpcServer>> Start(const GrpcServerOptions& options, const GrpcApi* api);
  ~GrpcServer();  // Stop()

  int port() const { return port_; }  // the TCP port bound, -1 without one
  // Stops accepting calls and waits up to timeout_seconds for the calls in flight to finish,
  // then cancels the rest. True if they all finished in time.
  bool Drain(double timeout_seconds);
  void Stop() { Drain(0); }

 private:
  struct Handlers;
  GrpcServer() = default;

  std::unique_ptr<Impl> impl_;
  std::unique_ptr<Handlers> handlers_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = -1;
  bool stopped_ = false;
};

}  // namespace loom::serving
