// The web UI's JSON API over real HTTP: scalars from event files, jobs and paged logs, the
// model proxy, the embedded pages, and the security rules (Host, cross-origin writes, paths
// that try to leave the logdir or the jobs directory). Requests are written byte for byte on a
// socket so that nothing (curl's dot-segment removal) cleans them up on the way.
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

#include "core/file.h"
#include "core/json.h"
#include "net/http_server.h"
#include "tboard/event_writer.h"
#include "test_util/loopback.h"
#include "test_util/test_env.h"
#include "ui/safe_path.h"
#include "ui/web_ui.h"

namespace loom::ui {
namespace {

struct RawResponse {
  int status = 0;
  std::string headers;
  std::string body;
};

// Sends `request` as is (it must say Connection: close) and reads the whole answer.
RawResponse Raw(int port, const std::string& request) {
  RawResponse out;
  int fd = testing::ConnectLoopback(port);
  if (fd < 0) return out;
  (void)!write(fd, request.data(), request.size());
  std::string data;
  char buffer[65536];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) data.append(buffer, static_cast<size_t>(n));
  close(fd);
  size_t end = data.find("\r\n\r\n");
  if (end == std::string::npos) return out;
  out.headers = data.substr(0, end);
  out.body = data.substr(end + 4);
  if (out.headers.size() > 12) out.status = std::stoi(out.headers.substr(9, 3));
  // Bodies here are small and not chunked (libmicrohttpd sends Content-Length for buffers).
  return out;
}

class WebUiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    logdir_ = dir_.Join("runs");
    jobs_ = dir_.Join("jobs");
    // Two runs, one nested, and a secret outside the logdir that no request may reach.
    WriteRun("a", {{0, 2.0f}, {10, 1.0f}});
    WriteRun("group/b", {{5, 3.0f}});
    ASSERT_TRUE(WriteFileAtomic(dir_.Join("secret.txt"), "top secret").ok());
    ASSERT_TRUE(MakeDirs(JoinPath(jobs_, "mnist/logs")).ok());
    ASSERT_TRUE(WriteFileAtomic(JoinPath(jobs_, "mnist/status.json"),
                                R"({"conditions": [{"type": "Running", "status": "True"}],
                                    "local": {"replicas": [{"name": "worker-0", "restarts": 1}]}})")
                    .ok());
    // 200 000 bytes of log with a two-byte character across the 65 536 boundary.
    std::string log(65535, 'x');
    log += "\xc3\xa9";
    log += std::string(200000 - log.size(), 'y');
    log_ = log;
    ASSERT_TRUE(WriteFileAtomic(JoinPath(jobs_, "mnist/logs/worker-0.log"), log).ok());
    // A symlink that points out of the jobs directory.
    ASSERT_EQ(symlink(dir_.path().c_str(), JoinPath(jobs_, "escape").c_str()), 0);

    // A stand-in model server: the proxy's other end.
    auto model_server = net::HttpServer::Create({}, [](const net::HttpServerRequest& r, net::HttpServerResponse* w) {
      if (r.method == "GET" && r.path == "/v1/models/mnist") {
        w->body = R"({"model_version_status": [{"version": "1", "state": "AVAILABLE"}]})";
      } else if (r.method == "POST" && r.path == "/v1/models/mnist:predict") {
        w->body = R"({"predictions": [{"echo": )" + r.body + "}]}";
      } else {
        w->status = 404;
        w->body = R"({"error": "no such model"})";
      }
    });
    ASSERT_TRUE(model_server.ok());
    model_server_ = std::move(*model_server);

    WebUiOptions options;
    options.logdir = logdir_;
    options.jobs_dir = jobs_;
    options.model_server = "127.0.0.1:" + std::to_string(model_server_->port());
    options.models = {"mnist", "absent"};
    auto ui = WebUi::Create(options);
    ASSERT_TRUE(ui.ok()) << ui.status().message();
    ui_ = std::move(*ui);
    auto server = ServeWebUi(ui_.get(), {});
    ASSERT_TRUE(server.ok());
    server_ = std::move(*server);
  }

  void WriteRun(const std::string& run, const std::vector<std::pair<int64_t, float>>& losses) {
    tboard::EventWriterOptions o;
    o.dir = JoinPath(logdir_, run);
    o.flush_interval_seconds = 0;
    auto writer = tboard::EventWriter::Create(o);
    ASSERT_TRUE(writer.ok()) << writer.status().message();
    for (auto [step, loss] : losses) ASSERT_TRUE((*writer)->WriteScalar("loss", loss, step).ok());
    ASSERT_TRUE((*writer)->Close().ok());
  }

  std::string Host() const { return "127.0.0.1:" + std::to_string(server_->port()); }

  RawResponse Get(const std::string& target, const std::string& extra = "") {
    return Raw(server_->port(), "GET " + target + " HTTP/1.1\r\nHost: " + Host() + "\r\n" + extra +
                                    "Connection: close\r\n\r\n");
  }
  RawResponse Send(const std::string& method, const std::string& target, const std::string& headers,
                   const std::string& body) {
    return Raw(server_->port(), method + " " + target + " HTTP/1.1\r\nHost: " + Host() + "\r\n" +
                                    headers + "Content-Length: " + std::to_string(body.size()) +
                                    "\r\nConnection: close\r\n\r\n" + body);
  }
  Json GetJson(const std::string& target) {
    RawResponse r = Get(target);
    EXPECT_EQ(r.status, 200) << target << ": " << r.body;
    auto parsed = ParseJson(r.body, target);
    EXPECT_TRUE(parsed.ok()) << r.body;
    return parsed.ok() ? *parsed : Json();
  }

  testing::ScratchDir dir_;
  std::string logdir_, jobs_, log_;
  std::unique_ptr<net::HttpServer> model_server_;
  std::unique_ptr<WebUi> ui_;
  std::unique_ptr<net::HttpServer> server_;
};

TEST_F(WebUiTest, ServesEmbeddedPagesWithAStrictPolicy) {
  RawResponse index = Get("/");
  EXPECT_EQ(index.status, 200);
  EXPECT_NE(index.body.find("<script src=\"/app.js\""), std::string::npos);
  EXPECT_NE(index.headers.find("Content-Security-Policy: default-src 'self'"), std::string::npos);
  RawResponse js = Get("/app.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_NE(js.headers.find("text/javascript"), std::string::npos);
  EXPECT_EQ(Get("/nothing.js").status, 404);
  EXPECT_EQ(Get("/../../etc/passwd").status, 404);
}

TEST_F(WebUiTest, ListsRunsAndTheirScalars) {
  Json runs = GetJson("/api/v1/runs");
  EXPECT_EQ(runs["runs"], Json::array({"a", "group/b"}));
  Json a = GetJson("/api/v1/scalars?run=a");
  ASSERT_EQ(a["tags"]["loss"].size(), 2u);
  EXPECT_EQ(a["tags"]["loss"][1][0], 10);
  EXPECT_EQ(a["tags"]["loss"][1][2], 1.0);
  Json b = GetJson("/api/v1/scalars?run=group%2Fb");
  EXPECT_EQ(b["tags"]["loss"][0][2], 3.0);
  EXPECT_EQ(Get("/api/v1/scalars?run=nope").status, 404);
  EXPECT_EQ(Get("/api/v1/scalars").status, 400);
}

TEST_F(WebUiTest, PathsCannotLeaveTheirDirectories) {
  for (const char* run : {"..", "../runs/a", "a/../../x", "%2e%2e", "%2e%2e%2fsecret.txt", "/etc",
                          "a%2f..%2f..", "..%5c.."}) {
    RawResponse r = Get(std::string("/api/v1/scalars?run=") + run);
    EXPECT_EQ(r.status, 400) << run << ": " << r.body;
    EXPECT_EQ(r.body.find("top secret"), std::string::npos);
  }
  for (const std::string target :
       {"/api/v1/jobs/../secret.txt", "/api/v1/jobs/%2e%2e/logs/x", "/api/v1/jobs/mnist/logs/..",
        "/api/v1/jobs/mnist/logs/%2e%2e%2f%2e%2e%2fsecret", "/api/v1/jobs/escape/logs/secret",
        "/api/v1/jobs/escape", "/api/v1/jobs/mnist/logs/..%2f..%2f..%2fsecret"}) {
    RawResponse r = Get(target);
    EXPECT_TRUE(r.status == 400 || r.status == 404) << target << ": " << r.status << " " << r.body;
    EXPECT_EQ(r.body.find("top secret"), std::string::npos) << target;
  }
}

TEST_F(WebUiTest, JobsAndPagedLogs) {
  Json jobs = GetJson("/api/v1/jobs");
  ASSERT_EQ(jobs["items"].size(), 1u);  // "escape" holds no status.json: not a job
  Json job = GetJson("/api/v1/jobs/mnist");
  EXPECT_EQ(job["phase"], "Running");
  EXPECT_EQ(job["status"]["local"]["replicas"][0]["restarts"], 1);

  Json first = GetJson("/api/v1/jobs/mnist/logs/worker-0?offset=0&limit=65536");
  EXPECT_EQ(first["totalSize"], 200000);
  // The page stops before the two-byte character instead of cutting it.
  EXPECT_EQ(first["nextOffset"], 65535);
  EXPECT_EQ(first["content"].get<std::string>(), log_.substr(0, 65535));
  Json second = GetJson("/api/v1/jobs/mnist/logs/worker-0?offset=65535&limit=3");
  EXPECT_EQ(second["content"].get<std::string>(), "\xc3\xa9y");
  Json tail = GetJson("/api/v1/jobs/mnist/logs/worker-0?offset=-100");
  EXPECT_EQ(tail["offset"], 199900);
  EXPECT_EQ(tail["nextOffset"], 200000);
  EXPECT_EQ(tail["content"].get<std::string>(), std::string(100, 'y'));
  Json past = GetJson("/api/v1/jobs/mnist/logs/worker-0?offset=300000");
  EXPECT_EQ(past["content"], "");
  // A page is never more than 1 MiB, whatever the client asks.
  Json big = GetJson("/api/v1/jobs/mnist/logs/worker-0?offset=0&limit=100000000");
  EXPECT_EQ(big["nextOffset"], 200000);
  EXPECT_EQ(Get("/api/v1/jobs/mnist/logs/worker-0?offset=x").status, 400);
  EXPECT_EQ(Get("/api/v1/jobs/none").status, 404);
}

TEST_F(WebUiTest, ProxiesTheModelServer) {
  Json models = GetJson("/api/v1/models");
  ASSERT_EQ(models["items"].size(), 2u);
  EXPECT_EQ(models["items"][0]["model_version_status"][0]["state"], "AVAILABLE");
  EXPECT_EQ(models["items"][1]["error"], "no such model");
  RawResponse predict = Send("POST", "/api/v1/models/mnist:predict",
                             "Content-Type: application/json\r\n", R"({"instances": [[1]]})");
  EXPECT_EQ(predict.status, 200) << predict.body;
  EXPECT_EQ(predict.body, R"({"predictions": [{"echo": {"instances": [[1]]}}]})");
  EXPECT_EQ(Get("/api/v1/models/absent").status, 404);
  EXPECT_EQ(Get("/api/v1/models/..").status, 400);
}

TEST_F(WebUiTest, RefusesCrossOriginWrites) {
  const std::string json = "Content-Type: application/json\r\n";
  const std::string body = R"({"instances": [[1]]})";
  // A forged Origin, even with a JSON body.
  RawResponse forged = Send("POST", "/api/v1/models/mnist:predict", json + "Origin: http://evil.example\r\n", body);
  EXPECT_EQ(forged.status, 403) << forged.body;
  EXPECT_NE(forged.body.find("evil.example"), std::string::npos);
  // Same host, other port: another origin.
  EXPECT_EQ(Send("POST", "/api/v1/models/mnist:predict", json + "Origin: http://127.0.0.1:1\r\n", body).status, 403);
  // No Origin: only with a JSON content type (a plain HTML form cannot send one) ...
  EXPECT_EQ(Send("POST", "/api/v1/models/mnist:predict", "Content-Type: text/plain\r\n", body).status, 403);
  EXPECT_EQ(Send("POST", "/api/v1/models/mnist:predict", "", body).status, 403);
  // ... and not when the browser says the request comes from another site.
  EXPECT_EQ(Send("POST", "/api/v1/models/mnist:predict", json + "Sec-Fetch-Site: cross-site\r\n", body).status, 403);
  // A Host that is not this server (DNS rebinding), even for a read.
  RawResponse rebound = Raw(server_->port(), "GET /api/v1/runs HTTP/1.1\r\nHost: evil.example:" +
                                                 std::to_string(server_->port()) + "\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(rebound.status, 403);
  // The page's own origin, and a CLI's JSON request without one, are fine.
  EXPECT_EQ(Send("POST", "/api/v1/models/mnist:predict", json + "Origin: http://" + Host() + "\r\n", body).status, 200);
  EXPECT_EQ(Send("POST", "/api/v1/models/mnist:predict", json + "Sec-Fetch-Site: same-origin\r\n", body).status, 200);
  EXPECT_EQ(Send("POST", "/api/v1/models/mnist:predict", json, body).status, 200);
}

TEST(SafePathTest, ResolvesOnlyInside) {
  testing::ScratchDir dir;
  ASSERT_TRUE(MakeDirs(dir.Join("root/a/b")).ok());
  EXPECT_TRUE(ResolveUnder(dir.Join("root"), "a/b", "run").ok());
  for (const char* bad : {"", "..", "a/..", "a//b", "/a", "a/./b", "a\\..", "./a"}) {
    auto r = ResolveUnder(dir.Join("root"), bad, "run");
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(ResolveUnder(dir.Join("root"), "missing", "run").status().code(), StatusCode::kNotFound);
  ASSERT_EQ(symlink("..", dir.Join("root/up").c_str()), 0);
  EXPECT_EQ(ResolveUnder(dir.Join("root"), "up", "run").status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(IsSafeName(".."));
  EXPECT_FALSE(IsSafeName("a/b"));
  EXPECT_TRUE(IsSafeName("worker-0"));
}

}  // namespace
}  // namespace loom::ui
