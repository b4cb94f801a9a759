// The http template case (cases/http_*.yaml) against a real HTTP server on 127.0.0.1 started
// here (net::HttpServer, libmicrohttpd): a page, an echo of a POST's method, headers and body,
// a 404 and a page slower than the template's timeout. The Authorization header comes from a
// Secret put in the workflow's home, as `loom secret` does.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "container/config_store.h"
#include "core/file.h"
#include "net/http_server.h"
#include "test_util/test_env.h"
#include "workflow/case_runner.h"

namespace loom::workflow {
namespace {

TEST(WorkflowHttp, TemplatesCallARealServer) {
  auto server = net::HttpServer::Create({}, [](const net::HttpServerRequest& req, net::HttpServerResponse* res) {
    res->content_type = "text/plain";
    if (req.path == "/hello") {
      res->body = "hello";
    } else if (req.path == "/echo") {
      res->status = 201;
      res->body = req.method + " " + req.Header("Authorization") + " " + req.Header("X-Plain") + " " + req.body;
    } else if (req.path == "/slow") {
      std::this_thread::sleep_for(std::chrono::seconds(3));
      res->body = "late";
    } else {
      res->status = 404;
      res->body = "no such page";
    }
  });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  loom::testing::ScratchDir home;
  container::ConfigObject secret;
  secret.name = "api";
  secret.data["token"] = "Bearer s3cret";
  ASSERT_TRUE(container::ConfigStore(JoinPath(home.path(), "objects")).Put(secret, false).ok());
  testing::CaseOptions options;
  options.parameters["server"] = "http://127.0.0.1:" + std::to_string((*server)->port());
  EXPECT_EQ(testing::RunCase(JoinPath(loom::testing::SourceDir(), "tests/workflow/cases"), "http_template",
                             home.path(), options),
            "");
}

}  // namespace
}  // namespace loom::workflow
