#include "net/http_server.h"
#include "net/libraries.h"
#include "net/listen.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/logging.h"

namespace loom::net {

std::string HttpServerRequest::Header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  }
  return "";
}

std::string HttpServerRequest::Query(const std::string& name) const {
  for (const auto& [k, v] : query) {
    if (k == name) return v;
  }
  return "";
}

const char* HttpReason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}

namespace {

struct Deferred;

// What one request accumulates between libmicrohttpd's calls.
struct RequestState {
  HttpServerRequest request;
  size_t content_length = 0;
  size_t body_limit = 0;
  bool too_large = false;
  std::shared_ptr<Deferred> deferred;  // set once an asynchronous handler has the request
};

MHD_Result CollectHeader(void* cls, MHD_ValueKind, const char* key, const char* value) {
  auto* headers = static_cast<std::vector<std::pair<std::string, std::string>>*>(cls);
  headers->emplace_back(key ? key : "", value ? value : "");
  return MHD_YES;
}

// Resumes a suspended connection and wakes the event loop that runs its daemon (wake_fd, an
// eventfd the loop polls): libmicrohttpd 0.9.75 can miss its own wake-up when the resume
// races with its event loop, which then would sleep until its next timeout.
void ResumeConnection(MHD_Connection* connection, int wake_fd) {
  MHD_resume_connection(connection);
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd, &one, sizeof(one));
}

// The connections whose stream had nothing to send yet: suspended (MHD_suspend_connection, no
// thread waits for them) and resumed by one thread after their poll interval, or at once when the
// server drains or stops (then their streams end).
class Streams {
 public:
  struct State {
    std::function<bool(std::string*)> next;
    std::chrono::milliseconds poll{200};
    std::string pending;
    size_t sent = 0;
    bool ended = false;
    MHD_Connection* connection = nullptr;
    Streams* streams = nullptr;
    int wake_fd = -1;  // of the connection's event loop
  };

  Streams() : thread_([this] { ResumeLoop(); }) {}
  ~Streams() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      exit_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  bool stopping() const { return stopping_.load(); }
  // Ends every stream: the suspended ones are resumed now and end at their next read.
  void StopAll() {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_.store(true);
    for (auto& [state, due] : suspended_) ResumeConnection(state->connection, state->wake_fd);
    suspended_.clear();
  }
  // REQUIRES: MHD_suspend_connection(state->connection) was just called.
  void Suspended(State* state) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_.load()) {
      ResumeConnection(state->connection, state->wake_fd);
      return;
    }
    suspended_[state] = std::chrono::steady_clock::now() + state->poll;
    cv_.notify_all();
  }
  void Forget(State* state) {
    std::lock_guard<std::mutex> lock(mu_);
    suspended_.erase(state);
  }

 private:
  void ResumeLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!exit_) {
      auto now = std::chrono::steady_clock::now();
      auto next = now + std::chrono::seconds(1);
      for (auto it = suspended_.begin(); it != suspended_.end();) {
        if (it->second <= now) {
          ResumeConnection(it->first->connection, it->first->wake_fd);
          it = suspended_.erase(it);
        } else {
          next = std::min(next, it->second);
          ++it;
        }
      }
      cv_.wait_until(lock, next);
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<State*, std::chrono::steady_clock::time_point> suspended_;
  std::atomic<bool> stopping_{false};
  bool exit_ = false;
  std::thread thread_;
};

ssize_t ReadStream(void* cls, uint64_t /*pos*/, char* buf, size_t max) {
  auto* state = static_cast<Streams::State*>(cls);
  if (state->sent == state->pending.size()) {
    state->pending.clear();
    state->sent = 0;
    if (state->ended || state->streams->stopping()) return MHD_CONTENT_READER_END_OF_STREAM;
    if (!state->next(&state->pending)) state->ended = true;
    if (state->pending.empty()) {
      if (state->ended) return MHD_CONTENT_READER_END_OF_STREAM;
      MHD_suspend_connection(state->connection);
      state->streams->Suspended(state);
      return 0;
    }
  }
  size_t n = std::min(max, state->pending.size() - state->sent);
  memcpy(buf, state->pending.data() + state->sent, n);
  state->sent += n;
  return static_cast<ssize_t>(n);
}

void FreeStream(void* cls) {
  auto* state = static_cast<Streams::State*>(cls);
  state->streams->Forget(state);
  delete state;
}

// wake_fd: of the event loop running the connection's daemon.
MHD_Result Send(MHD_Connection* connection, const HttpServerResponse& response, Streams* streams,
                int wake_fd) {
  MHD_Response* r = nullptr;
  if (response.stream) {
    auto* state = new Streams::State;
    state->next = response.stream;
    state->poll = std::chrono::milliseconds(std::max(1, response.stream_poll_ms));
    state->connection = connection;
    state->streams = streams;
    state->wake_fd = wake_fd;
    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, &ReadStream, state, &FreeStream);
    if (r == nullptr) delete state;
  } else {
    r = MHD_create_response_from_buffer(response.body.size(), const_cast<char*>(response.body.data()),
                                        MHD_RESPMEM_MUST_COPY);
  }
  if (r == nullptr) return MHD_NO;
  if (!response.content_type.empty())
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, response.content_type.c_str());
  for (const auto& [name, value] : response.headers)
    MHD_add_response_header(r, name.c_str(), value.c_str());
  MHD_Result result = MHD_queue_response(connection, static_cast<unsigned>(response.status), r);
  MHD_destroy_response(r);
  return result;
}

HttpServerResponse TooLarge(size_t limit) {
  HttpServerResponse r;
  r.status = 413;
  r.body = "{\"error\": \"request body is larger than the limit of " + std::to_string(limit) +
           " bytes\"}";
  return r;
}

HttpServerResponse ErrorResponse(int status, const std::string& message) {
  HttpServerResponse r;
  r.status = status;
  r.body = "{\"error\": \"" + message + "\"}";
  return r;
}

// The requests of one event loop's asynchronous handler that were suspended to wait for their
// answer, until they end, so that Stop can resume those still waiting (libmicrohttpd panics
// when a daemon stops with suspended connections). Only that loop's thread (and Stop) take its
// mutex; the answering threads do not. Lock order: a Deferred's mu, then this mu. A request
// answered before its handler returns never comes here.
struct DeferredSet {
  std::mutex mu;
  bool stopping = false;
  std::unordered_map<Deferred*, std::shared_ptr<Deferred>> suspended;
};

// One request's answer-to-be: shared by its connection's RequestState and the handler's
// HttpResponder copies (which may outlive the connection and the server). Its mutex orders
// suspend (event thread), resume (answering thread), the end of the request and Stop, so a
// connection is never resumed twice or after it ended.
struct Deferred : std::enable_shared_from_this<Deferred> {
  Deferred(MHD_Connection* c, std::shared_ptr<DeferredSet> s, int w)
      : connection(c), set(std::move(s)), wake_fd(w) {}
  MHD_Connection* const connection;
  const std::shared_ptr<DeferredSet> set;
  const int wake_fd;  // of the connection's event loop
  std::mutex mu;
  // Guarded by mu.
  bool answered = false;   // `response` holds the answer, not sent yet
  bool suspended = false;  // the connection is suspended until the answer comes
  bool closed = false;     // the request ended (sent, client gone, server stopped)
  HttpServerResponse response;

  // Resumes the suspended connection. REQUIRES: mu held, suspended.
  void Resume() {
    suspended = false;
    ResumeConnection(connection, wake_fd);
  }

  // Stores the first answer and resumes the connection if it waits for it.
  void Answer(HttpServerResponse r) {
    std::lock_guard<std::mutex> lock(mu);
    if (answered || closed) return;
    response = std::move(r);
    answered = true;
    if (suspended) Resume();
  }

  // Suspends the connection until Answer. False (nothing done) when the server is stopping.
  // REQUIRES: mu held, on the connection's event thread, inside its access handler.
  bool Suspend() {
    std::lock_guard<std::mutex> lock(set->mu);
    if (set->stopping) return false;
    MHD_suspend_connection(connection);
    suspended = true;
    set->suspended.emplace(this, shared_from_this());
    return true;
  }
};

}  // namespace

// What an HttpResponder's copies share: the request's Deferred, answered 500 when the last copy
// goes without an answer.
struct HttpResponder::Slot {
  explicit Slot(std::shared_ptr<Deferred> d) : deferred(std::move(d)) {}
  ~Slot() {
    if (!responded.load())
      deferred->Answer(ErrorResponse(500, "the request was dropped without an answer"));
  }
  std::shared_ptr<Deferred> deferred;
  std::atomic<bool> responded{false};
};

void HttpResponder::Respond(HttpServerResponse response) const {
  if (slot_ == nullptr || slot_->responded.exchange(true)) return;
  slot_->deferred->Answer(std::move(response));
}

struct HttpServer::Impl {
  Streams streams;  // destroyed after the daemon is stopped (Stop runs in ~HttpServer)
  // One libmicrohttpd daemon per event thread, each run by our own loop (RunLoop), and one
  // listening socket of ours whose thread deals new connections out to the loops, which add
  // them to their daemons (MHD_add_connection on the daemon's own thread). Not libmicrohttpd's
  // own thread pool and listening socket, because of two defects of 0.9.75 in that mode:
  // MHD_quiesce_daemon races with its epoll workers and aborts the process now and then
  // ("Failed to remove listen FD from epoll set"); and when epoll_wait returns exactly 128
  // (MAX_EVENTS) ready connections its loop calls epoll_wait again with the full timeout (up
  // to connection_timeout_seconds) before handling them, so at 128 busy connections per thread
  // everything stalls. Here MHD_run never blocks: the loop waits on the daemon's epoll
  // descriptor itself.
  struct EventLoop {
    HttpServer* server = nullptr;
    MHD_Daemon* daemon = nullptr;
    std::shared_ptr<DeferredSet> deferred = std::make_shared<DeferredSet>();
    int epoll_fd = -1;  // the daemon's: readable when it has work
    int wake_fd = -1;   // an eventfd: new connections, or stop
    std::mutex mu;
    std::vector<std::pair<int, sockaddr_storage>> incoming;  // accepted, not added yet
    std::thread thread;
  };
  std::vector<std::unique_ptr<EventLoop>> loops;
  std::atomic<bool> running{false};
  uint32_t next_loop = 0;  // the acceptor's round robin

  static void Wake(EventLoop* loop) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(loop->wake_fd, &one, sizeof(one));
  }

  // The longest a loop sleeps without an event: a bound on any wake-up libmicrohttpd might still
  // miss (50 idle wake-ups a second per thread cost nothing measurable).
  static constexpr MHD_UNSIGNED_LONG_LONG kMaxWaitMs = 20;

  void RunLoop(EventLoop* loop) {
    pollfd fds[2] = {{loop->epoll_fd, POLLIN, 0}, {loop->wake_fd, POLLIN, 0}};
    std::vector<std::pair<int, sockaddr_storage>> incoming;
    while (running.load(std::memory_order_relaxed)) {
      MHD_UNSIGNED_LONG_LONG wait_ms = kMaxWaitMs;
      if (MHD_get_timeout(loop->daemon, &wait_ms) != MHD_YES || wait_ms > kMaxWaitMs) wait_ms = kMaxWaitMs;
      poll(fds, 2, static_cast<int>(wait_ms));  // also with 0: is a connection waiting to be added?
      if (fds[1].revents != 0) {
        uint64_t n = 0;
        [[maybe_unused]] ssize_t r = read(loop->wake_fd, &n, sizeof(n));
        std::lock_guard<std::mutex> lock(loop->mu);
        incoming.swap(loop->incoming);
      }
      for (auto& [fd, addr] : incoming) {
        socklen_t len = addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
        MHD_add_connection(loop->daemon, fd, reinterpret_cast<sockaddr*>(&addr), len);  // closes fd on failure
      }
      incoming.clear();
      MHD_run(loop->daemon);
    }
  }

  int listen_fd = -1;
  std::atomic<bool> accepting{false};
  std::thread acceptor;
  bool stopped = false;

  void AcceptLoop() {
    while (accepting.load()) {
      sockaddr_storage addr{};
      socklen_t len = sizeof(addr);
      int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) {
        if (!accepting.load()) return;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
          std::this_thread::sleep_for(std::chrono::milliseconds(10));  // let connections close
        continue;
      }
      // Answers go out as soon as they are written (a request-response protocol: Nagle's
      // delay would only add latency).
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      EventLoop* loop = loops[next_loop++ % loops.size()].get();
      {
        std::lock_guard<std::mutex> lock(loop->mu);
        loop->incoming.emplace_back(fd, addr);
      }
      Wake(loop);
    }
  }

  // Stops accepting: new connections are refused from here on. Idempotent.
  void CloseListener() {
    if (listen_fd < 0) return;
    accepting.store(false);
    shutdown(listen_fd, SHUT_RDWR);  // wakes accept4
    if (acceptor.joinable()) acceptor.join();
    close(listen_fd);
    listen_fd = -1;
  }

  // Stops the event threads, then the daemons (which close their connections). Idempotent.
  void StopLoops() {
    running.store(false);
    for (auto& loop : loops)
      if (loop->wake_fd >= 0) Wake(loop.get());
    for (auto& loop : loops)
      if (loop->thread.joinable()) loop->thread.join();
    for (auto& loop : loops) {
      if (loop->daemon != nullptr) MHD_stop_daemon(loop->daemon);
      loop->daemon = nullptr;
      for (auto& [fd, addr] : loop->incoming) close(fd);
      loop->incoming.clear();
      if (loop->wake_fd >= 0) close(loop->wake_fd);
      loop->wake_fd = -1;
    }
  }

  // Sends the deferred answer if it is there; otherwise suspends the connection until it is
  // (or answers 503 when the server is stopping: a suspended connection would block Stop).
  static MHD_Result SendOrSuspend(HttpServer* server, MHD_Connection* connection, Deferred* d) {
    std::unique_lock<std::mutex> lock(d->mu);
    if (!d->answered && !d->Suspend()) {
      d->response = ErrorResponse(503, "the server is stopping");
      d->answered = true;
    }
    if (!d->answered) return MHD_YES;  // suspended
    HttpServerResponse response = std::move(d->response);
    lock.unlock();
    return Send(connection, response, &server->impl_->streams, d->wake_fd);
  }

  static MHD_Result Access(void* cls, MHD_Connection* connection, const char* url,
                           const char* method, const char* /*version*/, const char* upload_data,
                           size_t* upload_data_size, void** con_cls) {
    auto* loop = static_cast<EventLoop*>(cls);
    HttpServer* server = loop->server;
    auto* state = static_cast<RequestState*>(*con_cls);
    if (state == nullptr) {
      state = new RequestState;
      *con_cls = state;
      server->active_requests_.fetch_add(1);
      state->request.method = method ? method : "";
      state->request.path = url ? url : "";
      state->body_limit = server->options_.body_limit
                              ? server->options_.body_limit(state->request.method, state->request.path)
                              : server->options_.max_body_bytes;
      MHD_get_connection_values(connection, MHD_HEADER_KIND, CollectHeader, &state->request.headers);
      MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, CollectHeader, &state->request.query);
      const char* length =
          MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
      if (length != nullptr) {
        unsigned long long n = strtoull(length, nullptr, 10);
        if (n > state->body_limit) {
          // Answered now: the body is never read.
          state->too_large = true;
          return Send(connection, TooLarge(state->body_limit), &server->impl_->streams, loop->wake_fd);
        }
        state->content_length = static_cast<size_t>(n);
        state->request.body.reserve(state->content_length);
      }
      return MHD_YES;
    }
    if (*upload_data_size != 0) {
      if (!state->too_large) {
        if (state->request.body.size() + *upload_data_size > state->body_limit) {
          state->too_large = true;
          state->request.body.clear();
          state->request.body.shrink_to_fit();
        } else {
          state->request.body.append(upload_data, *upload_data_size);
        }
      }
      *upload_data_size = 0;
      return MHD_YES;
    }
    if (state->too_large) return Send(connection, TooLarge(state->body_limit), &server->impl_->streams, loop->wake_fd);
    if (state->deferred != nullptr)  // resumed: the answer came (or the server stops)
      return SendOrSuspend(server, connection, state->deferred.get());
    if (server->async_handler_) {
      state->deferred = std::make_shared<Deferred>(connection, loop->deferred, loop->wake_fd);
      server->async_handler_(state->request,
                             HttpResponder(std::make_shared<HttpResponder::Slot>(state->deferred)));
      return SendOrSuspend(server, connection, state->deferred.get());
    }
    HttpServerResponse response;
    server->handler_(state->request, &response);
    return Send(connection, response, &server->impl_->streams, loop->wake_fd);
  }

  static void Completed(void* cls, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
    HttpServer* server = static_cast<EventLoop*>(cls)->server;
    auto* state = static_cast<RequestState*>(*con_cls);
    if (state == nullptr) return;
    if (state->deferred != nullptr) {
      Deferred* d = state->deferred.get();
      {
        std::lock_guard<std::mutex> lock(d->mu);
        d->closed = true;  // a suspended connection is resumed before it ends
      }
      std::lock_guard<std::mutex> lock(d->set->mu);
      d->set->suspended.erase(d);
    }
    delete state;
    *con_cls = nullptr;
    server->active_requests_.fetch_sub(1);
  }
};

HttpServer::HttpServer(HttpServerOptions options, HttpServerHandler handler,
                       HttpServerAsyncHandler async_handler)
    : options_(std::move(options)),
      handler_(std::move(handler)),
      async_handler_(std::move(async_handler)),
      impl_(std::make_unique<Impl>()) {}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(const HttpServerOptions& options,
                                                         HttpServerHandler handler) {
  return Start(std::unique_ptr<HttpServer>(new HttpServer(options, std::move(handler), nullptr)));
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::CreateAsync(const HttpServerOptions& options,
                                                              HttpServerAsyncHandler handler) {
  return Start(std::unique_ptr<HttpServer>(new HttpServer(options, nullptr, std::move(handler))));
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(std::unique_ptr<HttpServer> server) {
  const HttpServerOptions& options = server->options_;
  const std::string where = options.address + ":" + std::to_string(options.port);
  if (options.port < 0 || options.port > 65535)
    return InvalidArgument(where + ": port must be in [0, 65535]");
  if (options.num_threads < 1) return InvalidArgument(where + ": num_threads must be >= 1");
  LOOM_ASSIGN_OR_RETURN(TcpListener listener, ListenTcp(options.address, options.port, 0, where));
  const int fd = listener.fd;
  const int port = listener.port;
  const int family = listener.ipv6 ? AF_INET6 : AF_INET;

  server->port_ = port;
  Impl* impl = server->impl_.get();
  impl->listen_fd = fd;
  unsigned flags = MHD_USE_EPOLL | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_NO_LISTEN_SOCKET;
  if (family == AF_INET6) flags |= MHD_USE_IPv6;
  const unsigned per_loop_limit =
      static_cast<unsigned>(std::max(1, options.max_connections / options.num_threads));
  std::vector<MHD_OptionItem> mhd_options = {
      {MHD_OPTION_CONNECTION_TIMEOUT, static_cast<intptr_t>(options.connection_timeout_seconds), nullptr},
      {MHD_OPTION_CONNECTION_LIMIT, static_cast<intptr_t>(per_loop_limit), nullptr},
      // libmicrohttpd zeroes a connection's memory pool for every request: 64 KiB was 11% of
      // the server's CPU at 256 connections (perf); 16 KiB holds headers and read buffer.
      {MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<intptr_t>(16 * 1024), nullptr},
  };
  const bool tls = !options.tls_cert_pem.empty() || !options.tls_key_pem.empty();
  if (tls) {
    if (options.tls_cert_pem.empty() || options.tls_key_pem.empty())
      return InvalidArgument(where + ": TLS needs both a certificate and a private key");
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
      return FailedPrecondition(where + ": this libmicrohttpd was built without TLS (GnuTLS)");
    flags |= MHD_USE_TLS;
    mhd_options.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0, const_cast<char*>(options.tls_key_pem.c_str())});
    mhd_options.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0, const_cast<char*>(options.tls_cert_pem.c_str())});
  }
  for (int i = 0; i < options.num_threads; ++i) {
    // Each step is undone by ~HttpServer (Stop) if a later one fails.
    impl->loops.push_back(std::make_unique<Impl::EventLoop>());
    Impl::EventLoop* loop = impl->loops.back().get();
    loop->server = server.get();
    loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->wake_fd < 0) return ErrnoStatus(where, "eventfd", errno);
    std::vector<MHD_OptionItem> loop_options = mhd_options;
    loop_options.push_back({MHD_OPTION_NOTIFY_COMPLETED, reinterpret_cast<intptr_t>(&Impl::Completed), loop});
    loop_options.push_back({MHD_OPTION_END, 0, nullptr});
    loop->daemon = MHD_start_daemon(flags, 0, nullptr, nullptr, &Impl::Access, loop, MHD_OPTION_ARRAY,
                                    loop_options.data(), MHD_OPTION_END);
    const MHD_DaemonInfo* info =
        loop->daemon == nullptr ? nullptr : MHD_get_daemon_info(loop->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (info == nullptr) {
      return tls ? InvalidArgument(where + ": libmicrohttpd could not start TLS: is the key the certificate's, "
                                           "both PEM?")
                 : Internal(where + ": libmicrohttpd could not start the server");
    }
    loop->epoll_fd = info->epoll_fd;
  }
  impl->running.store(true);
  for (auto& loop : impl->loops) loop->thread = std::thread([impl, l = loop.get()] { impl->RunLoop(l); });
  impl->accepting.store(true);
  impl->acceptor = std::thread([impl] { impl->AcceptLoop(); });
  return server;
}

bool HttpServer::Drain(double timeout_seconds) {
  impl_->streams.StopAll();  // a follower's stream would otherwise keep its request open
  impl_->CloseListener();
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::microseconds(static_cast<int64_t>(timeout_seconds * 1e6));
  while (active_requests_.load() > 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

void HttpServer::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->CloseListener();
  // libmicrohttpd must not be stopped with suspended connections: streams end, and requests
  // still waiting for a deferred answer get 503 (if the event loop gets to them) or are closed.
  impl_->streams.StopAll();
  std::vector<std::shared_ptr<Deferred>> suspended;
  for (auto& loop : impl_->loops) {
    std::lock_guard<std::mutex> lock(loop->deferred->mu);
    loop->deferred->stopping = true;  // no connection is suspended from here on
    for (auto& [d, owner] : loop->deferred->suspended) suspended.push_back(owner);
  }
  for (const auto& d : suspended) {
    std::lock_guard<std::mutex> lock(d->mu);
    if (!d->suspended) continue;  // answered meanwhile
    if (!d->answered) {
      d->response = ErrorResponse(503, "the server is stopping");
      d->answered = true;
    }
    d->Resume();
  }
  impl_->StopLoops();
}

HttpServer::~HttpServer() { Stop(); }

}  // namespace loom::net

namespace loom::net {

std::string HttpServerLibraryVersion() {
  const char* v = MHD_get_version();
  return v != nullptr ? v : "unknown";
}

}  // namespace loom::net
