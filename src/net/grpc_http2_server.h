// GrpcHttp2Server: gRPC's wire protocol for unary calls, on HTTP/2 (libnghttp2: framing, HPACK,
// flow control) and our own epoll event loops. It wraps libnghttp2 (the only file that includes
// it) and knows nothing of protobuf: a call is a method path and the bytes of its one request
// message; the answer is a gRPC status, or OK and the bytes of the response message.
//
// As gRPC's HTTP/2 protocol (PROTOCOL-HTTP2.md) says: POST with content-type application/grpc
// or application/grpc+proto (any other application/grpc+X is refused UNIMPLEMENTED, a content
// type that is not gRPC's gets HTTP 415), each message a 5-byte prefix (compressed flag, length)
// and its bytes, the answer's HEADERS then DATA then trailers with grpc-status and grpc-message
// (percent-encoded), or trailers only for an error. grpc-timeout is a deadline: a call not
// answered by then ends DEADLINE_EXCEEDED. Messages are never compressed: a grpc-encoding other
// than identity is refused UNIMPLEMENTED with grpc-accept-encoding: identity, as gRPC refuses an
// encoding it does not have. A message larger than max_message_bytes is RESOURCE_EXHAUSTED.
// HTTP/2's SETTINGS, PING, WINDOW_UPDATE and flow control are libnghttp2's, which also bounds
// floods (rapid resets, SETTINGS and PING acknowledgements, CONTINUATION frames).
//
// Threads: num_threads event loops, each with its own epoll set; every loop waits on the
// listening sockets (EPOLLEXCLUSIVE), so a new connection goes to one loop and stays there. The
// handler runs on the loop thread of its connection and should be quick; a handler that has to
// wait (a batch) answers later, from any thread, through its GrpcResponder, and the loop goes
// on with other calls meanwhile. An answer given before the handler returns costs no hand-off.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace loom::net {

// gRPC's status codes (the same numbers as TensorFlow's error codes).
enum class GrpcCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
};

struct GrpcCall {
  std::string_view method;   // the request's :path, "/tensorflow.serving.PredictionService/Predict"
  std::string_view message;  // the bytes of its request message (without the 5-byte prefix)
  // Both are valid only until the handler returns (the handler parses the message at once).
};

// The answer to one call, given now or later from any thread. Copies share one answer: the
// first Respond is sent, later ones are ignored; when the last copy goes without an answer the
// client gets INTERNAL. Answering after the client went away, the deadline passed or the server
// stopped is safe and sends nothing. Thread-safe.
class GrpcResponder {
 public:
  struct Slot;  // what the server shares with the copies (grpc_http2_server.cc)
  explicit GrpcResponder(std::shared_ptr<Slot> slot) : slot_(std::move(slot)) {}

  // OK and the response message's bytes.
  void Respond(std::string response_message) const;
  // An error (code != kOk) and its message (sent percent-encoded in grpc-message).
  void Fail(GrpcCode code, const std::string& message) const;

 private:
  std::shared_ptr<Slot> slot_;
};

using GrpcHandler = std::function<void(GrpcCall call, GrpcResponder responder)>;

struct GrpcHttp2ServerOptions {
  std::string address = "127.0.0.1";  // an IPv4 or IPv6 literal; never all interfaces unless asked
  int port = 0;                       // 0 picks a free port; -1: no TCP port (socket_path only)
  std::string socket_path;            // also listen on this UNIX socket when set
  int num_threads = 2;                // event loops
  size_t max_message_bytes = 4u << 20;  // a larger request message is RESOURCE_EXHAUSTED
  // A connection with no call open and no traffic for this long is closed.
  int connection_timeout_seconds = 60;
  int max_connections = 20000;         // beyond this, new connections are closed at accept
  uint32_t max_concurrent_streams = 1000;  // SETTINGS_MAX_CONCURRENT_STREAMS, per connection
  uint32_t max_header_list_bytes = 16384;  // a request's header block beyond this is reset
};

class GrpcHttp2Server {
 public:
  struct Impl;

  // Binds and starts serving. Errors name the address ("127.0.0.1:8500: bind: Address in use").
  static StatusOr<std::unique_ptr<GrpcHttp2Server>> Start(const GrpcHttp2ServerOptions& options,
                                                          GrpcHandler handler);
  ~GrpcHttp2Server();  // Stop()

  int port() const { return port_; }  // the TCP port bound, -1 without one

  // Serves an already-connected stream socket (a socketpair end) as if it had been accepted;
  // takes fd. For the fuzzer and tests.
  void AddConnection(int fd);

  // Stops accepting connections and calls: every connection gets GOAWAY's shutdown notice and
  // a new call is refused (REFUSED_STREAM, which a client may retry elsewhere); waits up to
  // timeout_seconds for the calls in flight to be answered. True if they all were.
  bool Drain(double timeout_seconds);
  // Answers the calls still waiting UNAVAILABLE, sends GOAWAY, closes every connection and
  // stops the loops. Idempotent.
  void Stop();

  int64_t active_calls() const;  // handed to the handler and not answered yet

 private:
  GrpcHttp2Server() = default;
  int port_ = -1;
  std::unique_ptr<Impl> impl_;
};

}  // namespace loom::net
