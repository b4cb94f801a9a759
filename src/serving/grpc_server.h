// GrpcServer: GrpcApi (grpc_api.h) on gRPC's wire protocol, served by net::GrpcHttp2Server
// (HTTP/2 on libnghttp2 and our own event loops): each call's request message is parsed into
// TF Serving's message, handed to the GrpcApi, and its answer serialized back. A predict goes to
// Servable::PredictAsync, so with batching on a call waits for its batch without holding a
// thread, and the batch thread sends the answer. (gRPC++'s own server cost 53-58 us of server
// CPU per predict, a third of it in gRPC core, against REST's 24 us: src/serving/README.md.)
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "net/grpc_http2_server.h"
#include "serving/grpc_api.h"

namespace loom::serving {

struct GrpcServerOptions {
  std::string address = "127.0.0.1";  // never all interfaces unless asked
  int port = 8500;                    // 0 picks a free port; -1: no TCP port (socket_path only)
  std::string socket_path;            // also listen on this UNIX socket when set
  size_t max_message_bytes = 64u << 20;  // larger requests are refused (RESOURCE_EXHAUSTED)
  int num_threads = 0;                   // event loops; 0: number of CPUs
  int connection_timeout_seconds = 60;   // a connection silent this long with no call waiting is closed
};

class GrpcServer {
 public:
  // REQUIRES: api outlives the server. Errors name the address.
  static StatusOr<std::unique_ptr<GrpcServer>> Start(const GrpcServerOptions& options, const GrpcApi* api);
  ~GrpcServer();  // Stop()

  int port() const { return transport_->port(); }  // the TCP port bound, -1 without one
  // Stops accepting calls and waits up to timeout_seconds for the calls in flight to finish;
  // then the calls still waiting are answered UNAVAILABLE. True if they all finished in time.
  bool Drain(double timeout_seconds);
  void Stop() { Drain(0); }

  // The transport's request path, for the fuzzer: one call of `method` with these bytes.
  static void Handle(const GrpcApi* api, net::GrpcCall call, net::GrpcResponder responder);

 private:
  GrpcServer() = default;

  std::unique_ptr<net::GrpcHttp2Server> transport_;
  bool stopped_ = false;
};

}  // namespace loom::serving
