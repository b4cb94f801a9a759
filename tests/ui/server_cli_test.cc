// `loom server` as a process: it binds 127.0.0.1 by default and says where in
// LoomHome()/server.json, resumes on start the workflows left Pending in the store (here one
// submitted by another process that never ran it), answers the CLI's JSON submit, and on SIGTERM
// removes server.json and exits 0. A bad flag is one line.
#include <signal.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "core/file.h"
#include "core/json.h"
#include "net/auth_token.h"
#include "net/http_client.h"
#include "test_util/subprocess.h"
#include "test_util/test_env.h"
#include "workflow/engine.h"
#include "workflow/store.h"

namespace loom::ui {
namespace {

using testing::LoomBinary;
using testing::Process;
using testing::ScratchDir;

constexpr char kWorkflow[] = R"({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
  "metadata": {"generateName": "resumed-"},
  "spec": {"entrypoint": "main", "templates": [{"name": "main",
    "container": {"image": "alpine", "command": ["sh", "-c", "echo resumed by the server"]}}]}})";

// A PodRunner that must not be called: the workflow is only stored here, the server runs it.
class NoPods : public workflow::PodRunner {
 public:
  workflow::PodResult Run(const workflow::PodRequest&, workflow::Store&) override {
    ADD_FAILURE() << "the test process ran a pod";
    return {"Error", "not here", Json::object()};
  }
};

std::string WaitForPhase(workflow::Store& store, const std::string& name) {
  std::string phase;
  for (int i = 0; i < 600; ++i) {
    auto wf = store.GetWorkflow(name);
    if (wf.ok()) phase = (*wf)["status"].value("phase", "");
    if (workflow::IsCompletedPhase(phase)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return phase;
}

TEST(ServerCliTest, BindsLoopbackResumesPendingAndCleansUp) {
  ScratchDir home;
  const std::vector<std::string> env = {"LOOM_HOME=" + home.path()};
  // Another process stored a workflow and went away before running it.
  auto store = workflow::Store::Open(home.Join("workflows.db"));
  ASSERT_TRUE(store.ok()) << store.status().message();
  NoPods pods;
  workflow::EngineOptions options;
  options.store = store->get();
  options.pods = &pods;
  options.home = home.path();
  auto engine = workflow::Engine::Create(options);
  ASSERT_TRUE(engine.ok());
  auto manifest = ParseJson(kWorkflow, "workflow");
  ASSERT_TRUE(manifest.ok());
  auto pending = (*engine)->Submit(*manifest, {});
  ASSERT_TRUE(pending.ok()) << pending.status().message();

  Process server({LoomBinary(), "server", "--port", "0"}, home.path(), env);
  const std::string server_json = home.Join("server.json");
  for (int i = 0; i < 300 && !PathExists(server_json); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto text = ReadFile(server_json);
  ASSERT_TRUE(text.ok()) << "no server.json; output: " << server.OutSoFar();
  auto info = ParseJson(*text, "server.json");
  ASSERT_TRUE(info.ok());
  const std::string address = (*info)["address"];
  EXPECT_EQ(address.rfind("127.0.0.1:", 0), 0u) << address;
  EXPECT_EQ((*info)["pid"], server.pid());

  EXPECT_EQ(WaitForPhase(**store, *pending), "Succeeded");
  auto wf = (*store)->GetWorkflow(*pending);
  ASSERT_TRUE(wf.ok());
  std::string pod_id;
  for (const auto& [id, node] : (*wf)["status"]["nodes"].items())
    if (node.value("type", "") == "Pod") pod_id = id;
  auto log = (*store)->ReadLog(*pending, pod_id, 0, -1, nullptr);
  ASSERT_TRUE(log.ok());
  EXPECT_NE(log->find("resumed by the server"), std::string::npos) << *log;

  // The CLI's request: JSON without an Origin.
  auto client = net::HttpClient::Create({});
  ASSERT_TRUE(client.ok());
  net::HttpRequest submit;
  submit.method = "POST";
  submit.url = "http://" + address + "/api/v1/workflows/default";
  auto token = net::ReadToken(net::TokenPath(home.path()));
  ASSERT_TRUE(token.ok()) << token.status().message();
  submit.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + *token}};
  submit.body = Json{{"workflow", *manifest}}.dump();
  auto created = (*client)->Send(submit);
  ASSERT_TRUE(created.ok());
  ASSERT_EQ(created->status, 200) << created->body;
  auto created_json = ParseJson(created->body, "answer");
  ASSERT_TRUE(created_json.ok());
  EXPECT_EQ(WaitForPhase(**store, (*created_json)["metadata"]["name"]), "Succeeded");
  // The CLI finds the server and its token by itself: nothing to log in to.
  const std::string file = home.Join("hello.yaml");
  ASSERT_TRUE(WriteFileAtomic(file, kWorkflow).ok());
  auto cli = testing::Run({LoomBinary(), "wf", "submit", file, "-o", "name"}, home.path(), env);
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_EQ(WaitForPhase(**store, cli.out.substr(0, cli.out.find('\n'))), "Succeeded");

  server.Signal(SIGTERM);
  auto result = server.Wait();
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_FALSE(PathExists(server_json));
}

// --auth-mode server: no token, said on stderr at start; the CLI's submit needs none then.
TEST(ServerCliTest, AuthModeServerSaysSoAndWantsNoToken) {
  ScratchDir home;
  Process server({LoomBinary(), "server", "--port", "0", "--auth-mode", "server"}, home.path(),
                 {"LOOM_HOME=" + home.path()});
  const std::string server_json = home.Join("server.json");
  for (int i = 0; i < 300 && !PathExists(server_json); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto info = ParseJson(*ReadFile(server_json), "server.json");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ((*info)["authMode"], "server");
  EXPECT_FALSE(PathExists(net::TokenPath(home.path())));
  auto client = net::HttpClient::Create({});
  net::HttpRequest get;
  get.url = (*info)["url"].get<std::string>() + "/api/v1/info";
  auto answer = (*client)->Send(get);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->status, 200);
  const std::string file = home.Join("hello.yaml");
  ASSERT_TRUE(WriteFileAtomic(file, kWorkflow).ok());
  auto submitted = testing::Run({LoomBinary(), "wf", "submit", file, "-o", "name"}, home.path(), {"LOOM_HOME=" + home.path()});
  EXPECT_EQ(submitted.exit_code, 0) << submitted.err;
  server.Signal(SIGTERM);
  auto result = server.Wait();
  EXPECT_NE(result.err.find("WARNING: --auth-mode server: no authentication"), std::string::npos) << result.err;
}

TEST(ServerCliTest, BadFlagsAreOneLine) {
  ScratchDir home;
  auto r = testing::Run({LoomBinary(), "server", "--port", "70000"}, home.path(), {"LOOM_HOME=" + home.path()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("127.0.0.1:70000: port must be in [0, 65535]"), std::string::npos) << r.err;
  r = testing::Run({LoomBinary(), "server", "--address", "example.com"}, home.path(), {"LOOM_HOME=" + home.path()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("is not an IPv4 or IPv6 address"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

}  // namespace
}  // namespace loom::ui
