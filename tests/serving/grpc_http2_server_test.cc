// net::GrpcHttp2Server against clients we did not write: gRPC++'s (TF Serving's stubs) and
// nghttp2's `nghttp` (which prints every frame and header it receives), and raw sockets for
// what no client sends on purpose (garbage, silence). The handler here is the test's own; the
// serving API on top is tested by grpc_api_test.cc and tfserving_client_test.py.
#include "net/grpc_http2_server.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "test_util/raw_http.h"
#include "test_util/subprocess.h"
#include "test_util/test_env.h"
#include "tfserving/serving_apis.grpc.pb.h"

namespace loom::net {
namespace {

namespace tfs = ::tensorflow::serving;
constexpr char kPredict[] = "/tensorflow.serving.PredictionService/Predict";

// Answers Predict with the request's model name in the response's model_spec; a model name
// starting with "fail:" fails INVALID_ARGUMENT with the rest as its message; one starting with
// "park" keeps the responder (answered by the test); "drop" drops it unanswered. The response's
// signature_name is the number of inputs, or with "big" that many bytes of the first input's
// tensor_content reversed (a large answer).
struct EchoHandler {
  std::mutex mu;
  std::vector<GrpcResponder> parked;
  std::vector<std::string> parked_names;
  std::vector<std::string> methods;

  void operator()(GrpcCall call, GrpcResponder responder) {
    std::lock_guard<std::mutex> lock(mu);
    methods.emplace_back(call.method);
    tfs::PredictRequest request;
    if (!request.ParseFromArray(call.message.data(), static_cast<int>(call.message.size())))
      return responder.Fail(GrpcCode::kInternal, "unparsable");
    const std::string& name = request.model_spec().name();
    if (name.rfind("fail:", 0) == 0) return responder.Fail(GrpcCode::kInvalidArgument, name.substr(5));
    if (name.rfind("park", 0) == 0) {
      parked_names.push_back(name);
      return parked.push_back(responder);
    }
    if (name == "drop") return;
    tfs::PredictResponse response;
    response.mutable_model_spec()->set_name(name);
    response.mutable_model_spec()->set_signature_name(std::to_string(request.inputs_size()));
    if (name == "big") {
      std::string content = request.inputs().begin()->second.tensor_content();
      std::reverse(content.begin(), content.end());
      response.mutable_model_spec()->set_signature_name(content);
    }
    responder.Respond(response.SerializeAsString());
  }
  size_t parked_count() {
    std::lock_guard<std::mutex> lock(mu);
    return parked.size();
  }
};

class GrpcHttp2ServerTest : public ::testing::Test {
 protected:
  void Start(GrpcHttp2ServerOptions options = {}) {
    auto server = GrpcHttp2Server::Start(options, [this](GrpcCall call, GrpcResponder r) {
      handler_(std::move(call), std::move(r));
    });
    ASSERT_TRUE(server.ok()) << server.status().message();
    server_ = std::move(*server);
    ASSERT_GT(server_->port(), 0);
    target_ = "127.0.0.1:" + std::to_string(server_->port());
    stub_ = tfs::PredictionService::NewStub(grpc::CreateChannel(target_, grpc::InsecureChannelCredentials()));
  }

  grpc::Status Predict(const std::string& model, tfs::PredictResponse* response,
                       std::optional<grpc_compression_algorithm> compression = std::nullopt,
                       std::string content = std::string(3136, 'x')) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    if (compression) context.set_compression_algorithm(*compression);
    tfs::PredictRequest request;
    request.mutable_model_spec()->set_name(model);
    (*request.mutable_inputs())["images"].set_tensor_content(std::move(content));
    return stub_->Predict(&context, request, response);
  }

  // `nghttp -v` posting `body` to `path` with extra headers: what it printed.
  std::string Nghttp(const std::string& path, const std::string& body, const std::vector<std::string>& headers) {
    const std::string file = dir_.Join("body");
    std::ofstream(file, std::ios::binary) << body;
    std::vector<std::string> argv = {"nghttp", "-v", "-d", file};
    for (const std::string& h : headers) argv.insert(argv.end(), {"-H", h});
    argv.push_back("http://" + target_ + path);
    auto r = loom::testing::Run(argv, dir_.path());
    return r.out + r.err;
  }

  static std::string Framed(const std::string& message) {
    const uint32_t n = static_cast<uint32_t>(message.size());
    std::string out = {0, static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                       static_cast<char>(n)};
    return out + message;
  }

  loom::testing::ScratchDir dir_;
  EchoHandler handler_;
  std::unique_ptr<GrpcHttp2Server> server_;
  std::string target_;
  std::unique_ptr<tfs::PredictionService::Stub> stub_;
};

TEST_F(GrpcHttp2ServerTest, UnaryCallsAndErrorsOverGrpcsOwnClient) {
  Start();
  tfs::PredictResponse response;
  grpc::Status s = Predict("mnist", &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.model_spec().name(), "mnist");
  EXPECT_EQ(response.model_spec().signature_name(), "1");
  EXPECT_EQ(handler_.methods.at(0), kPredict);
  // grpc-message is percent-encoded on the wire and decoded by the client, byte for byte.
  const std::string text = "bad \"x\": 100% \xc3\xa9t\xc3\xa9\nline two";
  s = Predict("fail:" + text, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), text);
  // A handler that drops its responder: the client hears INTERNAL, not silence.
  s = Predict("drop", &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(s.error_message(), "the call was dropped without an answer");
  // Many calls at once from several threads on one channel (one connection, many streams).
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        tfs::PredictResponse r;
        const std::string name = "m" + std::to_string(t * 100 + i);
        if (Predict(name, &r).ok() && r.model_spec().name() == name) good.fetch_add(1);
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), 200);
  EXPECT_EQ(server_->active_calls(), 0);
}

TEST_F(GrpcHttp2ServerTest, LargeMessagesBothWaysThroughFlowControl) {
  GrpcHttp2ServerOptions options;
  options.max_message_bytes = 8u << 20;
  Start(options);
  // 3 MiB each way, several calls at once on one connection: many DATA frames, WINDOW_UPDATEs
  // both ways, and answers larger than a socket buffer (written as the client reads).
  std::string content(3u << 20, ' ');  // letters: signature_name is a UTF-8 string
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  std::string reversed(content.rbegin(), content.rend());
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      tfs::PredictResponse r;
      grpc::Status s = Predict("big", &r, std::nullopt, content);
      if (s.ok() && r.model_spec().signature_name() == reversed) good.fetch_add(1);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), 4);
}

TEST_F(GrpcHttp2ServerTest, AnswersFromOtherThreadsLater) {
  Start();
  std::vector<std::thread> clients;
  std::vector<grpc::Status> statuses(16);
  std::vector<tfs::PredictResponse> responses(16);
  for (int i = 0; i < 16; ++i) clients.emplace_back([&, i] { statuses[i] = Predict("park", &responses[i]); });
  while (handler_.parked_count() < 16) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(server_->active_calls(), 16);
  std::vector<std::thread> answerers;
  for (int i = 0; i < 16; ++i)
    answerers.emplace_back([&, i] {
      tfs::PredictResponse r;
      r.mutable_model_spec()->set_name("late");
      handler_.parked[i].Respond(r.SerializeAsString());
      handler_.parked[i].Respond("ignored: the first answer is the one sent");
    });
  for (auto& t : answerers) t.join();
  for (auto& t : clients) t.join();
  for (int i = 0; i < 16; ++i) {
    EXPECT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    EXPECT_EQ(responses[i].model_spec().name(), "late");
  }
  EXPECT_EQ(server_->active_calls(), 0);
}

TEST_F(GrpcHttp2ServerTest, RefusesCompressionAndMessagesOverTheLimit) {
  GrpcHttp2ServerOptions options;
  options.max_message_bytes = 1000;
  Start(options);
  tfs::PredictResponse response;
  // 3 KB of tensor_content: over the 1000-byte limit.
  grpc::Status s = Predict("mnist", &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("Received message larger than max ("), std::string::npos) << s.error_message();
  EXPECT_NE(s.error_message().find(" vs. 1000)"), std::string::npos) << s.error_message();
  // gRPC's client compressing with gzip: refused, never decoded as if it were plain.
  s = Predict("mnist", &response, GRPC_COMPRESS_GZIP);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_NE(s.error_message().find("grpc-encoding gzip"), std::string::npos) << s.error_message();
  EXPECT_TRUE(handler_.methods.empty());  // neither reached the handler
  EXPECT_EQ(server_->active_calls(), 0);
}

TEST_F(GrpcHttp2ServerTest, TheWireAsNghttpSeesIt) {
  Start();
  tfs::PredictRequest request;
  request.mutable_model_spec()->set_name("mnist");
  const std::string call = Framed(request.SerializeAsString());
  const std::vector<std::string> grpc = {"content-type: application/grpc", "te: trailers"};
  // OK: HEADERS (200, application/grpc), DATA (the framed message), trailers with grpc-status 0.
  std::string out = Nghttp(kPredict, call, grpc);
  EXPECT_NE(out.find(":status: 200"), std::string::npos) << out;
  EXPECT_NE(out.find("content-type: application/grpc"), std::string::npos) << out;
  EXPECT_NE(out.find("recv DATA frame"), std::string::npos) << out;
  EXPECT_NE(out.find("grpc-status: 0"), std::string::npos) << out;
  // The deadline: a call still waiting at grpc-timeout ends DEADLINE_EXCEEDED, from the server.
  tfs::PredictRequest park;
  park.mutable_model_spec()->set_name("park");
  auto start = std::chrono::steady_clock::now();
  out = Nghttp(kPredict, Framed(park.SerializeAsString()),
               {"content-type: application/grpc", "te: trailers", "grpc-timeout: 200m"});
  EXPECT_NE(out.find("grpc-status: 4"), std::string::npos) << out;
  EXPECT_NE(out.find("grpc-message: Deadline Exceeded"), std::string::npos) << out;
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(200));
  // Answering it afterwards is harmless.
  ASSERT_EQ(handler_.parked_count(), 1u);
  handler_.parked[0].Respond("late");
  // A malformed grpc-timeout is refused, not ignored.
  out = Nghttp(kPredict, call, {"content-type: application/grpc", "grpc-timeout: soon"});
  EXPECT_NE(out.find("grpc-status: 13"), std::string::npos) << out;
  EXPECT_NE(out.find("grpc-timeout \"soon\" is malformed"), std::string::npos) << out;
  // Not gRPC's content type: HTTP 415 (as gRPC answers); gRPC's with another codec: UNIMPLEMENTED.
  out = Nghttp(kPredict, call, {"content-type: application/json"});
  EXPECT_NE(out.find(":status: 415"), std::string::npos) << out;
  out = Nghttp(kPredict, call, {"content-type: application/grpc+json"});
  EXPECT_NE(out.find("grpc-status: 12"), std::string::npos) << out;
  EXPECT_NE(out.find("application/grpc+proto"), std::string::npos) << out;
  // A compressed flag without grpc-encoding, a truncated message, and two messages.
  std::string flagged = call;
  flagged[0] = 1;
  out = Nghttp(kPredict, flagged, grpc);
  EXPECT_NE(out.find("grpc-status: 13"), std::string::npos) << out;
  EXPECT_NE(out.find("flagged compressed"), std::string::npos) << out;
  out = Nghttp(kPredict, call.substr(0, call.size() - 1), grpc);
  EXPECT_NE(out.find("ended inside its message"), std::string::npos) << out;
  out = Nghttp(kPredict, call + call, grpc);
  EXPECT_NE(out.find("grpc-status: 12"), std::string::npos) << out;
  EXPECT_NE(out.find("more than one request message"), std::string::npos) << out;
  // grpc-encoding other than identity: UNIMPLEMENTED, telling what the server takes.
  out = Nghttp(kPredict, call, {"content-type: application/grpc", "grpc-encoding: snappy"});
  EXPECT_NE(out.find("grpc-status: 12"), std::string::npos) << out;
  EXPECT_NE(out.find("grpc-accept-encoding: identity"), std::string::npos) << out;
  // The SETTINGS the server announces.
  EXPECT_NE(out.find("SETTINGS_MAX_CONCURRENT_STREAMS(0x03):1000"), std::string::npos) << out;
  EXPECT_NE(out.find("SETTINGS_MAX_HEADER_LIST_SIZE(0x06):16384"), std::string::npos) << out;
}

TEST_F(GrpcHttp2ServerTest, GarbageAndSilentConnectionsAreClosedAndServiceGoesOn) {
  GrpcHttp2ServerOptions options;
  options.connection_timeout_seconds = 1;
  Start(options);
  // Not HTTP/2: the connection ends (after GOAWAY); the server keeps serving.
  int garbage = serving::testing::ConnectLocal(server_->port());
  ASSERT_TRUE(serving::testing::SendAll(garbage, "GET / HTTP/1.1\r\nHost: x\r\n\r\n" + std::string(100, 'z')));
  char buf[4096];
  ssize_t n;
  while ((n = read(garbage, buf, sizeof(buf))) > 0) {}
  EXPECT_EQ(n, 0);
  close(garbage);
  // A connection that says nothing is closed after the timeout (a second, give or take one).
  int silent = serving::testing::ConnectLocal(server_->port());
  auto start = std::chrono::steady_clock::now();
  while ((n = read(silent, buf, sizeof(buf))) > 0) {}  // the server's SETTINGS, then the end
  EXPECT_EQ(n, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  close(silent);
  tfs::PredictResponse response;
  EXPECT_TRUE(Predict("still", &response).ok());
  // 300 connections that stall inside the preface, and one that sends it a byte at a time: each
  // costs a descriptor, no thread, so calls go on meanwhile (both loops hold some of them).
  std::vector<int> stalled;
  for (int i = 0; i < 300; ++i) {
    stalled.push_back(serving::testing::ConnectLocal(server_->port()));
    ASSERT_GE(stalled.back(), 0);
    ASSERT_TRUE(serving::testing::SendAll(stalled.back(), "PRI * HTTP/2.0\r\n"));
  }
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  int trickle = serving::testing::ConnectLocal(server_->port());
  for (size_t i = 0; i < preface.size(); ++i) {
    ASSERT_TRUE(serving::testing::SendAll(trickle, preface.substr(i, 1)));
    ASSERT_TRUE(Predict("meanwhile " + std::to_string(i), &response).ok());
    EXPECT_EQ(response.model_spec().name(), "meanwhile " + std::to_string(i));
  }
  close(trickle);
  for (int fd : stalled) close(fd);
}

TEST_F(GrpcHttp2ServerTest, DrainWaitsForCallsInFlightThenStopAnswersTheRest) {
  Start();
  grpc::Status first, second;
  tfs::PredictResponse r1, r2;
  std::thread a([&] { first = Predict("park1", &r1); });
  std::thread b([&] { second = Predict("park2", &r2); });
  while (handler_.parked_count() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // Drain does not end while a call waits; the listener is closed meanwhile.
  std::atomic<bool> drained{false};
  std::thread drain([&] { drained = server_->Drain(0.5); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  tfs::PredictResponse ok;
  ok.mutable_model_spec()->set_name("answered");
  const int one = handler_.parked_names[0] == "park1" ? 0 : 1;
  handler_.parked[one].Respond(ok.SerializeAsString());
  drain.join();
  EXPECT_FALSE(drained.load());  // the second call still waits
  a.join();
  EXPECT_TRUE(first.ok()) << first.error_message();
  EXPECT_EQ(r1.model_spec().name(), "answered");
  EXPECT_EQ(serving::testing::ConnectLocal(server_->port()), -1);  // no longer listening
  server_->Stop();
  b.join();
  EXPECT_EQ(second.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(second.error_message(), "the server is stopping");
  handler_.parked[1 - one].Respond("after the server stopped: dropped");
}

}  // namespace
}  // namespace loom::net
