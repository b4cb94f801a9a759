// HttpClient: one HTTP/1.1 connection's worth of libcurl, for the object store and other clients.
// Bodies stream: a request body comes from memory or from a byte range of a file, and a response
// body goes to a callback or into memory. Transport failures (refused, reset, timed out) come
// back as kUnavailable; any HTTP status is a response, not an error: the caller decides.
// Thread-safety: one request at a time per HttpClient (it keeps its connection alive between
// requests); use one client per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace loom::net {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";  // GET, PUT, POST, PATCH (these three send the body), HEAD, DELETE...
  std::string url;             // already percent-encoded
  HttpHeaders headers;         // sent as given (Host, if given, replaces curl's)
  // The body: `body` when body_file is empty, else body_length bytes of body_file at body_offset.
  std::string body;
  std::string body_file;
  int64_t body_offset = 0;
  int64_t body_length = 0;
  // When set, the response body goes here chunk by chunk (only for 2xx responses; an error
  // body is kept in HttpResponse::body); returning false aborts the transfer (kCancelled).
  std::function<bool(std::string_view)> on_body;
  // Called once with the response (status and headers, no body) before the first body byte of
  // a 2xx response reaches on_body.
  std::function<void(const struct HttpResponse&)> on_headers;
  // Upload/download progress: bytes of the body sent or received so far in this request.
  std::function<void(int64_t sent, int64_t received)> on_progress;
};

struct HttpResponse {
  long status = 0;
  HttpHeaders headers;  // names lowercased
  std::string body;     // the body when no on_body was given, or the error body
  // The value of header `name` (lowercase), or "" when absent.
  std::string Header(std::string_view name) const;
};

struct HttpClientOptions {
  bool verify_tls = true;            // check the server's certificate (https only)
  std::string ca_file;               // trust the certificates in this PEM file (else the system's)
  long connect_timeout_seconds = 10;
  // A transfer slower than 1 byte/s for this long is abandoned (a hung server).
  long stall_timeout_seconds = 30;
  long timeout_seconds = 0;          // the whole request at most this long (0: no limit)
};

class HttpClient {
 public:
  static StatusOr<std::unique_ptr<HttpClient>> Create(const HttpClientOptions& options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request and waits for the whole response. kUnavailable on a transport error
  // (message says what: "connection refused", "connection reset" ...), kCancelled when
  // on_body returned false, kNotFound/kPermissionDenied when body_file cannot be read.
  StatusOr<HttpResponse> Send(const HttpRequest& request);

 private:
  explicit HttpClient(const HttpClientOptions& options, void* curl) : options_(options), curl_(curl) {}
  HttpClientOptions options_;
  void* curl_;  // CURL*
};

// Percent-encodes everything but A-Z a-z 0-9 - _ . ~ (and '/' when keep_slash), as S3 wants.
std::string UrlEncode(std::string_view text, bool keep_slash);

}  // namespace loom::net
