// HttpServer: an HTTP/1.1 server that hands each complete request (headers and whole body) to
// one handler and sends the handler's response. It wraps libmicrohttpd (the only file that
// includes it): epoll with a fixed pool of event threads, so thousands of idle keep-alive
// connections cost a file descriptor each, not a thread (a slow client cannot hold a thread).
//
// The handler runs on an event thread and must be thread-safe; it should be quick (model
// predict is tens of microseconds) since the connections of that thread wait meanwhile.
// A handler that has to wait (for a batch, say) is asynchronous instead (CreateAsync): it may
// answer later, from any thread, through an HttpResponder; meanwhile its connection is set
// aside (libmicrohttpd's suspend/resume) and the event thread serves the others.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace loom::net {

struct HttpServerRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // the URL path, percent-decoded, without the query
  std::vector<std::pair<std::string, std::string>> query;  // ?k=v arguments, percent-decoded
  std::vector<std::pair<std::string, std::string>> headers;  // names as sent
  std::string body;
  // The first header with this name (case-insensitive), or empty.
  std::string Header(const std::string& name) const;
  // The first query argument with this name (case-sensitive), or empty.
  std::string Query(const std::string& name) const;
};

struct HttpServerResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, sent as given
  // When set, `body` is ignored and the body is streamed (chunked): `stream` is called on the
  // event thread whenever the client can take more; it appends what is ready to *out and returns
  // true, or returns false at the end of the body. Returning true with nothing appended means
  // "nothing yet": the connection is set aside (no thread waits) and asked again after
  // stream_poll_ms. For following a log as it grows. Must be quick and thread-safe like the
  // handler; it is destroyed when the response ends or the client goes away.
  std::function<bool(std::string* out)> stream;
  int stream_poll_ms = 200;
};

using HttpServerHandler = std::function<void(const HttpServerRequest& request, HttpServerResponse* response)>;

// The answer to one request of an asynchronous handler, given now or later from any thread.
// Copies share one answer: the first Respond is sent, later ones are ignored. When the last
// copy goes without an answer the client gets 500. Answering after the client went away or
// the server stopped is safe and sends nothing. Thread-safe.
class HttpResponder {
 public:
  struct Slot;  // what the server shares with the copies (http_server.cc)
  explicit HttpResponder(std::shared_ptr<Slot> slot) : slot_(std::move(slot)) {}

  void Respond(HttpServerResponse response) const;

 private:
  std::shared_ptr<Slot> slot_;
};

// Called on an event thread with each complete request; answers through `responder`, before
// returning (no cost beyond the synchronous handler's) or later.
using HttpServerAsyncHandler = std::function<void(const HttpServerRequest& request, HttpResponder responder)>;

struct HttpServerOptions {
  // The address to bind: an IPv4 or IPv6 literal. 127.0.0.1 unless the user asks otherwise.
  std::string address = "127.0.0.1";
  // 0 picks a free port; port() tells which.
  int port = 0;
  // Event threads: each serves its share of the connections.
  int num_threads = 2;
  // Bodies larger than this are answered 413 without being read to the end.
  size_t max_body_bytes = 64u << 20;
  // When set, the body limit of each request from its method and path (instead of
  // max_body_bytes): a server whose endpoints take bodies of very different sizes.
  std::function<size_t(const std::string& method, const std::string& path)> body_limit;
  // HTTPS (GnuTLS, through libmicrohttpd) with this certificate chain and private key, PEM
  // text; both empty: plain HTTP.
  std::string tls_cert_pem;
  std::string tls_key_pem;
  // A connection with no traffic for this long is closed (idle keep-alive or a stalled client).
  int connection_timeout_seconds = 60;
  // Connections beyond this are refused at accept.
  int max_connections = 20000;
};

class HttpServer {
 public:
  // Binds and starts serving. Errors name the address: "127.0.0.1:8501: Address in use".
  static StatusOr<std::unique_ptr<HttpServer>> Create(const HttpServerOptions& options,
                                                      HttpServerHandler handler);
  // The same with a handler that may answer later (HttpResponder).
  static StatusOr<std::unique_ptr<HttpServer>> CreateAsync(const HttpServerOptions& options,
                                                           HttpServerAsyncHandler handler);
  ~HttpServer();  // Stop()

  // The bound port.
  int port() const { return port_; }
  // Stops accepting connections, then waits until no request is being handled or
  // timeout_seconds passes (requests already read are answered, deferred ones included).
  // Returns true if drained.
  bool Drain(double timeout_seconds);
  // Closes every connection and stops the event threads. Requests still waiting for an
  // asynchronous answer are answered 503 or closed. Idempotent.
  void Stop();

  // Requests being read, handled or waiting for their deferred answer right now (for drain and
  // tests).
  int64_t active_requests() const { return active_requests_.load(); }

 private:
  struct Impl;
  HttpServer(HttpServerOptions options, HttpServerHandler handler, HttpServerAsyncHandler async_handler);
  static StatusOr<std::unique_ptr<HttpServer>> Start(std::unique_ptr<HttpServer> server);

  HttpServerOptions options_;
  HttpServerHandler handler_;              // exactly one of these two is set
  HttpServerAsyncHandler async_handler_;
  int port_ = 0;
  std::atomic<int64_t> active_requests_{0};
  std::unique_ptr<Impl> impl_;
};

// The reason phrase of an HTTP status code ("Not Found"), for logs and clients.
const char* HttpReason(int status);

}  // namespace loom::net
