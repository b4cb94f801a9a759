#include "storage/s3_store.h"

#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <ctime>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "core/file.h"
#include "core/logging.h"
#include "storage/hash.h"
#include "storage/partial_download.h"
#include "storage/s3_xml.h"
#include "storage/sigv4.h"

namespace loom::storage {
namespace {

constexpr int kMaxParts = 1000;  // Swift's limit (AWS allows 10000)

std::string AmzDateNow() {
  std::time_t now = std::time(nullptr);
  std::tm tm;
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// An S3 error answer's <Code> and <Message>; empty when the body is not an <Error> document
// (a HEAD has no body, a proxy may answer HTML).
struct S3Error {
  std::string code, message;
};
S3Error ErrorOf(const net::HttpResponse& response) {
  if (response.body.empty()) return {};
  auto doc = ParseXml(response.body, "S3 error");
  if (!doc.ok() || doc->name != "Error") return {};
  return {doc->ChildText("Code"), doc->ChildText("Message")};
}

std::string StripQuotes(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return s.substr(1, s.size() - 2);
  return s;
}

bool IsRetryableStatus(long status) { return status >= 500 || status == 429; }

// Writes all of `data` at `position` of fd; errors name `path` (the file the user asked for).
Status PWriteAll(int fd, std::string_view data, int64_t position, const std::string& path) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::pwrite(fd, data.data() + off, data.size() - off, position + static_cast<int64_t>(off));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(path, "write", errno);
    }
    off += static_cast<size_t>(n);
  }
  return OkStatus();
}

// Feeds the first `length` bytes of fd to `digest`.
Status HashFilePrefix(int fd, int64_t length, const std::string& path, Digest* digest) {
  std::string buffer(1 << 20, '\0');
  for (int64_t at = 0; at < length;) {
    ssize_t n = ::pread(fd, buffer.data(), std::min<int64_t>(buffer.size(), length - at), at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(path, "read", errno);
    if (n == 0) return DataLoss(path + ": ended at byte " + std::to_string(at) + " of " + std::to_string(length));
    digest->Update(std::string_view(buffer.data(), static_cast<size_t>(n)));
    at += n;
  }
  return OkStatus();
}

bool IsHexMd5(const std::string& etag) {
  if (etag.size() != 32) return false;
  for (char c : etag)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace

Status S3ErrorStatus(const std::string& what, const net::HttpResponse& response) {
  const auto [code, message] = ErrorOf(response);
  std::string text = what + ": HTTP " + std::to_string(response.status);
  if (!code.empty()) text += " " + code;
  if (!message.empty()) text += ": " + message;
  if (code == "SignatureDoesNotMatch")
    text += " (signature does not match: check the access key and secret, and the region)";
  long s = response.status;
  if (s == 404) return NotFound(text);
  if (s == 401 || s == 403) return PermissionDenied(text);
  if (s == 409) return FailedPrecondition(text);
  if (s == 416) return OutOfRange(text);
  if (s == 429 || s >= 500) return Unavailable(text);
  return InvalidArgument(text);
}

S3Store::S3Store(const S3Options& options) : options_(options) {}

StatusOr<std::unique_ptr<S3Store>> S3Store::Create(const S3Options& options) {
  S3Options o = options;
  if (o.bucket.empty()) return InvalidArgument("s3: no bucket given");
  if (o.bucket.find('/') != std::string::npos) return InvalidArgument("s3: bucket \"" + o.bucket + "\" contains '/'");
  if (o.region.empty()) o.region = "us-east-1";
  if (o.endpoint.empty()) o.endpoint = "https://s3." + o.region + ".amazonaws.com";
  if (o.part_size < (5 << 20)) return InvalidArgument("s3: part_size " + std::to_string(o.part_size) + " is below S3's 5 MiB minimum");
  if (o.parallelism < 1) o.parallelism = 1;
  if (o.max_attempts < 1) o.max_attempts = 1;
  if (!o.access_key.empty() && o.secret_key.empty())
    return InvalidArgument("s3: an access key is set but no secret key");
  auto store = std::unique_ptr<S3Store>(new S3Store(o));
  size_t sep = o.endpoint.find("://");
  if (sep == std::string::npos) return InvalidArgument("s3: endpoint \"" + o.endpoint + "\" has no scheme (http:// or https://)");
  store->scheme_ = o.endpoint.substr(0, sep);
  if (store->scheme_ != "http" && store->scheme_ != "https")
    return InvalidArgument("s3: endpoint \"" + o.endpoint + "\": scheme must be http or https");
  std::string rest = o.endpoint.substr(sep + 3);
  size_t slash = rest.find('/');
  store->host_ = rest.substr(0, slash);
  if (slash != std::string::npos) {
    store->base_path_ = rest.substr(slash);
    while (!store->base_path_.empty() && store->base_path_.back() == '/') store->base_path_.pop_back();
  }
  if (store->host_.empty()) return InvalidArgument("s3: endpoint \"" + o.endpoint + "\" has no host");
  switch (o.addressing) {
    case S3Options::Addressing::kPath: store->virtual_host_ = false; break;
    case S3Options::Addressing::kVirtualHost: store->virtual_host_ = true; break;
    case S3Options::Addressing::kAuto: {
      std::string host = store->host_.substr(0, store->host_.find(':'));
      const std::string aws = ".amazonaws.com";
      // Buckets with dots break TLS wildcard certificates under virtual-host addressing.
      store->virtual_host_ = host.size() > aws.size() && host.compare(host.size() - aws.size(), aws.size(), aws) == 0 &&
                             o.bucket.find('.') == std::string::npos;
      break;
    }
  }
  return store;
}

std::pair<std::string, std::string> S3Store::UrlFor(const Request& request) const {
  std::string host = virtual_host_ ? options_.bucket + "." + host_ : host_;
  std::string path = base_path_;
  if (!virtual_host_) path += "/" + options_.bucket;
  if (!request.key.empty() || virtual_host_) path += "/" + net::UrlEncode(request.key, true);
  std::string url = scheme_ + "://" + host + path;
  std::string query = CanonicalQueryString(request.query);
  if (!query.empty()) url += "?" + query;
  return {url, host};
}

std::string S3Store::What(const std::string& method, const std::string& key) const {
  return method + " s3://" + options_.bucket + "/" + key;
}

std::unique_ptr<net::HttpClient> S3Store::TakeClient() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  net::HttpClientOptions o;
  o.verify_tls = options_.verify_tls;
  o.stall_timeout_seconds = options_.stall_timeout_seconds;
  auto c = net::HttpClient::Create(o);
  return c.ok() ? std::move(c).value() : nullptr;
}

void S3Store::ReturnClient(std::unique_ptr<net::HttpClient> client) {
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(std::move(client));
}

StatusOr<net::HttpResponse> S3Store::SendOnce(net::HttpClient* client, const Request& request,
                                              const net::HttpRequest& hooks) {
  auto [url, host] = UrlFor(request);
  net::HttpRequest http = hooks;
  http.method = request.method;
  http.url = url;
  http.body = request.body;
  http.body_file = request.body_file;
  http.body_offset = request.body_offset;
  http.body_length = request.body_length;
  std::string payload = request.payload_sha256.empty() ? Sha256Hex(request.body) : request.payload_sha256;
  std::string date = AmzDateNow();
  net::HttpHeaders headers = request.headers;
  headers.emplace_back("host", host);
  headers.emplace_back("x-amz-date", date);
  headers.emplace_back("x-amz-content-sha256", payload);
  if (!options_.session_token.empty()) headers.emplace_back("x-amz-security-token", options_.session_token);
  http.headers = headers;
  if (!options_.access_key.empty()) {
    SigV4Request sr;
    sr.method = request.method;
    sr.path = url.substr(url.find('/', scheme_.size() + 3));
    sr.path = sr.path.substr(0, sr.path.find('?'));
    sr.query = request.query;
    sr.headers = headers;
    sr.payload_sha256 = payload;
    SigV4Signature sig = SignV4(sr, {options_.access_key, options_.secret_key}, options_.region, "s3", date);
    http.headers.emplace_back("Authorization", sig.authorization);
  }
  return client->Send(http);
}

bool S3Store::BackoffBeforeRetry(int attempt, const std::string& what, const std::string& why) {
  if (attempt >= options_.max_attempts) return false;
  thread_local std::mt19937_64 rng{std::random_device{}()};
  int64_t cap = std::min<int64_t>(options_.backoff_max_ms, static_cast<int64_t>(options_.backoff_initial_ms) << std::min(attempt - 1, 20));
  int64_t sleep_ms = std::uniform_int_distribution<int64_t>(cap / 2, cap)(rng);
  LOOM_LOG(WARNING) << what << ": " << why << "; retry " << attempt << " of " << options_.max_attempts - 1 << " in "
                    << sleep_ms << " ms";
  std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
  return true;
}

StatusOr<net::HttpResponse> S3Store::Call(const Request& request, std::vector<long> ok_statuses) {
  std::string what = What(request.method, request.key);
  std::unique_ptr<net::HttpClient> client = TakeClient();
  if (!client) return Internal(what + ": cannot make an HTTP client");
  for (int attempt = 1;; ++attempt) {
    auto response = SendOnce(client.get(), request, net::HttpRequest{});
    std::string why;
    if (!response.ok()) {
      if (response.status().code() != StatusCode::kUnavailable) return response.status();
      why = response.status().message();
      if (!BackoffBeforeRetry(attempt, what, why))
        return Unavailable(what + ": " + why + " (gave up after " + std::to_string(attempt) + " attempts)");
      continue;
    }
    long s = response->status;
    bool ok = (s >= 200 && s < 300) || std::find(ok_statuses.begin(), ok_statuses.end(), s) != ok_statuses.end();
    // CompleteMultipartUpload may answer 200 with an <Error> body.
    if (ok && request.method == "POST" && !ErrorOf(*response).code.empty()) {
      response->status = 500;
      s = 500;
      ok = false;
    }
    if (ok) {
      ReturnClient(std::move(client));
      return response;
    }
    Status error = S3ErrorStatus(what, *response);
    if (!IsRetryableStatus(s) || !BackoffBeforeRetry(attempt, what, "HTTP " + std::to_string(s))) return error;
  }
}

Status S3Store::CreateBucket() {
  Request r;
  r.method = "PUT";
  auto response = Call(r, {409});
  if (!response.ok()) return response.status();
  if (response->status == 409 && ErrorOf(*response).code != "BucketAlreadyOwnedByYou") {
    return S3ErrorStatus("PUT s3://" + options_.bucket, *response);
  }
  return OkStatus();
}

StatusOr<ObjectInfo> S3Store::Head(const std::string& key) {
  Request r;
  r.method = "HEAD";
  r.key = key;
  LOOM_ASSIGN_OR_RETURN(net::HttpResponse response, Call(r));
  return ObjectInfo{key, std::atoll(response.Header("content-length").c_str()), StripQuotes(response.Header("etag"))};
}

Status S3Store::Delete(const std::string& key) {
  Request r;
  r.method = "DELETE";
  r.key = key;
  auto response = Call(r, {404});
  return response.status();
}

Status S3Store::FetchRange(net::HttpClient* client, const std::string& key, int64_t offset, int64_t length,
                          std::string* etag, int64_t* received_out,
                          const std::function<Status(std::string_view, int64_t)>& sink) {
  std::string what = What("GET", key);
  int64_t received = 0;
  int64_t expected = -1;  // bytes this fetch must deliver, known from the first response
  Status write_error;
  bool etag_changed = false;
  for (int attempt = 1;; ++attempt) {
    if (length == 0) break;
    Request r;
    r.key = key;
    bool ranged = offset > 0 || length >= 0 || received > 0;
    if (ranged) {
      std::string range = "bytes=" + std::to_string(offset + received) + "-";
      if (length >= 0) range += std::to_string(offset + length - 1);
      r.headers.emplace_back("Range", range);
    }
    net::HttpRequest hooks;
    bool range_ignored = false;
    hooks.on_headers = [&](const net::HttpResponse& h) {
      std::string tag = StripQuotes(h.Header("etag"));
      if (!etag->empty() && tag != *etag) etag_changed = true;
      *etag = tag;
      if (ranged && h.status == 200) range_ignored = true;
      if (expected < 0) expected = std::atoll(h.Header("content-length").c_str());
    };
    hooks.on_body = [&](std::string_view chunk) {
      if (etag_changed || range_ignored) return false;
      write_error = sink(chunk, offset + received);
      if (!write_error.ok()) return false;
      received += static_cast<int64_t>(chunk.size());
      return true;
    };
    auto response = SendOnce(client, r, hooks);
    if (!write_error.ok()) return write_error.WithPrefix(what);
    if (etag_changed) return FailedPrecondition(what + ": the object changed during the download (ETag differs)");
    if (range_ignored) return DataLoss(what + ": the server ignored the Range header");
    std::string why;
    if (!response.ok()) {
      if (response.status().code() != StatusCode::kUnavailable) return response.status();
      why = response.status().message();
    } else if (response->status == 200 || response->status == 206) {
      if (etag->empty()) *etag = StripQuotes(response->Header("etag"));  // an empty body: no on_headers
      if (expected < 0) expected = std::atoll(response->Header("content-length").c_str());
      if (received < expected) {
        why = "body ended after " + std::to_string(received) + " of " + std::to_string(expected) + " bytes";
      } else {
        break;
      }
    } else {
      Status error = S3ErrorStatus(what, *response);
      if (!IsRetryableStatus(response->status)) return error;
      why = "HTTP " + std::to_string(response->status);
    }
    if (!BackoffBeforeRetry(attempt, what, why + (received > 0 ? ", resuming at byte " + std::to_string(offset + received) : "")))
      return Unavailable(what + ": " + why + " (gave up after " + std::to_string(attempt) + " attempts)");
  }
  if (expected >= 0 && received != expected)
    return DataLoss(what + ": got " + std::to_string(received) + " bytes, expected " + std::to_string(expected));
  *received_out = received;
  return OkStatus();
}

StatusOr<ObjectInfo> S3Store::Get(const std::string& key, const std::string& path, const GetOptions& options) {
  if (options.offset != 0 || options.length >= 0) return GetRange(key, path, options);
  std::optional<ObjectInfo> head;
  if (options_.parallelism > 1) {
    // Large objects come down in ranges, `parallelism` at a time; small ones in one stream.
    // A failed HEAD carries no error body: the GET below reports the error in full.
    auto h = Head(key);
    if (h.ok() && h->size > options_.multipart_threshold) head = *h;
  }
  LOOM_ASSIGN_OR_RETURN(PartialDownload partial, PartialDownload::Open(path));
  Attempt attempt;
  auto run = [&] { return head ? GetParallel(*head, path, partial, options, &attempt) : GetWhole(key, path, partial, options, &attempt); };
  StatusOr<ObjectInfo> got = run();
  StatusCode code = got.status().code();
  if (!got.ok() && attempt.resumed &&
      (code == StatusCode::kFailedPrecondition || code == StatusCode::kOutOfRange || code == StatusCode::kDataLoss)) {
    // What an earlier attempt left is of no use (the object changed, or the bytes do not check out).
    LOOM_LOG(WARNING) << got.status().message() << "; downloading it again from the start";
    attempt = Attempt();
    Status reset = partial.Reset({});
    got = reset.ok() ? run() : StatusOr<ObjectInfo>(reset);
  }
  if (!got.ok()) {
    auto kept = partial.Length();
    if (options.keep_partial && !attempt.local_error && got.status().code() == StatusCode::kUnavailable && kept.ok() &&
        *kept > 0) {
      return Status(got.status().code(), got.status().message() + " (" + std::to_string(*kept) + " bytes kept in " +
                                             partial.partial_path() + ": the next get resumes from there)");
    }
    partial.Discard();
    return got.status();
  }
  Status committed = partial.Commit();
  if (!committed.ok()) {
    partial.Discard();
    return committed;
  }
  return got;
}

StatusOr<ObjectInfo> S3Store::GetRange(const std::string& key, const std::string& path, const GetOptions& options) {
  std::string what = What("GET", key);
  LOOM_ASSIGN_OR_RETURN(AtomicFileWriter writer, AtomicFileWriter::Open(path));
  std::unique_ptr<net::HttpClient> client = TakeClient();
  if (!client) return Internal(what + ": cannot make an HTTP client");
  std::string etag;
  int64_t received = 0;
  LOOM_RETURN_IF_ERROR(FetchRange(client.get(), key, options.offset, options.length, &etag, &received,
                                  [&](std::string_view chunk, int64_t position) {
                                    LOOM_RETURN_IF_ERROR(writer.Append(chunk));
                                    if (options.progress) options.progress(position + chunk.size() - options.offset, -1);
                                    return OkStatus();
                                  }));
  ReturnClient(std::move(client));
  LOOM_RETURN_IF_ERROR(writer.Commit());
  return ObjectInfo{key, -1, etag};
}

StatusOr<ObjectInfo> S3Store::GetWhole(const std::string& key, const std::string& path, PartialDownload& partial,
                                       const GetOptions& options, Attempt* attempt) {
  std::string what = What("GET", key);
  Digest md5(Digest::Kind::kMd5);
  std::string etag;
  int64_t start = 0;
  const PartialDownload::State& found = partial.state();
  if (found.part_size == 0 && !found.etag.empty()) {
    // An earlier attempt's bytes of the version with this ETag: keep them, fetch the rest.
    LOOM_ASSIGN_OR_RETURN(start, partial.Length());
    etag = found.etag;
    LOOM_RETURN_IF_ERROR(HashFilePrefix(partial.fd(), start, partial.partial_path(), &md5));
    attempt->resumed = true;
    LOOM_LOG(INFO) << what << ": resuming at byte " << start << " from " << partial.partial_path();
  } else {
    LOOM_RETURN_IF_ERROR(partial.Reset({}));
  }
  std::unique_ptr<net::HttpClient> client = TakeClient();
  if (!client) return Internal(what + ": cannot make an HTTP client");
  bool saved = attempt->resumed;
  int64_t received = 0;
  LOOM_RETURN_IF_ERROR(FetchRange(client.get(), key, start, -1, &etag, &received,
                                  [&](std::string_view chunk, int64_t position) {
                                    Status s;
                                    if (!saved) {  // before the first byte lands: whose bytes they are
                                      s = partial.Save({etag, -1, 0, {}});
                                      saved = s.ok();
                                    }
                                    if (s.ok()) s = PWriteAll(partial.fd(), chunk, position, path);
                                    if (!s.ok()) {
                                      attempt->local_error = true;
                                      return s;
                                    }
                                    md5.Update(chunk);
                                    if (options.progress) options.progress(position + chunk.size(), -1);
                                    return OkStatus();
                                  }));
  ReturnClient(std::move(client));
  if (IsHexMd5(etag)) {
    std::string got = md5.HexFinal();
    if (got != etag) return DataLoss(what + ": content MD5 " + got + " does not match the ETag " + etag);
  }
  return ObjectInfo{key, start + received, etag};
}

StatusOr<ObjectInfo> S3Store::GetParallel(const ObjectInfo& head, const std::string& path, PartialDownload& partial,
                                          const GetOptions& options, Attempt* attempt) {
  std::string what = What("GET", head.key);
  int64_t size = head.size;
  const PartialDownload::State& found = partial.state();
  int64_t part = PartSizeFor(size);
  std::set<int64_t> done;
  if (found.etag == head.etag && found.size == size && found.part_size > 0) {
    // An earlier attempt's finished parts of this very version: fetch only the others.
    part = found.part_size;
    done = found.done;
    attempt->resumed = true;
  } else {
    Status reset = partial.Reset({head.etag, size, part, {}});
    if (!reset.ok()) {
      attempt->local_error = true;
      return reset;
    }
  }
  int64_t parts = (size + part - 1) / part;
  std::vector<int64_t> todo;
  int64_t done_bytes = 0;
  for (int64_t i = 0; i < parts; ++i) {
    if (done.count(i)) done_bytes += std::min(part, size - i * part);
    else todo.push_back(i);
  }
  if (attempt->resumed)
    LOOM_LOG(INFO) << what << ": resuming: " << parts - static_cast<int64_t>(todo.size()) << " of " << parts
                   << " parts already in " << partial.partial_path();
  int fd = partial.fd();
  std::atomic<size_t> next{0};
  std::atomic<int64_t> progress_bytes{done_bytes};
  std::mutex mu;  // guards first_error, the partial's state and the progress callback
  Status first_error;
  auto worker = [&] {
    std::unique_ptr<net::HttpClient> client = TakeClient();
    for (size_t k; (k = next++) < todo.size();) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!first_error.ok()) break;
      }
      int64_t i = todo[k];
      bool local_error = false;
      Status status = client ? OkStatus() : Internal(what + ": cannot make an HTTP client");
      if (status.ok()) {
        int64_t offset = i * part;
        std::string etag = head.etag;  // every range must come from the same version
        int64_t received = 0;
        status = FetchRange(client.get(), head.key, offset, std::min(part, size - offset), &etag, &received,
                            [&](std::string_view chunk, int64_t position) {
                              Status s = PWriteAll(fd, chunk, position, path);
                              if (!s.ok()) {
                                local_error = true;
                                return s;
                              }
                              int64_t now = progress_bytes += static_cast<int64_t>(chunk.size());
                              if (options.progress) {
                                std::lock_guard<std::mutex> lock(mu);
                                options.progress(now, size);
                              }
                              return OkStatus();
                            });
      }
      std::lock_guard<std::mutex> lock(mu);
      if (status.ok()) {
        status = partial.MarkPartDone(i);
        local_error = !status.ok();
      }
      if (!status.ok()) {
        if (first_error.ok()) first_error = status;
        if (local_error) attempt->local_error = true;
        break;
      }
    }
    if (client) ReturnClient(std::move(client));
  };
  std::vector<std::thread> threads;
  int n = static_cast<int>(std::min<size_t>(options_.parallelism, todo.size()));
  for (int t = 1; t < n; ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  LOOM_RETURN_IF_ERROR(first_error);
  if (IsHexMd5(head.etag)) {  // a single-part object: its ETag is the MD5 of the content
    LOOM_ASSIGN_OR_RETURN(std::string sum, Md5OfFile(partial.partial_path()));
    if (sum != head.etag) return DataLoss(what + ": content MD5 " + sum + " does not match the ETag " + head.etag);
  }
  return head;
}

int64_t S3Store::PartSizeFor(int64_t size) const {
  // About three parts per connection so the connections stay busy, no smaller than part_size,
  // no larger than 64 MiB, and within the server's part count limit.
  int64_t part = std::max(options_.part_size, std::min<int64_t>(64 << 20, (size + options_.parallelism * 3 - 1) / (options_.parallelism * 3)));
  return std::max(part, (size + kMaxParts - 1) / kMaxParts);
}

StatusOr<ObjectInfo> S3Store::Put(const std::string& key, const std::string& path, const PutOptions& options) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(path, "stat", errno);
  if (!S_ISREG(st.st_mode)) return InvalidArgument(path + ": not a regular file");
  int64_t size = st.st_size;
  if (size > options_.multipart_threshold) return PutMultipart(key, path, size, options);
  Request r;
  r.method = "PUT";
  r.key = key;
  r.body_file = path;
  r.body_length = size;
  LOOM_ASSIGN_OR_RETURN(r.payload_sha256, Sha256OfFile(path));
  r.headers.emplace_back("Content-Type", "application/octet-stream");
  LOOM_ASSIGN_OR_RETURN(net::HttpResponse response, Call(r));
  if (options.progress) options.progress(size, size);
  return ObjectInfo{key, size, StripQuotes(response.Header("etag"))};
}

StatusOr<ObjectInfo> S3Store::PutMultipart(const std::string& key, const std::string& path, int64_t size,
                                           const PutOptions& options) {
  std::string what = What("PUT", key);
  int64_t part_size = PartSizeFor(size);
  int parts = static_cast<int>((size + part_size - 1) / part_size);
  Request init;
  init.method = "POST";
  init.key = key;
  init.query = {{"uploads", ""}};
  init.headers.emplace_back("Content-Type", "application/octet-stream");
  LOOM_ASSIGN_OR_RETURN(net::HttpResponse created, Call(init));
  LOOM_ASSIGN_OR_RETURN(XmlElement initiated, ParseXml(created.body, what + ": CreateMultipartUpload"));
  std::string upload_id = initiated.ChildText("UploadId");
  if (upload_id.empty()) return Internal(what + ": CreateMultipartUpload answered without an UploadId");

  std::vector<std::string> etags(parts);
  std::atomic<int> next{0};
  std::atomic<int64_t> done{0};
  std::mutex mu;  // guards first_error and the progress callback
  Status first_error;
  auto worker = [&] {
    std::string buffer;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      std::lock_guard<std::mutex> lock(mu);
      if (first_error.ok()) first_error = ErrnoStatus(path, "open", errno);
      return;
    }
    for (int i; (i = next++) < parts;) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!first_error.ok()) break;
      }
      int64_t offset = static_cast<int64_t>(i) * part_size;
      int64_t length = std::min(part_size, size - offset);
      buffer.resize(length);
      int64_t got = 0;
      while (got < length) {
        ssize_t n = ::pread(fd, buffer.data() + got, length - got, offset + got);
        if (n <= 0) break;
        got += n;
      }
      Status status;
      if (got < length) {
        status = DataLoss(path + ": could not read part " + std::to_string(i + 1));
      } else {
        Request r;
        r.method = "PUT";
        r.key = key;
        r.query = {{"partNumber", std::to_string(i + 1)}, {"uploadId", upload_id}};
        r.body = std::move(buffer);
        auto response = Call(r);
        buffer = std::move(r.body);
        if (response.ok()) etags[i] = response->Header("etag");
        status = response.status();
      }
      std::lock_guard<std::mutex> lock(mu);
      if (!status.ok()) {
        if (first_error.ok()) first_error = status;
        break;
      }
      int64_t now = done += length;
      if (options.progress) options.progress(now, size);
    }
    ::close(fd);
  };
  std::vector<std::thread> threads;
  int n = std::min(options_.parallelism, parts);
  for (int t = 1; t < n; ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();

  auto abort = [&] {
    Request r;
    r.method = "DELETE";
    r.key = key;
    r.query = {{"uploadId", upload_id}};
    (void)Call(r, {404});
  };
  if (!first_error.ok()) {
    abort();
    return first_error;
  }
  std::string xml = "<CompleteMultipartUpload>";
  for (int i = 0; i < parts; ++i)
    xml += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + XmlEscape(etags[i]) + "</ETag></Part>";
  xml += "</CompleteMultipartUpload>";
  Request complete;
  complete.method = "POST";
  complete.key = key;
  complete.query = {{"uploadId", upload_id}};
  complete.body = xml;
  complete.headers.emplace_back("Content-Type", "application/xml");
  auto response = Call(complete);
  if (!response.ok()) {
    abort();
    return response.status();
  }
  auto completed = ParseXml(response->body, what + ": CompleteMultipartUpload");
  if (!completed.ok()) return completed.status();
  return ObjectInfo{key, size, StripQuotes(completed->ChildText("ETag"))};
}

StatusOr<ListPage> S3Store::List(const ListOptions& options) {
  if (options.max_keys < 1 || options.max_keys > 1000)
    return InvalidArgument(Describe() + ": max_keys " + std::to_string(options.max_keys) + " is not in 1..1000");
  Request r;
  r.query = {{"list-type", "2"}, {"max-keys", std::to_string(options.max_keys)}};
  if (!options.prefix.empty()) r.query.emplace_back("prefix", options.prefix);
  if (!options.delimiter.empty()) r.query.emplace_back("delimiter", options.delimiter);
  if (!options.continuation_token.empty()) r.query.emplace_back("continuation-token", options.continuation_token);
  LOOM_ASSIGN_OR_RETURN(net::HttpResponse response, Call(r));
  LOOM_ASSIGN_OR_RETURN(XmlElement result, ParseXml(response.body, Describe() + ": ListObjectsV2"));
  ListPage page;
  for (const XmlElement* c : result.Children("Contents")) {
    ObjectInfo o;
    o.key = c->ChildText("Key");
    o.size = std::atoll(c->ChildText("Size").c_str());
    o.etag = StripQuotes(c->ChildText("ETag"));
    page.objects.push_back(std::move(o));
  }
  for (const XmlElement* p : result.Children("CommonPrefixes")) page.common_prefixes.push_back(p->ChildText("Prefix"));
  if (result.ChildText("IsTruncated") == "true") {
    page.next_token = result.ChildText("NextContinuationToken");
    if (page.next_token.empty()) return Internal(Describe() + ": a truncated listing without NextContinuationToken");
  }
  return page;
}

}  // namespace loom::storage
