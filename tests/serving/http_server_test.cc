#include "net/http_server.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace loom::net
