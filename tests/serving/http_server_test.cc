#include "net/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "test_util/raw_http.h"

namespace loom::net {
namespace {

using serving::testing::ConnectLocal;
using serving::testing::ReadResponse;
using serving::testing::Request;
using serving::testing::RequestText;
using serving::testing::SendAll;

void Echo(const HttpServerRequest& req, HttpServerResponse* res) {
  res->content_type = "text/plain";
  res->body = req.method + " " + req.path + " " + req.Header("content-type") + " " +
              std::to_string(req.body.size());
}

TEST(HttpServerTest, ServesRequestsOnKeepAliveConnections) {
  auto server = HttpServer::Create({}, Echo);
  ASSERT_TRUE(server.ok()) << server.status().message();
  int port = (*server)->port();
  ASSERT_GT(port, 0);
  auto r = Request(port, "GET", "/v1/models/m");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "GET /v1/models/m  0");
  int fd = ConnectLocal(port);
  for (int i = 0; i < 3; ++i) {
    std::string body(1000 + i, 'x');
    ASSERT_TRUE(SendAll(fd, RequestText("POST", "/a:predict", body)));
    auto rr = ReadResponse(fd);
    EXPECT_EQ(rr.status, 200);
    EXPECT_EQ(rr.body, "POST /a:predict application/json " + std::to_string(body.size()));
  }
  close(fd);
}

TEST(HttpServerTest, RejectsBodiesOverTheLimit) {
  HttpServerOptions options;
  options.max_body_bytes = 1000;
  auto server = HttpServer::Create(options, Echo);
  ASSERT_TRUE(server.ok());
  auto r = Request((*server)->port(), "POST", "/x", std::string(1001, 'y'));
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("\"error\""), std::string::npos);
  // A chunked body with no Content-Length is cut off the same way.
  int fd = ConnectLocal((*server)->port());
  std::string chunked = "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) chunked += "200\r\n" + std::string(512, 'z') + "\r\n";
  chunked += "0\r\n\r\n";
  ASSERT_TRUE(SendAll(fd, chunked));
  EXPECT_EQ(ReadResponse(fd).status, 413);
  close(fd);
  EXPECT_EQ(Request((*server)->port(), "POST", "/x", std::string(1000, 'y')).status, 200);
}

TEST(HttpServerTest, BindErrorsNameTheAddress) {
  auto first = HttpServer::Create({}, Echo);
  ASSERT_TRUE(first.ok());
  HttpServerOptions options;
  options.port = (*first)->port();
  auto second = HttpServer::Create(options, Echo);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("127.0.0.1:" + std::to_string(options.port)),
            std::string::npos);
  options.address = "not-an-ip";
  EXPECT_EQ(HttpServer::Create(options, Echo).status().code(), StatusCode::kInvalidArgument);
}

TEST(HttpServerTest, DrainAnswersInFlightRequestsThenRefusesNewConnections) {
  std::atomic<bool> release{false};
  std::atomic<int> entered{0};
  auto server = HttpServer::Create({}, [&](const HttpServerRequest& req, HttpServerResponse* res) {
    ++entered;
    while (!release.load()) std::this_thread::yield();
    res->body = "done";
  });
  ASSERT_TRUE(server.ok());
  int port = (*server)->port();
  serving::testing::RawResponse slow;
  std::thread client([&] { slow = Request(port, "GET", "/slow"); });
  while (entered.load() == 0) std::this_thread::yield();
  std::thread drain([&] { EXPECT_TRUE((*server)->Drain(60)); });
  // Drain waits for the request in the handler.
  while (ConnectLocal(port) >= 0) std::this_thread::yield();  // listening socket closed
  release = true;
  client.join();
  drain.join();
  EXPECT_EQ(slow.status, 200);
  EXPECT_EQ(slow.body, "done");
  (*server)->Stop();
}

// An asynchronous handler that answers "/now" at once and keeps the responders of every other
// request until the test answers them.
class Parked {
 public:
  HttpServerAsyncHandler Handler() {
    return [this](const HttpServerRequest& req, HttpResponder responder) {
      if (req.path == "/now") {
        HttpServerResponse res;
        res.body = "now";
        responder.Respond(std::move(res));
        return;
      }
      std::lock_guard<std::mutex> lock(mu_);
      parked_.emplace_back(req.path, std::move(responder));
    };
  }
  // Waits until n requests are parked.
  void WaitFor(size_t n) {
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (parked_.size() >= n) return;
      }
      std::this_thread::yield();
    }
  }
  std::vector<std::pair<std::string, HttpResponder>> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(parked_);
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<std::string, HttpResponder>> parked_;
};

TEST(HttpServerAsyncTest, DeferredRequestsDoNotHoldTheEventThread) {
  Parked parked;
  HttpServerOptions options;
  options.num_threads = 1;  // one thread: a blocked handler would stall every connection
  auto server = HttpServer::CreateAsync(options, parked.Handler());
  ASSERT_TRUE(server.ok()) << server.status().message();
  int port = (*server)->port();
  constexpr int kClients = 64;
  std::vector<serving::testing::RawResponse> answers(kClients);
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c)
    clients.emplace_back([&, c] { answers[c] = Request(port, "POST", "/wait/" + std::to_string(c), "x"); });
  parked.WaitFor(kClients);
  EXPECT_EQ((*server)->active_requests(), kClients);
  // Meanwhile the one event thread serves other connections, twice on one keep-alive one.
  int fd = ConnectLocal(port);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(SendAll(fd, RequestText("GET", "/now", "")));
    auto r = ReadResponse(fd);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "now");
  }
  close(fd);
  // Answered from another thread, each with its own body; a second answer is ignored.
  std::thread answering([&] {
    for (auto& [path, responder] : parked.Take()) {
      HttpServerResponse res;
      res.status = 201;
      res.body = "answer to " + path;
      responder.Respond(res);
      res.body = "second answer";
      responder.Respond(res);
    }
  });
  answering.join();
  for (auto& t : clients) t.join();
  for (int c = 0; c < kClients; ++c) {
    EXPECT_EQ(answers[c].status, 201);
    EXPECT_EQ(answers[c].body, "answer to /wait/" + std::to_string(c));
  }
  EXPECT_TRUE((*server)->Drain(60));
  EXPECT_EQ((*server)->active_requests(), 0);
}

TEST(HttpServerAsyncTest, ClientGoneWhileDeferredAndDroppedResponder) {
  Parked parked;
  auto server = HttpServer::CreateAsync({}, parked.Handler());
  ASSERT_TRUE(server.ok());
  int port = (*server)->port();
  int fd = ConnectLocal(port);
  ASSERT_TRUE(SendAll(fd, RequestText("POST", "/gone", "x")));
  parked.WaitFor(1);
  close(fd);  // the client goes away while its request waits
  auto gone = parked.Take();
  HttpServerResponse res;
  res.body = "too late";
  gone[0].second.Respond(res);
  gone.clear();
  // A responder dropped without an answer: the client gets 500, not a hang.
  serving::testing::RawResponse dropped;
  std::thread client([&] { dropped = Request(port, "POST", "/dropped", "x"); });
  parked.WaitFor(1);
  parked.Take().clear();
  client.join();
  EXPECT_EQ(dropped.status, 500);
  EXPECT_NE(dropped.body.find("\"error\""), std::string::npos);
  EXPECT_EQ(Request(port, "GET", "/now").body, "now");
  // Nothing is left behind: every request ended.
  EXPECT_TRUE((*server)->Drain(60));
  EXPECT_EQ((*server)->active_requests(), 0);
}

TEST(HttpServerAsyncTest, DrainWaitsForDeferredAnswers) {
  Parked parked;
  auto server = HttpServer::CreateAsync({}, parked.Handler());
  ASSERT_TRUE(server.ok());
  int port = (*server)->port();
  serving::testing::RawResponse waiting;
  std::thread client([&] { waiting = Request(port, "POST", "/wait", "x"); });
  parked.WaitFor(1);
  std::atomic<bool> drained{false};
  std::thread drain([&] { drained = (*server)->Drain(60); });
  while (ConnectLocal(port) >= 0) std::this_thread::yield();  // listening socket closed
  EXPECT_FALSE(drained.load());  // the deferred request is still in flight
  HttpServerResponse res;
  res.body = "late";
  parked.Take()[0].second.Respond(res);
  drain.join();
  client.join();
  EXPECT_TRUE(drained.load());
  EXPECT_EQ(waiting.status, 200);
  EXPECT_EQ(waiting.body, "late");
  (*server)->Stop();
}

TEST(HttpServerAsyncTest, StopWithDeferredRequestsDoesNotHang) {
  Parked parked;
  auto server = HttpServer::CreateAsync({}, parked.Handler());
  ASSERT_TRUE(server.ok());
  int port = (*server)->port();
  std::vector<serving::testing::RawResponse> answers(3);
  std::vector<std::thread> clients;
  for (int c = 0; c < 3; ++c)
    clients.emplace_back([&, c] { answers[c] = Request(port, "POST", "/wait", "x"); });
  parked.WaitFor(3);
  (*server)->Stop();
  for (auto& t : clients) t.join();
  for (const auto& a : answers) EXPECT_TRUE(a.status == 503 || a.status == 0) << a.status;
  // Answering after Stop, and after the server is gone, sends nothing and does not crash.
  auto late = parked.Take();
  HttpServerResponse res;
  late[0].second.Respond(res);
  server->reset();
  late[1].second.Respond(res);
  late.clear();
}

}  // namespace
}  // namespace loom::net
