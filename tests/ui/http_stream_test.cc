// HttpServerResponse::stream (src/net/http_server.h): a body sent in chunks as it becomes ready,
// the connection set aside while there is nothing to send, and Drain ending a stream that would
// never end by itself. What Argo's log follow in `loom server` rests on.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>

#include "net/http_client.h"
#include "net/http_server.h"

namespace loom::net {
namespace {

TEST(HttpStreamTest, SendsChunksAsTheyComeAndWaitsInBetween) {
  // Each request gets: "a", nothing, nothing, "b", nothing, "c", end.
  auto server = HttpServer::Create({}, [](const HttpServerRequest&, HttpServerResponse* response) {
    auto step = std::make_shared<int>(0);
    response->content_type = "text/plain";
    response->stream_poll_ms = 5;
    response->stream = [step](std::string* out) {
      switch ((*step)++) {
        case 0: *out = "a"; return true;
        case 3: *out = "b"; return true;
        case 5: *out = "c"; return true;
        case 6: return false;
        default: return true;  // nothing yet
      }
    };
  });
  ASSERT_TRUE(server.ok());
  for (int i = 0; i < 3; ++i) {  // keep-alive: the connection serves the next request after a stream
    auto client = HttpClient::Create({});
    ASSERT_TRUE(client.ok());
    HttpRequest request;
    request.url = "http://127.0.0.1:" + std::to_string((*server)->port()) + "/";
    std::string body;
    int chunks = 0;
    request.on_body = [&](std::string_view data) {
      body.append(data);
      ++chunks;
      return true;
    };
    auto answer = (*client)->Send(request);
    ASSERT_TRUE(answer.ok()) << answer.status().message();
    EXPECT_EQ(answer->status, 200);
    EXPECT_EQ(body, "abc");
    EXPECT_EQ(answer->Header("transfer-encoding"), "chunked");
  }
}

TEST(HttpStreamTest, DrainEndsAStreamThatWouldNeverEnd) {
  std::atomic<int> calls{0};
  auto server = HttpServer::Create({}, [&](const HttpServerRequest&, HttpServerResponse* response) {
    response->stream_poll_ms = 10;
    response->stream = [&](std::string* out) {
      if (calls.fetch_add(1) == 0) *out = "first";
      return true;  // forever: a follower of a log that never ends
    };
  });
  ASSERT_TRUE(server.ok());
  std::string body;
  std::thread follower([&] {
    auto client = HttpClient::Create({});
    HttpRequest request;
    request.url = "http://127.0.0.1:" + std::to_string((*server)->port()) + "/";
    request.on_body = [&](std::string_view data) {
      body.append(data);
      return true;
    };
    (void)(*client)->Send(request);
  });
  while (calls.load() < 3) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_TRUE((*server)->Drain(30));
  follower.join();
  EXPECT_EQ(body, "first");
  (*server)->Stop();
}

}  // namespace
}  // namespace loom::net
