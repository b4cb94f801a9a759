// libFuzzer target for what a gRPC client controls in `loom serve`, against a manager serving
// an MNIST-shaped model with two versions and labels. The sibling of predict_fuzzer.cc (the REST
// bodies). The first byte of an input picks what the rest is:
//   0 (or anything but 1): the bytes of a tensorflow.serving.PredictRequest, parsed as the
//     server parses them and handed to GrpcApi::Predict (serving/grpc_api.h);
//   1: what a client sends on an HTTP/2 connection after the preface (frames, HPACK, gRPC's
//     message framing), fed to the server's own transport (net::GrpcHttp2Server on a
//     socketpair, GrpcServer::Handle on the GrpcApi: the path `loom serve` runs).
// Its seed corpus: the real requests of tests/serving/fuzz_corpus_grpc/ (protoc --encode of the
// *.txtpb there), each alone and as the frames a gRPC client sends (h2_seeds.py).
//
// Besides the sanitizers' findings, a crash is: done not called exactly once, a code outside
// those Predict answers (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION), an error without a
// message, or an OK answer whose tensors do not hold n x 10 scores and n classes; on the HTTP/2
// path, a connection the server does not close once the client has sent everything and shut its
// side (a hang), or a call left unanswered after it closed.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "core/logging.h"
#include "mnist_manager.h"
#include "serving/grpc_api.h"
#include "serving/grpc_server.h"

namespace loom::serving {
namespace {

struct World {
  fuzzing::MnistManager models;
  ServingMetrics metrics;
  GrpcApi api{&models.manager, &metrics};
  std::unique_ptr<net::GrpcHttp2Server> transport;
};

[[noreturn]] void Fail(const std::string& what, const tfs::PredictRequest& request) {
  std::fprintf(stderr, "grpc_predict_fuzzer: %s\nrequest: %s\n", what.c_str(),
               request.ShortDebugString().substr(0, 600).c_str());
  std::abort();
}

[[noreturn]] void FailH2(const std::string& what) {
  std::fprintf(stderr, "grpc_predict_fuzzer (HTTP/2): %s\n", what.c_str());
  std::abort();
}

// Sends the client's bytes (after the preface) on a fresh connection, shuts the sending side,
// and reads until the server closes: it must, within seconds.
void FeedConnection(World* world, const uint8_t* data, size_t size) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) FailH2("socketpair");
  world->transport->AddConnection(fds[0]);
  const int client = fds[1];
  fcntl(client, F_SETFL, O_NONBLOCK);
  static const char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  std::string out(kPreface, sizeof(kPreface) - 1);
  out.append(reinterpret_cast<const char*>(data), size);
  size_t sent = 0;
  bool shut = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  char buf[65536];
  for (;;) {
    if (sent == out.size() && !shut) {
      shutdown(client, SHUT_WR);
      shut = true;
    }
    pollfd p{client, static_cast<short>(POLLIN | (shut ? 0 : POLLOUT)), 0};
    if (std::chrono::steady_clock::now() > deadline) FailH2("the server did not close the connection");
    if (poll(&p, 1, 100) <= 0) continue;
    if (p.revents & POLLOUT) {
      ssize_t n = send(client, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<size_t>(n);
      if (n < 0 && errno != EAGAIN) sent = out.size();  // the server closed early: fine
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = recv(client, buf, sizeof(buf), 0);
      if (n == 0 || (n < 0 && errno != EAGAIN)) break;
    }
  }
  close(client);
  // The model answers at once, on the connection's own thread: nothing may wait after the close.
  for (int i = 0; world->transport->active_calls() != 0; ++i) {
    if (i == 5000) FailH2("a call still unanswered after its connection closed");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace
}  // namespace loom::serving

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace loom::serving;
  static World* world = [] {
    loom::SetMinLogSeverity(loom::LogSeverity::kError);
    auto* w = new World();
    loom::net::GrpcHttp2ServerOptions options;
    options.port = 0;
    options.num_threads = 1;
    options.max_message_bytes = 16384;
    const GrpcApi* api = &w->api;
    auto transport = loom::net::GrpcHttp2Server::Start(options, [api](loom::net::GrpcCall call,
                                                                       loom::net::GrpcResponder responder) {
      GrpcServer::Handle(api, call, std::move(responder));
    });
    if (!transport.ok()) FailH2(transport.status().ToString());
    w->transport = std::move(*transport);
    return w;
  }();
  if (size == 0) return 0;
  const bool h2 = data[0] == 1;
  ++data;
  --size;
  if (h2) {
    FeedConnection(world, data, size);
    return 0;
  }
  tfs::PredictRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;  // gRPC refuses it before Loom
  tfs::PredictResponse response;
  int calls = 0;
  loom::Status status;
  world->api.Predict(request, &response, [&](loom::Status s) {
    ++calls;
    status = std::move(s);
  });
  if (calls != 1) Fail("done called " + std::to_string(calls) + " times", request);
  switch (status.code()) {
    case loom::StatusCode::kOk: case loom::StatusCode::kInvalidArgument: case loom::StatusCode::kNotFound:
    case loom::StatusCode::kFailedPrecondition: break;
    default: Fail("unexpected status " + status.ToString(), request);
  }
  if (!status.ok() && status.message().empty()) Fail("an error without a message", request);
  if (status.ok()) {
    auto scores = response.outputs().find("scores");
    auto classes = response.outputs().find("classes");
    if (scores == response.outputs().end() && classes == response.outputs().end()) Fail("no outputs", request);
    int64_t n = -1;
    if (scores != response.outputs().end()) {
      n = scores->second.tensor_shape().dim(0).size();
      if (scores->second.float_val_size() != n * 10) Fail("scores do not hold n x 10 floats", request);
    }
    if (classes != response.outputs().end()) {
      if (n >= 0 && classes->second.tensor_shape().dim(0).size() != n) Fail("classes and scores disagree on n", request);
      for (int64_t c : classes->second.int64_val())
        if (c < 0 || c >= 10) Fail("a class outside 0..9", request);
    }
  }
  return 0;
}
