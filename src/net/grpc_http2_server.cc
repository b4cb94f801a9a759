#include "net/grpc_http2_server.h"
#include "net/libraries.h"
#include "net/listen.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <nghttp2/nghttp2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace loom::net {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kPrefixBytes = 5;  // a message's compressed flag and big-endian length

// grpc-message is percent-encoded: every byte outside printable ASCII, and '%' itself.
std::string PercentEncode(const std::string& s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c >= 0x20 && c <= 0x7e && c != '%') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// grpc-timeout: at most 8 digits and a unit (H M S m u n). False when malformed.
bool ParseTimeout(const std::string& v, Clock::duration* out) {
  if (v.size() < 2 || v.size() > 9) return false;
  int64_t n = 0;
  for (size_t i = 0; i + 1 < v.size(); ++i) {
    if (v[i] < '0' || v[i] > '9') return false;
    n = n * 10 + (v[i] - '0');
  }
  using namespace std::chrono;
  switch (v.back()) {
    case 'H': *out = hours(n); return true;
    case 'M': *out = minutes(n); return true;
    case 'S': *out = seconds(n); return true;
    case 'm': *out = milliseconds(n); return true;
    case 'u': *out = microseconds(n); return true;
    case 'n': *out = nanoseconds(n); return true;
    default: return false;
  }
}

struct Loop;
struct Conn;
struct Stream;
// The deadlines of a loop's calls waiting for their answer, soonest first.
using Deadlines = std::multimap<Clock::time_point, Stream*>;

// One call: its request as it arrives, then its answer as it goes out.
struct Stream {
  int32_t id = 0;
  Conn* conn = nullptr;
  // Request headers.
  std::string method, path, content_type, encoding, timeout, te;
  size_t header_bytes = 0;
  std::string refusal;  // a request header we do not take (trailers from the client, ...)
  std::string body;     // DATA as received: prefix + message
  size_t held = 0;      // of body, counted in the connection's buffered bytes
  bool too_large = false;
  bool dispatched = false;  // handed to the handler
  bool answered = false;    // its answer was submitted (or it needs none)
  Clock::time_point deadline = Clock::time_point::max();
  Deadlines::iterator timer;  // its entry in the loop's deadlines, when `timed`
  bool timed = false;
  // The answer's DATA: prefix + message, and how much went out.
  std::string out;
  size_t out_sent = 0;

  // Back to a fresh stream, keeping the strings' capacity (streams are reused: a call then
  // allocates nothing of its own here).
  void Reset() {
    id = 0;
    conn = nullptr;
    for (std::string* str : {&method, &path, &content_type, &encoding, &timeout, &te, &refusal, &body, &out})
      str->clear();
    // A large message's buffers are not kept (a loop keeps up to kSpareStreams streams).
    if (body.capacity() > (64u << 10)) std::string().swap(body);
    if (out.capacity() > (64u << 10)) std::string().swap(out);
    header_bytes = held = out_sent = 0;
    too_large = dispatched = answered = false;
    deadline = Clock::time_point::max();
  }
};

// libnghttp2 allocates and frees several small blocks per stream (the stream, its frames, header
// buffers). All of a loop's connections run on its thread, so a free list per size class serves
// them without glibc's locks and bins (which took 15% of the server's CPU under perf).
class FrameMemory {
 public:
  FrameMemory() {
    mem_.mem_user_data = this;
    mem_.malloc = [](size_t size, void* self) { return static_cast<FrameMemory*>(self)->Alloc(size); };
    mem_.free = [](void* p, void* self) { static_cast<FrameMemory*>(self)->Free(p); };
    mem_.calloc = [](size_t n, size_t size, void* self) {
      void* p = static_cast<FrameMemory*>(self)->Alloc(n * size);
      if (p != nullptr) memset(p, 0, n * size);
      return p;
    };
    mem_.realloc = [](void* p, size_t size, void* self) { return static_cast<FrameMemory*>(self)->Realloc(p, size); };
  }
  ~FrameMemory() {
    for (auto& list : free_)
      for (void* block : list) ::free(block);
  }
  nghttp2_mem* mem() { return &mem_; }

 private:
  static constexpr size_t kHeader = 16;  // the class index, keeping blocks 16-byte aligned
  static constexpr int kClasses = 8;     // 64 .. 8192 bytes
  static constexpr size_t kKeep = 4096;  // blocks kept per class
  static size_t ClassSize(int c) { return size_t{64} << c; }
  static int ClassOf(size_t size) {
    for (int c = 0; c < kClasses; ++c)
      if (size <= ClassSize(c)) return c;
    return kClasses;  // larger: glibc's
  }
  void* Alloc(size_t size) {
    const int c = ClassOf(size);
    char* block;
    if (c < kClasses && !free_[c].empty()) {
      block = static_cast<char*>(free_[c].back());
      free_[c].pop_back();
    } else {
      block = static_cast<char*>(::malloc(kHeader + (c < kClasses ? ClassSize(c) : size)));
      if (block == nullptr) return nullptr;
    }
    *reinterpret_cast<int*>(block) = c;
    return block + kHeader;
  }
  void Free(void* p) {
    if (p == nullptr) return;
    char* block = static_cast<char*>(p) - kHeader;
    const int c = *reinterpret_cast<int*>(block);
    if (c < kClasses && free_[c].size() < kKeep) {
      free_[c].push_back(block);
    } else {
      ::free(block);
    }
  }
  void* Realloc(void* p, size_t size) {
    if (p == nullptr) return Alloc(size);
    char* block = static_cast<char*>(p) - kHeader;
    const int c = *reinterpret_cast<int*>(block);
    if (c < kClasses && size <= ClassSize(c)) return p;
    if (c == kClasses && ClassOf(size) == kClasses) {
      char* grown = static_cast<char*>(::realloc(block, kHeader + size));
      return grown == nullptr ? nullptr : grown + kHeader;
    }
    void* q = Alloc(size);
    if (q == nullptr) return nullptr;
    // A class block holds ClassSize(c) bytes; a large one at least `size`'s predecessor, which
    // is more than any class: copy what the old block can hold, at most the new size.
    memcpy(q, p, c < kClasses ? std::min(size, ClassSize(c)) : size);
    Free(p);
    return q;
  }

  nghttp2_mem mem_{};
  std::vector<void*> free_[kClasses];
};

// Answers given off the loop thread, picked up by the loop. Shared with the responders, so a
// late answer after the server stopped finds it closed and is dropped.
struct Inbox {
  struct Answer {
    uint64_t conn_id;
    int32_t stream_id;
    GrpcCode code;
    std::string message;  // the response bytes (OK) or the error message
  };
  std::mutex mu;
  std::vector<Answer> answers;
  bool closed = false;
  int wake_fd = -1;
  ~Inbox() {
    if (wake_fd >= 0) close(wake_fd);
  }
  void Wake() const {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd, &one, sizeof(one));
  }
};

struct Conn {
  uint64_t id = 0;
  int fd = -1;
  Loop* loop = nullptr;
  nghttp2_session* h2 = nullptr;
  std::unordered_map<int32_t, Stream*> streams;  // the loop's (Loop::NewStream, Recycle)
  std::string out;  // frames not written yet
  size_t out_sent = 0;
  bool want_out = false;  // EPOLLOUT is on
  bool dirty = false;     // has frames to send (in the loop's dirty list)
  bool dead = false;      // to be closed at the end of this iteration
  size_t buffered = 0;    // request bytes held by streams not yet dispatched
  Clock::time_point last_active;
};

}  // namespace

struct GrpcHttp2Server::Impl {
  GrpcHttp2ServerOptions options;
  GrpcHandler handler;
  std::vector<int> listen_fds;
  std::vector<std::unique_ptr<Loop>> loops;
  std::atomic<bool> running{false};
  std::atomic<bool> draining{false};
  std::atomic<int> drain_acks{0};
  // Calls handed to the handler whose responder has not answered: shared with the responders.
  std::shared_ptr<std::atomic<int64_t>> active = std::make_shared<std::atomic<int64_t>>(0);
  std::atomic<int> connections{0};
  std::atomic<uint32_t> next_loop{0};
  bool stopped = false;
  std::string unlink_path;  // the UNIX socket we made
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_option* h2_options = nullptr;
};

namespace {

// The inbox of the loop whose thread this is (an inbox, unlike a loop, is never freed while a
// responder can still point at it, so its address names one loop of one server).
thread_local const Inbox* current_inbox = nullptr;

struct Loop {
  GrpcHttp2Server::Impl* server = nullptr;
  int epoll_fd = -1;
  std::shared_ptr<Inbox> inbox = std::make_shared<Inbox>();
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns;
  uint64_t next_conn_id = 1;
  std::vector<Conn*> dirty;
  std::vector<Conn*> flushing;  // the dirty ones being flushed (the two swap, keeping capacity)
  Deadlines deadlines;  // an entry per call with a deadline until it is answered or gone
  std::vector<int> adopted;  // AddConnection's, taken by the loop
  std::vector<int> listen_fds;  // the server's (the loop's copy)
  std::vector<std::unique_ptr<Conn>> closed;  // freed at the end of the loop's iteration
  std::vector<Stream*> spare_streams;
  FrameMemory memory;  // of this loop's nghttp2 states (each deleted by Close, before the loop goes)
  bool drain_seen = false;
  std::thread thread;
  char buf[65536];

  ~Loop() {
    if (epoll_fd >= 0) close(epoll_fd);
    for (Stream* s : spare_streams) delete s;
  }

  Stream* NewStream() {
    if (spare_streams.empty()) return new Stream;
    Stream* s = spare_streams.back();
    spare_streams.pop_back();
    return s;
  }
  static constexpr size_t kSpareStreams = 1024;
  void Untime(Stream* s) {
    if (!s->timed) return;
    deadlines.erase(s->timer);
    s->timed = false;
  }
  void Recycle(Stream* s) {
    Untime(s);
    if (spare_streams.size() >= kSpareStreams) {
      delete s;
      return;
    }
    s->Reset();
    spare_streams.push_back(s);
  }

  void MarkDirty(Conn* c) {
    if (!c->dirty) {
      c->dirty = true;
      dirty.push_back(c);
    }
  }

  void Add(int fd, bool tcp) {
    if (server->connections.fetch_add(1) >= server->options.max_connections) {
      server->connections.fetch_sub(1);
      close(fd);
      return;
    }
    if (tcp) {
      // Answers go out as soon as they are written (Nagle's delay would only add latency).
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    auto conn = std::make_unique<Conn>();
    Conn* c = conn.get();
    c->id = next_conn_id++;
    c->fd = fd;
    c->loop = this;
    c->last_active = Clock::now();
    if (nghttp2_session_server_new3(&c->h2, server->callbacks, c, server->h2_options, memory.mem()) != 0) {
      server->connections.fetch_sub(1);
      close(fd);
      return;
    }
    const GrpcHttp2ServerOptions& o = server->options;
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, o.max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1u << 20},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, o.max_header_list_bytes},
        // gRPC does not use RFC 7540's priority tree: nghttp2 then keeps no closed streams for
        // it and schedules streams more simply.
        {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
    };
    nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, settings, sizeof(settings) / sizeof(settings[0]));
    // The connection's own window: room for several requests in flight before a WINDOW_UPDATE.
    nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, 16 << 20);
    if (server->draining.load()) nghttp2_submit_shutdown_notice(c->h2);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = c;  // valid for events of this iteration after Close too (`closed`)
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
      nghttp2_session_del(c->h2);
      server->connections.fetch_sub(1);
      close(fd);
      return;
    }
    conns.emplace(c->id, std::move(conn));
    MarkDirty(c);
  }

  void Close(Conn* c) {
    // Calls the handler still has are answered into the void (their stream is gone).
    nghttp2_session_del(c->h2);  // no callbacks run here
    close(c->fd);
    server->connections.fetch_sub(1);
    c->dead = true;
    for (auto& [id, s] : c->streams) Recycle(s);
    c->streams.clear();
    auto it = conns.find(c->id);
    closed.push_back(std::move(it->second));  // pointers to it may still be in `dirty`
    conns.erase(it);
  }

  // The stream's request bytes no longer count against its connection.
  static void Release(Conn* c, Stream* s) {
    c->buffered -= std::min(c->buffered, s->held);
    s->held = 0;
  }

  // Writes what nghttp2 has to send; false if the connection broke.
  bool Flush(Conn* c) {
    for (;;) {
      if (c->out_sent == c->out.size()) {
        c->out.clear();
        c->out_sent = 0;
        while (c->out.size() < 65536) {
          const uint8_t* data = nullptr;
          ssize_t n = nghttp2_session_mem_send(c->h2, &data);
          if (n < 0) return false;
          if (n == 0) break;
          c->out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
        }
        if (c->out.empty()) break;
      }
      ssize_t n = send(c->fd, c->out.data() + c->out_sent, c->out.size() - c->out_sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return false;
      }
      c->out_sent += static_cast<size_t>(n);
      c->last_active = Clock::now();  // a client reading a long answer is not idle
    }
    const bool pending = c->out_sent < c->out.size();
    // An idle connection keeps no large write buffer (thousands of them may be open).
    if (!pending && c->out.capacity() > (16u << 10)) std::string().swap(c->out);
    if (pending != c->want_out) {
      epoll_event ev{};
      ev.events = pending ? EPOLLIN | EPOLLOUT : EPOLLIN;
      ev.data.ptr = c;  // valid for events of this iteration after Close too (`closed`)
      epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
      c->want_out = pending;
    }
    // Done both ways (GOAWAY exchanged, or a protocol error answered): close.
    return pending || nghttp2_session_want_read(c->h2) || nghttp2_session_want_write(c->h2);
  }

  void Read(Conn* c) {
    for (;;) {
      ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n <= 0) {  // the client went away
        Close(c);
        return;
      }
      c->last_active = Clock::now();
      ssize_t used = nghttp2_session_mem_recv(c->h2, reinterpret_cast<uint8_t*>(buf), static_cast<size_t>(n));
      if (c->dead) return;
      if (used < 0) {  // a protocol error: nghttp2 queued GOAWAY; send it, then close
        MarkDirty(c);
        nghttp2_session_terminate_session(c->h2, NGHTTP2_PROTOCOL_ERROR);
        return;
      }
      MarkDirty(c);
      if (static_cast<size_t>(n) < sizeof(buf)) break;
    }
  }

  // Submits a call's answer: OK with its message, or an error as trailers only.
  void Answer(Conn* c, Stream* s, GrpcCode code, std::string message) {
    if (s->answered) return;
    s->answered = true;
    Untime(s);
    MarkDirty(c);
    static const char kStatus[] = ":status", k200[] = "200", kType[] = "content-type",
                      kGrpc[] = "application/grpc", kGrpcStatus[] = "grpc-status", kMessage[] = "grpc-message";
    auto nv = [](const char* name, size_t name_len, const char* value, size_t value_len, uint8_t flags) {
      return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name)),
                        reinterpret_cast<uint8_t*>(const_cast<char*>(value)), name_len, value_len, flags};
    };
    constexpr uint8_t kNoCopy = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
    if (code == GrpcCode::kOk) {
      const uint32_t len = static_cast<uint32_t>(message.size());
      s->out.reserve(kPrefixBytes + message.size());
      s->out.push_back(0);
      for (int shift = 24; shift >= 0; shift -= 8) s->out.push_back(static_cast<char>((len >> shift) & 0xff));
      s->out += message;
      nghttp2_nv headers[] = {nv(kStatus, 7, k200, 3, kNoCopy), nv(kType, 12, kGrpc, 16, kNoCopy)};
      nghttp2_data_provider body{};
      body.source.ptr = s;
      body.read_callback = &ReadBody;
      nghttp2_submit_response(c->h2, s->id, headers, 2, &body);
      return;
    }
    const std::string status = std::to_string(static_cast<int>(code));
    const std::string text = PercentEncode(message);
    std::vector<nghttp2_nv> headers = {nv(kStatus, 7, k200, 3, kNoCopy), nv(kType, 12, kGrpc, 16, kNoCopy),
                                       nv(kGrpcStatus, 11, status.data(), status.size(), NGHTTP2_NV_FLAG_NO_COPY_NAME)};
    if (!text.empty())
      headers.push_back(nv(kMessage, 12, text.data(), text.size(), NGHTTP2_NV_FLAG_NO_COPY_NAME));
    if (code == GrpcCode::kUnimplemented && !s->encoding.empty())
      headers.push_back(nv("grpc-accept-encoding", 20, "identity", 8, kNoCopy));
    nghttp2_submit_response(c->h2, s->id, headers.data(), headers.size(), nullptr);
  }

  // An HTTP answer that is not gRPC's (a request that is not a gRPC call).
  void AnswerHttp(Conn* c, Stream* s, const char* status, GrpcCode code, const std::string& message) {
    s->answered = true;
    MarkDirty(c);
    const std::string grpc_status = std::to_string(static_cast<int>(code));
    const std::string text = PercentEncode(message);
    nghttp2_nv headers[] = {
        {(uint8_t*)":status", (uint8_t*)status, 7, strlen(status), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t*)"grpc-status", (uint8_t*)grpc_status.data(), 11, grpc_status.size(), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t*)"grpc-message", (uint8_t*)text.data(), 12, text.size(), NGHTTP2_NV_FLAG_NONE},
    };
    nghttp2_submit_response(c->h2, s->id, headers, 3, nullptr);
  }

  static ssize_t ReadBody(nghttp2_session* h2, int32_t stream_id, uint8_t* buf, size_t length,
                          uint32_t* flags, nghttp2_data_source* source, void*) {
    auto* s = static_cast<Stream*>(source->ptr);
    const size_t n = std::min(length, s->out.size() - s->out_sent);
    memcpy(buf, s->out.data() + s->out_sent, n);
    s->out_sent += n;
    if (s->out_sent == s->out.size()) {
      *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
      static const char kGrpcStatus[] = "grpc-status", kZero[] = "0";
      nghttp2_nv trailers[] = {{(uint8_t*)kGrpcStatus, (uint8_t*)kZero, 11, 1,
                                NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE}};
      if (nghttp2_submit_trailer(h2, stream_id, trailers, 1) != 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return static_cast<ssize_t>(n);
  }

  // The request is whole: checks it is a gRPC call we take, then hands it to the handler.
  void Dispatch(Conn* c, Stream* s) {
    if (s->answered) return;
    Release(c, s);
    if (!s->refusal.empty()) return Answer(c, s, GrpcCode::kInternal, s->refusal);
    if (s->method != "POST") return AnswerHttp(c, s, "405", GrpcCode::kUnimplemented, "gRPC calls are POSTs, not " + s->method);
    const std::string& type = s->content_type;
    if (type.compare(0, 16, "application/grpc") != 0 ||
        (type.size() > 16 && type[16] != '+' && type[16] != ';'))
      return AnswerHttp(c, s, "415", GrpcCode::kUnknown,
                        "content-type \"" + type + "\" is not gRPC's (application/grpc)");
    if (type.size() > 16 && type[16] == '+' && type.compare(17, std::string::npos, "proto") != 0 &&
        type.compare(17, 6, "proto;") != 0)
      return Answer(c, s, GrpcCode::kUnimplemented,
                    "content-type " + type + ": only protobuf messages (application/grpc+proto) are served");
    if (!s->te.empty() && s->te != "trailers")
      return Answer(c, s, GrpcCode::kInternal, "te: \"" + s->te + "\" is not \"trailers\"");
    if (!s->encoding.empty() && s->encoding != "identity")
      return Answer(c, s, GrpcCode::kUnimplemented,
                    "grpc-encoding " + s->encoding + ": messages are not compressed here (identity only)");
    if (!s->timeout.empty()) {
      Clock::duration timeout{};
      if (!ParseTimeout(s->timeout, &timeout))
        return Answer(c, s, GrpcCode::kInternal, "grpc-timeout \"" + s->timeout + "\" is malformed");
      s->deadline = Clock::now() + timeout;
      if (timeout <= Clock::duration::zero())
        return Answer(c, s, GrpcCode::kDeadlineExceeded, "Deadline Exceeded");
    }
    if (s->too_large) return;  // answered RESOURCE_EXHAUSTED as the prefix came
    if (s->body.size() < kPrefixBytes)
      return Answer(c, s, GrpcCode::kInternal, "the request holds no message (a unary call takes one)");
    const auto* p = reinterpret_cast<const unsigned char*>(s->body.data());
    const size_t len = (size_t{p[1]} << 24) | (size_t{p[2]} << 16) | (size_t{p[3]} << 8) | p[4];
    if (p[0] > 1) return Answer(c, s, GrpcCode::kInternal, "message flag " + std::to_string(p[0]) + " is not 0 or 1");
    if (p[0] == 1)
      return Answer(c, s, GrpcCode::kInternal, "a message flagged compressed, with grpc-encoding identity");
    if (s->body.size() < kPrefixBytes + len)
      return Answer(c, s, GrpcCode::kInternal, "the request ended inside its message (" +
                                                   std::to_string(s->body.size() - kPrefixBytes) + " of " +
                                                   std::to_string(len) + " bytes)");
    if (s->body.size() > kPrefixBytes + len)
      return Answer(c, s, GrpcCode::kUnimplemented, "more than one request message on a unary method");
    GrpcCall call;
    call.method = s->path;
    call.message = std::string_view(s->body).substr(kPrefixBytes, len);
    s->dispatched = true;
    server->active->fetch_add(1);
    if (s->deadline != Clock::time_point::max()) {
      s->timer = deadlines.emplace(s->deadline, s);
      s->timed = true;
    }
    auto slot = std::make_shared<GrpcResponder::Slot>();
    FillSlot(slot.get(), c, s);
    server->handler(std::move(call), GrpcResponder(std::move(slot)));
  }

  void FillSlot(GrpcResponder::Slot* slot, Conn* c, Stream* s);

  // An answer from the inbox or the handler: to its stream, if the stream still waits.
  void Deliver(uint64_t conn_id, int32_t stream_id, GrpcCode code, std::string message) {
    auto it = conns.find(conn_id);
    if (it == conns.end()) return;  // the connection went
    Conn* c = it->second.get();
    auto s = c->streams.find(stream_id);
    if (s == c->streams.end()) return;  // the client cancelled the call
    Answer(c, s->second, code, std::move(message));
  }

  void TakeInbox() {
    std::vector<Inbox::Answer> answers;
    {
      std::lock_guard<std::mutex> lock(inbox->mu);
      answers.swap(inbox->answers);
    }
    for (auto& a : answers) Deliver(a.conn_id, a.stream_id, a.code, std::move(a.message));
  }

  void ExpireDeadlines(Clock::time_point now) {
    while (!deadlines.empty() && deadlines.begin()->first <= now) {
      Stream* s = deadlines.begin()->second;  // alive: a stream leaves the map before it goes
      Untime(s);
      Answer(s->conn, s, GrpcCode::kDeadlineExceeded, "Deadline Exceeded");
    }
  }

  void Accept(int listen_fd, bool tcp) {
    for (int i = 0; i < 64; ++i) {
      int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) return;  // EAGAIN (another loop took it), or out of descriptors: retried on the next event
      Add(fd, tcp);
    }
  }

  void Run();
};

// epoll's keys: a Conn*, or one of these (no pointer has the top bit set).
constexpr uint64_t kWakeKey = 0;                   // the inbox's eventfd
constexpr uint64_t kListenKey = uint64_t{1} << 63;  // | index into listen_fds

void Loop::Run() {
  current_inbox = inbox.get();
  epoll_event events[256];
  Clock::time_point next_sweep = Clock::now() + std::chrono::seconds(1);
  while (server->running.load(std::memory_order_relaxed)) {
    int wait_ms = 1000;
    Clock::time_point now = Clock::now();
    if (!deadlines.empty())
      wait_ms = static_cast<int>(std::clamp<int64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadlines.begin()->first - now).count() + 1, 0, 1000));
    int n = epoll_wait(epoll_fd, events, 256, wait_ms);
    for (int i = 0; i < n; ++i) {
      const uint64_t key = events[i].data.u64;
      if (key == kWakeKey) {
        uint64_t v;
        [[maybe_unused]] ssize_t r = read(inbox->wake_fd, &v, sizeof(v));
        continue;
      }
      if (key & kListenKey) {
        const size_t l = key & ~kListenKey;
        if (!server->draining.load()) Accept(listen_fds[l], l == 0 && server->options.port >= 0);
        continue;
      }
      Conn* c = static_cast<Conn*>(events[i].data.ptr);
      if (c->dead) continue;
      if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) Read(c);
      else if (events[i].events & EPOLLOUT) MarkDirty(c);
    }
    if (server->draining.load() && !drain_seen) {
      drain_seen = true;
      for (int fd : listen_fds) epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
      for (auto& [id, c] : conns) {
        nghttp2_submit_shutdown_notice(c->h2);
        MarkDirty(c.get());
      }
      server->drain_acks.fetch_add(1);
    }
    {
      std::vector<int> fds;
      {
        std::lock_guard<std::mutex> lock(inbox->mu);
        fds.swap(adopted);
      }
      for (int fd : fds) Add(fd, false);
    }
    TakeInbox();
    now = Clock::now();
    ExpireDeadlines(now);
    if (now >= next_sweep) {
      next_sweep = now + std::chrono::seconds(1);
      const auto idle = std::chrono::seconds(server->options.connection_timeout_seconds);
      std::vector<Conn*> stale;
      for (auto& [id, c] : conns) {
        if (now - c->last_active <= idle) continue;
        // Silent for that long with no call waiting for the handler: idle, or a stalled client.
        bool waiting = false;
        for (const auto& [sid, s] : c->streams) waiting = waiting || (s->dispatched && !s->answered);
        if (!waiting) stale.push_back(c.get());
      }
      for (Conn* c : stale) Close(c);
    }
    flushing.swap(dirty);
    for (Conn* c : flushing) {
      if (c->dead) continue;  // closed after it was marked (freed: not dereferenced beyond this flag)
      c->dirty = false;
      if (!Flush(c)) Close(c);
    }
    flushing.clear();
    closed.clear();
  }
}

}  // namespace

struct GrpcResponder::Slot {
  std::shared_ptr<Inbox> inbox;
  std::shared_ptr<std::atomic<int64_t>> active;  // the server's count of calls not answered
  Loop* loop = nullptr;  // valid while inbox is open
  uint64_t conn_id = 0;
  int32_t stream_id = 0;
  std::atomic<bool> responded{false};

  void Send(GrpcCode code, std::string message) {
    if (responded.exchange(true)) return;
    if (current_inbox == inbox.get()) {  // on the loop's own thread (the handler answered at once)
      loop->Deliver(conn_id, stream_id, code, std::move(message));
    } else {
      std::lock_guard<std::mutex> lock(inbox->mu);
      if (!inbox->closed) {
        inbox->answers.push_back({conn_id, stream_id, code, std::move(message)});
        if (inbox->answers.size() == 1) inbox->Wake();
      }
    }
    // Counted out only once the answer is in the inbox: a Drain that sees no call left is
    // followed by a Stop that still sends it.
    active->fetch_sub(1);
  }
  ~Slot() {
    if (!responded.load()) Send(GrpcCode::kInternal, "the call was dropped without an answer");
  }
};

namespace {
void Loop::FillSlot(GrpcResponder::Slot* slot, Conn* c, Stream* s) {
  slot->inbox = inbox;
  slot->active = server->active;
  slot->loop = this;
  slot->conn_id = c->id;
  slot->stream_id = s->id;
}
}  // namespace

void GrpcResponder::Respond(std::string response_message) const {
  if (slot_) slot_->Send(GrpcCode::kOk, std::move(response_message));
}

void GrpcResponder::Fail(GrpcCode code, const std::string& message) const {
  if (slot_) slot_->Send(code == GrpcCode::kOk ? GrpcCode::kInternal : code, message);
}

namespace {

// nghttp2's callbacks; user_data is the Conn.
int OnBeginHeaders(nghttp2_session* h2, const nghttp2_frame* frame, void* user_data) {
  auto* c = static_cast<Conn*>(user_data);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  if (c->loop->server->draining.load()) {
    nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_REFUSED_STREAM);
    return 0;
  }
  Stream* s = c->loop->NewStream();
  s->id = frame->hd.stream_id;
  s->conn = c;
  nghttp2_session_set_stream_user_data(h2, s->id, s);
  c->streams.emplace(s->id, s);
  return 0;
}

int OnHeader(nghttp2_session* h2, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
             const uint8_t* value, size_t valuelen, uint8_t, void* user_data) {
  auto* c = static_cast<Conn*>(user_data);
  auto* s = static_cast<Stream*>(nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id));
  if (s == nullptr) return 0;
  s->header_bytes += namelen + valuelen + 32;  // as SETTINGS_MAX_HEADER_LIST_SIZE counts
  if (s->header_bytes > c->loop->server->options.max_header_list_bytes) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
    s->refusal = "request trailers (" + std::string(reinterpret_cast<const char*>(name), namelen) +
                 ") are not taken on a unary call";
    return 0;
  }
  std::string_view n(reinterpret_cast<const char*>(name), namelen);
  std::string_view v(reinterpret_cast<const char*>(value), valuelen);
  if (n == ":method") s->method = v;
  else if (n == ":path") s->path = v;
  else if (n == "content-type") s->content_type = v;
  else if (n == "grpc-encoding") s->encoding = v;
  else if (n == "grpc-timeout") s->timeout = v;
  else if (n == "te") s->te = v;
  return 0;
}

int OnData(nghttp2_session* h2, uint8_t, int32_t stream_id, const uint8_t* data, size_t len, void* user_data) {
  auto* c = static_cast<Conn*>(user_data);
  auto* s = static_cast<Stream*>(nghttp2_session_get_stream_user_data(h2, stream_id));
  if (s == nullptr || s->too_large || s->answered) return 0;
  const size_t max = c->loop->server->options.max_message_bytes;
  s->body.append(reinterpret_cast<const char*>(data), len);
  s->held += len;
  c->buffered += len;
  size_t declared = 0;
  if (s->body.size() >= kPrefixBytes) {
    const auto* p = reinterpret_cast<const unsigned char*>(s->body.data());
    declared = (size_t{p[1]} << 24) | (size_t{p[2]} << 16) | (size_t{p[3]} << 8) | p[4];
  }
  // The message is too large as soon as its prefix says so; a connection holds at most two
  // requests of the largest size at once (more waits for the handler's answers).
  const bool over = declared > max || s->body.size() > max + kPrefixBytes + 1;
  if (over || c->buffered > 2 * (max + kPrefixBytes)) {
    s->too_large = true;
    Loop::Release(c, s);
    s->body.clear();
    s->body.shrink_to_fit();
    c->loop->Answer(c, s, GrpcCode::kResourceExhausted,
                    over ? "Received message larger than max (" + std::to_string(declared) + " vs. " +
                               std::to_string(max) + ")"
                         : "the connection holds too many large requests at once");
  }
  return 0;
}

int OnFrameRecv(nghttp2_session* h2, const nghttp2_frame* frame, void* user_data) {
  auto* c = static_cast<Conn*>(user_data);
  if ((frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS) ||
      !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
    return 0;
  auto* s = static_cast<Stream*>(nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id));
  if (s != nullptr) c->loop->Dispatch(c, s);
  return 0;
}

// An answer that ended our side while the client still sends (an early error): the rest of its
// request is not wanted.
int OnFrameSend(nghttp2_session* h2, const nghttp2_frame* frame, void*) {
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
      nghttp2_session_get_stream_remote_close(h2, frame->hd.stream_id) == 0)
    nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
  return 0;
}

int OnStreamClose(nghttp2_session* h2, int32_t stream_id, uint32_t, void* user_data) {
  auto* c = static_cast<Conn*>(user_data);
  auto it = c->streams.find(stream_id);
  if (it == c->streams.end()) return 0;
  Stream* s = it->second;
  Loop::Release(c, s);
  // A call the client cancelled: the handler's answer finds no stream and is dropped (Deliver
  // uncounts it then).
  nghttp2_session_set_stream_user_data(h2, stream_id, nullptr);
  c->streams.erase(it);
  c->loop->Recycle(s);
  return 0;
}

std::string Where(const GrpcHttp2ServerOptions& o) {
  return o.port >= 0 ? (o.address.find(':') != std::string::npos ? "[" + o.address + "]" : o.address) + ":" +
                           std::to_string(o.port)
                     : "unix:" + o.socket_path;
}

}  // namespace

StatusOr<std::unique_ptr<GrpcHttp2Server>> GrpcHttp2Server::Start(const GrpcHttp2ServerOptions& options,
                                                                  GrpcHandler handler) {
  if (options.port < 0 && options.socket_path.empty())
    return InvalidArgument("at least one of a gRPC port or a gRPC socket path must be set");
  if (options.num_threads < 1) return InvalidArgument(Where(options) + ": num_threads must be >= 1");
  std::unique_ptr<GrpcHttp2Server> server(new GrpcHttp2Server);
  server->impl_ = std::make_unique<Impl>();
  Impl* impl = server->impl_.get();
  impl->options = options;
  impl->handler = std::move(handler);
  if (options.port >= 0) {
    LOOM_ASSIGN_OR_RETURN(TcpListener listener,
                          ListenTcp(options.address, options.port, SOCK_NONBLOCK, Where(options)));
    impl->listen_fds.push_back(listener.fd);  // closed by Stop on any error below
    server->port_ = listener.port;
  }
  if (!options.socket_path.empty()) {
    const std::string where = "unix:" + options.socket_path;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (options.socket_path.size() >= sizeof(addr.sun_path))
      return InvalidArgument(where + ": the path is longer than a UNIX socket's " +
                             std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
    memcpy(addr.sun_path, options.socket_path.c_str(), options.socket_path.size());
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return ErrnoStatus(where, "socket", errno);
    impl->listen_fds.push_back(fd);
    unlink(options.socket_path.c_str());  // a socket left by an earlier server (as gRPC does)
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return ErrnoStatus(where, "bind", errno);
    impl->unlink_path = options.socket_path;
    if (listen(fd, 4096) != 0) return ErrnoStatus(where, "listen", errno);
  }

  nghttp2_session_callbacks_new(&impl->callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(impl->callbacks, OnBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(impl->callbacks, OnHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(impl->callbacks, OnData);
  nghttp2_session_callbacks_set_on_frame_recv_callback(impl->callbacks, OnFrameRecv);
  nghttp2_session_callbacks_set_on_frame_send_callback(impl->callbacks, OnFrameSend);
  nghttp2_session_callbacks_set_on_stream_close_callback(impl->callbacks, OnStreamClose);
  nghttp2_option_new(&impl->h2_options);
  nghttp2_option_set_no_closed_streams(impl->h2_options, 1);

  impl->running.store(true);
  for (int i = 0; i < options.num_threads; ++i) {
    impl->loops.push_back(std::make_unique<Loop>());
    Loop* loop = impl->loops.back().get();
    loop->server = impl;
    loop->listen_fds = impl->listen_fds;
    loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    loop->inbox->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->epoll_fd < 0 || loop->inbox->wake_fd < 0) return ErrnoStatus(Where(options), "epoll", errno);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeKey;
    epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, loop->inbox->wake_fd, &ev);
    for (size_t l = 0; l < impl->listen_fds.size(); ++l) {
      ev.events = EPOLLIN | EPOLLEXCLUSIVE;
      ev.data.u64 = kListenKey | l;
      epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, impl->listen_fds[l], &ev);
    }
  }
  for (auto& loop : impl->loops) loop->thread = std::thread([l = loop.get()] { l->Run(); });
  return server;
}

void GrpcHttp2Server::AddConnection(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  Loop* loop = impl_->loops[impl_->next_loop.fetch_add(1) % impl_->loops.size()].get();
  {
    std::lock_guard<std::mutex> lock(loop->inbox->mu);
    loop->adopted.push_back(fd);
  }
  loop->inbox->Wake();
}

int64_t GrpcHttp2Server::active_calls() const { return impl_->active->load(); }

bool GrpcHttp2Server::Drain(double timeout_seconds) {
  if (impl_->stopped) return impl_->active->load() == 0;
  const auto deadline = Clock::now() + std::chrono::microseconds(static_cast<int64_t>(timeout_seconds * 1e6));
  if (!impl_->draining.exchange(true)) {
    for (auto& loop : impl_->loops) loop->inbox->Wake();
    while (impl_->drain_acks.load() < static_cast<int>(impl_->loops.size()))
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    for (int fd : impl_->listen_fds) close(fd);  // no loop waits on them any more
    impl_->listen_fds.clear();
  }
  while (impl_->active->load() > 0) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

void GrpcHttp2Server::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->running.store(false);
  for (auto& loop : impl_->loops) {
    loop->inbox->Wake();
    if (loop->thread.joinable()) loop->thread.join();
  }
  for (auto& loop : impl_->loops) {
    current_inbox = loop->inbox.get();  // its thread is gone: answer on this one
    {
      std::lock_guard<std::mutex> lock(loop->inbox->mu);
      loop->inbox->closed = true;  // later answers are dropped
      for (int fd : loop->adopted) close(fd);
      loop->adopted.clear();
    }
    loop->TakeInbox();
    // Calls still waiting are told the server stopped; then GOAWAY, a last write, and close.
    std::vector<Conn*> conns;
    for (auto& [id, c] : loop->conns) conns.push_back(c.get());
    for (Conn* c : conns) {
      for (auto& [id, s] : c->streams)
        if (!s->answered) loop->Answer(c, s, GrpcCode::kUnavailable, "the server is stopping");
      nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->h2),
                            NGHTTP2_NO_ERROR, nullptr, 0);
      loop->Flush(c);
      loop->Close(c);
    }
    loop->dirty.clear();
    loop->closed.clear();
    current_inbox = nullptr;
  }
  for (int fd : impl_->listen_fds) close(fd);
  impl_->listen_fds.clear();
  if (!impl_->unlink_path.empty()) unlink(impl_->unlink_path.c_str());
}

GrpcHttp2Server::~GrpcHttp2Server() {
  if (impl_ == nullptr) return;
  Stop();
  impl_->loops.clear();
  if (impl_->callbacks != nullptr) nghttp2_session_callbacks_del(impl_->callbacks);
  if (impl_->h2_options != nullptr) nghttp2_option_del(impl_->h2_options);
}

std::string Http2LibraryVersion() {
  const nghttp2_info* info = nghttp2_version(0);
  return info != nullptr && info->version_str != nullptr ? info->version_str : "unknown";
}

}  // namespace loom::net
