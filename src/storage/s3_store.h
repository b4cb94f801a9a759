// S3Store: an ObjectStore over the S3 REST API (AWS, or an S3-compatible server such as Swift's
// s3api or MinIO), with our own SigV4 signing (sigv4.h) and libcurl (net/http_client.h).
//  - Addressing: virtual-host (bucket.s3.region.amazonaws.com) for AWS, path-style
//    (endpoint/bucket/key, no slash before '?') for everything else.
//  - Every request carries x-amz-content-sha256 of its body; downloads of single-part objects are
//    checked against the MD5 in their ETag, and every download against its length.
//  - Retries with exponential backoff and full jitter on connection errors, 5xx and 429, never on
//    other 4xx. A GET that breaks mid-body resumes with a Range request where it stopped.
//  - A whole-object Get downloads to a hidden partial file beside the path (partial_download.h),
//    renamed into place when complete and verified. If the process dies, or the network gives up,
//    the partial file stays and the next Get of the same object version to the same path fetches
//    only what is missing (Range requests); bytes of another version are thrown away.
//  - Objects larger than multipart_threshold go up in parts, `parallelism` at a time.
// Credentials come only from S3Options (tools/ reads the AWS_* variables); they appear in no
// message or log line. Thread-safety: calls may run concurrently (each uses its own connection).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "net/http_client.h"
#include "storage/object_store.h"
#include "storage/partial_download.h"

namespace loom::storage {

struct S3Options {
  std::string bucket;
  // "http://127.0.0.1:9000" or "https://s3.example.com"; "" means AWS: https://s3.<region>.amazonaws.com.
  std::string endpoint;
  std::string region = "us-east-1";
  // No access_key: anonymous, unsigned requests (public buckets).
  std::string access_key;
  std::string secret_key;
  std::string session_token;  // sent as x-amz-security-token when set
  enum class Addressing { kAuto, kPath, kVirtualHost };
  Addressing addressing = Addressing::kAuto;  // kAuto: virtual-host for *.amazonaws.com, else path
  bool verify_tls = true;
  // Multipart part size, at least: parts grow to about size / (3 * parallelism), up to 64 MiB.
  int64_t part_size = 5 << 20;            // (S3's minimum is 5 MiB)
  int64_t multipart_threshold = 5 << 20;  // objects larger than this go up in parts and come down in ranges
  int parallelism = 4;                    // parts in flight at once
  int max_attempts = 6;                   // per request, first try included
  int backoff_initial_ms = 100;           // doubled each retry, with full jitter
  int backoff_max_ms = 5000;
  long stall_timeout_seconds = 30;        // a transfer making no progress this long is retried
};

class S3Store : public ObjectStore {
 public:
  static StatusOr<std::unique_ptr<S3Store>> Create(const S3Options& options);

  std::string Describe() const override { return "s3://" + options_.bucket; }
  StatusOr<ObjectInfo> Head(const std::string& key) override;
  StatusOr<ObjectInfo> Get(const std::string& key, const std::string& path, const GetOptions& options) override;
  StatusOr<ObjectInfo> Put(const std::string& key, const std::string& path, const PutOptions& options) override;
  Status Delete(const std::string& key) override;
  StatusOr<ListPage> List(const ListOptions& options) override;

  // Creates the bucket; one that exists already and is ours is fine.
  Status CreateBucket();

  // What a request is; public for the tests of URL building.
  struct Request {
    std::string method = "GET";
    std::string key;  // "" for bucket-level requests
    std::vector<std::pair<std::string, std::string>> query;
    net::HttpHeaders headers;
    std::string body;  // or a file range:
    std::string body_file;
    int64_t body_offset = 0;
    int64_t body_length = 0;
    std::string payload_sha256;  // "" means SHA-256 of `body`
  };
  // The URL a request goes to, and the Host header signed for it.
  std::pair<std::string, std::string> UrlFor(const Request& request) const;

 private:
  explicit S3Store(const S3Options& options);
  // One attempt: signs (fresh x-amz-date) and sends.
  StatusOr<net::HttpResponse> SendOnce(net::HttpClient* client, const Request& request,
                                       const net::HttpRequest& hooks);
  // Sends with retries; returns the final response if its status is 2xx (or one of ok_statuses),
  // else the S3 error as a Status.
  StatusOr<net::HttpResponse> Call(const Request& request, std::vector<long> ok_statuses = {});
  // Sleeps before retry `attempt` (1-based) and logs why; false when attempts are used up.
  bool BackoffBeforeRetry(int attempt, const std::string& what, const std::string& why);
  // Fetches `length` bytes (-1: to the end) at `offset`, handing each chunk and its position to
  // `sink`, resuming with a Range request after a broken connection. *etag, when set on entry,
  // must match the server's (the object did not change); on return it is the server's.
  Status FetchRange(net::HttpClient* client, const std::string& key, int64_t offset, int64_t length,
                    std::string* etag, int64_t* received,
                    const std::function<Status(std::string_view, int64_t)>& sink);
  // What one try of a whole-object Get found out, for the decision to keep the partial file.
  struct Attempt {
    bool resumed = false;      // it went on from an earlier attempt's bytes
    bool local_error = false;  // writing the local file failed (disk full, ...): keep nothing
  };
  // A range of an object (GetOptions offset/length): to a temporary renamed into place, no resume.
  StatusOr<ObjectInfo> GetRange(const std::string& key, const std::string& path, const GetOptions& options);
  // A whole object in one stream into `partial`, going on from its bytes when they are of the same version.
  StatusOr<ObjectInfo> GetWhole(const std::string& key, const std::string& path, PartialDownload& partial,
                                const GetOptions& options, Attempt* attempt);
  // A whole large object in ranges, `parallelism` at a time, into `partial`; ranges an earlier
  // attempt finished for the same version are not fetched again.
  StatusOr<ObjectInfo> GetParallel(const ObjectInfo& head, const std::string& path, PartialDownload& partial,
                                   const GetOptions& options, Attempt* attempt);
  // The part (and download range) size for an object of `size` bytes.
  int64_t PartSizeFor(int64_t size) const;
  StatusOr<ObjectInfo> PutMultipart(const std::string& key, const std::string& path, int64_t size,
                                    const PutOptions& options);
  std::string What(const std::string& method, const std::string& key) const;

  // A pool of idle connections; each call takes one and gives it back.
  std::unique_ptr<net::HttpClient> TakeClient();
  void ReturnClient(std::unique_ptr<net::HttpClient> client);

  S3Options options_;
  std::string scheme_;  // "http" or "https"
  std::string host_;    // endpoint host[:port]
  std::string base_path_;  // endpoint path prefix, "" usually
  bool virtual_host_ = false;
  std::mutex mu_;
  std::vector<std::unique_ptr<net::HttpClient>> idle_;
};

// The S3 error in a response as a Status: "<what>: HTTP 403 SignatureDoesNotMatch: <message>".
Status S3ErrorStatus(const std::string& what, const net::HttpResponse& response);

}  // namespace loom::storage
