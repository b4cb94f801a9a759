// The workflow API of `loom server` over real HTTP, with the real Store and Engine and a small
// in-test PodRunner (every pod prints a line and succeeds): submit (YAML and JSON), list, get
// with nodes, logs (paged and Argo's shape), actions, delete, templates, and the refusals:
// cross-origin submit, bad YAML with its line, paths out of the artifact repository.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "core/file.h"
#include "core/json.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "test_util/test_env.h"
#include "ui/web_ui.h"
#include "ui/workflow_api.h"

namespace loom::ui {
namespace {

class EchoPods : public workflow::PodRunner {
 public:
  workflow::PodResult Run(const workflow::PodRequest& request, workflow::Store& store) override {
    if (request.tmpl.value("name", "") == "slow") {
      // Five lines 200 ms apart, the last one without its newline, as a pod that is followed.
      for (int i = 1; i <= 5; ++i) {
        if (i > 1) std::this_thread::sleep_for(std::chrono::milliseconds(200));
        (void)store.AppendLog(request.workflow, request.node_id, "line " + std::to_string(i) + (i < 5 ? "\n" : ""));
      }
    } else {
      (void)store.AppendLog(request.workflow, request.node_id, "hello from " + request.node_name + "\n");
    }
    return {"Succeeded", "", Json{{"result", "hello"}, {"exitCode", "0"}}};
  }
};

constexpr char kManifest[] = R"(apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: api-
spec:
  entrypoint: main
  arguments: {parameters: [{name: who, value: world}]}
  templates:
  - name: main
    dag:
      tasks:
      - {name: a, template: say}
      - {name: b, template: say, dependencies: [a]}
  - name: say
    container: {image: alpine, command: [echo, "{{workflow.parameters.who}}"]}
)";

class WorkflowApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WorkflowApiOptions options;
    options.db_path = dir_.Join("workflows.db");
    options.home = dir_.path();
    options.artifact_dir = dir_.Join("artifacts");
    options.pods = &pods_;
    ASSERT_TRUE(MakeDirs(options.artifact_dir).ok());
    ASSERT_TRUE(WriteFileAtomic(dir_.Join("secret.txt"), "top secret").ok());
    auto api = WorkflowApi::Create(options);
    ASSERT_TRUE(api.ok()) << api.status().message();
    api_ = std::move(*api);
    WebUiOptions ui_options;
    ui_options.logdir = dir_.Join("runs");
    ui_options.jobs_dir = dir_.Join("jobs");
    ui_options.extra_routes = [this](const net::HttpServerRequest& r, net::HttpServerResponse* w) {
      return api_->Handle(r, w);
    };
    auto ui = WebUi::Create(ui_options);
    ASSERT_TRUE(ui.ok());
    ui_ = std::move(*ui);
    auto server = ServeWebUi(ui_.get(), {});
    ASSERT_TRUE(server.ok());
    server_ = std::move(*server);
    auto client = net::HttpClient::Create({});
    ASSERT_TRUE(client.ok());
    client_ = std::move(*client);
  }
  void TearDown() override {
    server_.reset();
    api_->Shutdown();
  }

  net::HttpResponse Call(const std::string& method, const std::string& path, const std::string& body = "",
                         net::HttpHeaders headers = {{"Content-Type", "application/json"}}) {
    net::HttpRequest r;
    r.method = method;
    r.url = "http://127.0.0.1:" + std::to_string(server_->port()) + path;
    r.body = body;
    r.headers = std::move(headers);
    auto answer = client_->Send(r);
    EXPECT_TRUE(answer.ok()) << answer.status().message();
    return answer.ok() ? *answer : net::HttpResponse{};
  }
  Json CallJson(const std::string& method, const std::string& path, const std::string& body = "") {
    net::HttpResponse r = Call(method, path, body);
    EXPECT_EQ(r.status, 200) << method << " " << path << ": " << r.body;
    auto parsed = ParseJson(r.body, path);
    return parsed.ok() ? *parsed : Json();
  }
  // Polls until the workflow's phase is final (at most a minute), returns it.
  Json WaitDone(const std::string& name) {
    Json wf;
    for (int i = 0; i < 600; ++i) {
      wf = CallJson("GET", "/api/v1/workflows/default/" + name);
      std::string phase = wf["status"].value("phase", "");
      if (phase == "Succeeded" || phase == "Failed" || phase == "Error") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return wf;
  }
  std::string Submit() {
    Json created = CallJson("POST", "/api/v1/workflows/default", Json{{"manifest", kManifest}}.dump());
    return created["metadata"].value("name", "");
  }

  testing::ScratchDir dir_;
  EchoPods pods_;
  std::unique_ptr<WorkflowApi> api_;
  std::unique_ptr<WebUi> ui_;
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<net::HttpClient> client_;
};

TEST_F(WorkflowApiTest, SubmitRunsItAndShowsNodesAndLogs) {
  std::string name = Submit();
  ASSERT_EQ(name.rfind("api-", 0), 0u) << name;
  Json wf = WaitDone(name);
  EXPECT_EQ(wf["status"]["phase"], "Succeeded") << wf.dump(2);
  const Json& nodes = wf["status"]["nodes"];
  std::string b_id;
  for (const auto& [id, node] : nodes.items()) {
    if (node.value("displayName", "") == "b") b_id = id;
  }
  ASSERT_FALSE(b_id.empty()) << nodes.dump(2);
  EXPECT_EQ(nodes[name]["children"].size(), 1u);  // the DAG's root leads to a, a to b

  Json list = CallJson("GET", "/api/v1/workflows/default");
  ASSERT_EQ(list["items"].size(), 1u);
  EXPECT_EQ(list["items"][0]["metadata"]["name"], name);

  Json page = CallJson("GET", "/api/v1/workflows/default/" + name + "/nodes/" + b_id + "/log?offset=0&limit=100");
  EXPECT_EQ(page["content"], "hello from " + name + ".b\n");
  Json tail = CallJson("GET", "/api/v1/workflows/default/" + name + "/nodes/" + b_id + "/log?offset=-6");
  const std::string full = "hello from " + name + ".b\n";
  EXPECT_EQ(tail["content"], full.substr(full.size() - 6));
  EXPECT_EQ(tail["nextOffset"], page["totalSize"]);
  net::HttpResponse argo = Call("GET", "/api/v1/workflows/default/" + name + "/log?podName=" + b_id);
  EXPECT_EQ(argo.status, 200);
  const Json line = {{"result", {{"content", "hello from " + name + ".b"}, {"podName", b_id}}}};
  EXPECT_EQ(argo.body, line.dump() + "\n");
  EXPECT_EQ(Call("GET", "/api/v1/workflows/default/" + name + "/nodes/nope/log").status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/workflows/default/" + name + "/nodes/..%2F..%2Fsecret.txt/log").status, 404);
}

TEST_F(WorkflowApiTest, FollowsALogAsItGrows) {
  constexpr char kSlow[] = R"(apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: slow-}
spec:
  entrypoint: slow
  templates:
  - name: slow
    container: {image: alpine, command: [sh, -c, "for i in 1 2 3 4 5; do echo line $i; sleep 0.2; done"]}
)";
  Json created = CallJson("POST", "/api/v1/workflows/default", Json{{"manifest", kSlow}}.dump());
  const std::string name = created["metadata"].value("name", "");
  ASSERT_FALSE(name.empty());
  // Argo's follow: the answer streams while the pod runs and ends when the workflow does.
  net::HttpRequest follow;
  follow.url = "http://127.0.0.1:" + std::to_string(server_->port()) + "/api/v1/workflows/default/" + name +
               "/log?logOptions.follow=true";
  std::string body, phase_at_first_chunk;
  follow.on_body = [&](std::string_view data) {
    if (body.empty()) {
      auto wf = api_->store().GetWorkflow(name);
      phase_at_first_chunk = wf.ok() ? (*wf)["status"].value("phase", "") : "?";
    }
    body.append(data);
    return true;
  };
  auto answer = client_->Send(follow);
  ASSERT_TRUE(answer.ok()) << answer.status().message();
  EXPECT_EQ(answer->status, 200);
  EXPECT_NE(phase_at_first_chunk, "Succeeded") << "the first lines came only after the pod ended";
  auto wf = api_->store().GetWorkflow(name);
  ASSERT_TRUE(wf.ok());
  EXPECT_EQ((*wf)["status"]["phase"], "Succeeded");
  std::string expected;
  for (int i = 1; i <= 5; ++i)
    expected += Json{{"result", {{"content", "line " + std::to_string(i)}, {"podName", name}}}}.dump() + "\n";
  EXPECT_EQ(body, expected);
  // Without follow: what is stored, at once.
  EXPECT_EQ(Call("GET", "/api/v1/workflows/default/" + name + "/log").body, expected);
  EXPECT_EQ(Call("GET", "/api/v1/workflows/default/" + name + "/log?podName=nope").status, 404);
}

TEST_F(WorkflowApiTest, ActionsAndDelete) {
  std::string name = Submit();
  WaitDone(name);
  Json again = CallJson("PUT", "/api/v1/workflows/default/" + name + "/resubmit", "{}");
  std::string second = again["metadata"].value("name", "");
  ASSERT_FALSE(second.empty());
  EXPECT_NE(second, name);
  EXPECT_EQ(WaitDone(second)["status"]["phase"], "Succeeded");
  EXPECT_EQ(Call("PUT", "/api/v1/workflows/default/" + name + "/explode", "{}").status, 404);
  EXPECT_EQ(CallJson("DELETE", "/api/v1/workflows/default/" + name), Json::object());
  EXPECT_EQ(Call("GET", "/api/v1/workflows/default/" + name).status, 404);
  EXPECT_EQ(CallJson("GET", "/api/v1/workflows/default")["items"].size(), 1u);
}

TEST_F(WorkflowApiTest, SubmitsArgosJsonShapeWithParameters) {
  auto manifest = ParseYaml(kManifest, "manifest");
  ASSERT_TRUE(manifest.ok());
  Json body = {{"workflow", *manifest}, {"submitOptions", {{"parameters", {"who=loom"}}, {"name", "named"}}}};
  Json created = CallJson("POST", "/api/v1/workflows/default", body.dump());
  EXPECT_EQ(created["metadata"]["name"], "named");
  Json wf = WaitDone("named");
  EXPECT_EQ(wf["status"]["phase"], "Succeeded");
  EXPECT_EQ(wf["spec"]["arguments"]["parameters"][0]["value"], "loom");
}

TEST_F(WorkflowApiTest, RefusesBadInputAndCrossOriginSubmits) {
  net::HttpResponse bad = Call("POST", "/api/v1/workflows/default",
                               Json{{"manifest", "spec:\n  entrypoint: [unclosed\n"}}.dump());
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("manifest"), std::string::npos) << bad.body;
  EXPECT_EQ(Call("POST", "/api/v1/workflows/default", "{}").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/workflows/default", "not json").status, 400);
  net::HttpResponse forged = Call("POST", "/api/v1/workflows/default", Json{{"manifest", kManifest}}.dump(),
                                  {{"Content-Type", "application/json"}, {"Origin", "http://evil.example"}});
  EXPECT_EQ(forged.status, 403);
  net::HttpResponse form = Call("POST", "/api/v1/workflows/default", Json{{"manifest", kManifest}}.dump(),
                                {{"Content-Type", "text/plain"}});
  EXPECT_EQ(form.status, 403);
  net::HttpResponse del = Call("DELETE", "/api/v1/workflows/default/x", "", {{"Origin", "http://evil.example"}});
  EXPECT_EQ(del.status, 403);
  EXPECT_EQ(CallJson("GET", "/api/v1/workflows/default")["items"].size(), 0u);
}

TEST_F(WorkflowApiTest, ArtifactsStayInTheRepository) {
  ASSERT_TRUE(MakeDirs(dir_.Join("artifacts/wf")).ok());
  ASSERT_TRUE(WriteFileAtomic(dir_.Join("artifacts/wf/model.tgz"), "model bytes").ok());
  Json node = {{"id", "wf-1"}, {"name", "wf.a"}, {"displayName", "a"}, {"type", "Pod"}, {"phase", "Succeeded"},
               {"outputs", {{"artifacts", Json::array({
                   {{"name", "model"}, {"s3", {{"key", "wf/model.tgz"}}}},
                   {{"name", "escape"}, {"s3", {{"key", "../secret.txt"}}}},
                   {{"name", "absolute"}, {"s3", {{"key", dir_.Join("secret.txt")}}}}})}}}};
  Json wf = {{"apiVersion", "argoproj.io/v1alpha1"}, {"kind", "Workflow"},
             {"metadata", {{"name", "wf"}, {"namespace", "default"}}},
             {"spec", {{"entrypoint", "main"}}},
             {"status", {{"phase", "Succeeded"}, {"nodes", {{"wf-1", node}}}}}};
  ASSERT_TRUE(api_->store().CreateWorkflow(wf).ok());
  net::HttpResponse ok = Call("GET", "/artifacts/default/wf/wf-1/model");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "model bytes");
  for (const char* path : {"/artifacts/default/wf/wf-1/escape", "/artifacts/default/wf/wf-1/absolute",
                           "/artifacts/default/wf/wf-1/..%2F..%2Fsecret.txt", "/artifacts/default/wf/..%2Fwf-1/model"}) {
    net::HttpResponse r = Call("GET", path);
    EXPECT_TRUE(r.status == 400 || r.status == 404) << path << ": " << r.status;
    EXPECT_EQ(r.body.find("top secret"), std::string::npos) << path;
  }
}

TEST_F(WorkflowApiTest, Templates) {
  Json tmpl = {{"apiVersion", "argoproj.io/v1alpha1"}, {"kind", "WorkflowTemplate"},
               {"metadata", {{"name", "greeter"}}},
               {"spec", {{"entrypoint", "say"},
                         {"templates", Json::array({{{"name", "say"}, {"container", {{"image", "alpine"}, {"command", {"echo", "hi"}}}}}})}}}};
  CallJson("POST", "/api/v1/workflow-templates/default", Json{{"template", tmpl}}.dump());
  Json list = CallJson("GET", "/api/v1/workflow-templates/default");
  ASSERT_EQ(list["items"].size(), 1u);
  EXPECT_EQ(CallJson("GET", "/api/v1/workflow-templates/default/greeter")["metadata"]["name"], "greeter");
  CallJson("DELETE", "/api/v1/workflow-templates/default/greeter");
  EXPECT_EQ(Call("GET", "/api/v1/workflow-templates/default/greeter").status, 404);
}

}  // namespace
}  // namespace loom::ui
