// The workflow API of `loom server` over real HTTP, with the real Store and Engine and a small
// in-test PodRunner (every pod prints a line and succeeds): submit (YAML and JSON), list, get
// with nodes, logs (paged and Argo's shape), actions, delete, templates and submitting one, and
// the refusals: cross-origin submit, bad YAML with its line, paths out of the artifact
// repository. DELETE of a running workflow with real pods (LocalPodRunner): it answers at once
// and the pods and the workflow are gone once the pod lets go.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <thread>

#include "core/file.h"
#include "core/json.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "test_util/test_env.h"
#include "ui/web_ui.h"
#include "ui/workflow_api.h"
#ifdef LOOM_HAVE_POD_RUNNER
#include "workflow/pod_runner.h"
#endif

namespace loom::ui {
namespace {

class EchoPods : public workflow::PodRunner {
 public:
  workflow::PodResult Run(const workflow::PodRequest& request, workflow::Store& store) override {
    if (request.tmpl.name == "slow") {
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
  void SetUp() override { StartServer(&pods_); }
  void StartServer(workflow::PodRunner* pods) {
    WorkflowApiOptions options;
    options.db_path = dir_.Join("workflows.db");
    options.home = dir_.path();
    options.artifact_dir = dir_.Join("artifacts");
    options.pods = pods;
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
  // Polls `done` every 50 ms for at most a minute; true once it holds.
  static bool Eventually(const std::function<bool()>& done) {
    for (int i = 0; i < 1200; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return done();
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

constexpr char kTemplate[] = R"yaml(apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: greeter}
spec:
  entrypoint: main
  arguments:
    parameters:
    - {name: who, value: world, description: whom to greet}
    - {name: tone, value: warm, enum: [warm, cool]}
  templates:
  - name: main
    steps:
    - - name: say
        template: say
        arguments: {parameters: [{name: msg, value: "{{workflow.parameters.who}} ({{workflow.parameters.tone}})"}]}
  - name: say
    inputs: {parameters: [{name: msg}]}
    container: {image: alpine, command: [echo, "{{inputs.parameters.msg}}"]}
  - name: other
    container: {image: alpine, command: [echo, other]}
)yaml";

TEST_F(WorkflowApiTest, Templates) {
  auto tmpl = ParseYaml(kTemplate, "template");
  ASSERT_TRUE(tmpl.ok());
  Json created = CallJson("POST", "/api/v1/workflow-templates/default", Json{{"template", *tmpl}}.dump());
  // Stamped as Kubernetes does, and kept when the template is replaced.
  const std::string stamp = created["metadata"].value("creationTimestamp", "");
  EXPECT_EQ(stamp.size(), 20u) << created.dump();
  Json list = CallJson("GET", "/api/v1/workflow-templates/default");
  ASSERT_EQ(list["items"].size(), 1u);
  EXPECT_EQ(list["items"][0]["metadata"]["creationTimestamp"], stamp);
  Json again = CallJson("POST", "/api/v1/workflow-templates/default", Json{{"template", *tmpl}}.dump());
  EXPECT_EQ(again["metadata"]["creationTimestamp"], stamp);
  Json got = CallJson("GET", "/api/v1/workflow-templates/default/greeter");
  EXPECT_EQ(got["metadata"]["name"], "greeter");
  EXPECT_EQ(got["spec"]["arguments"]["parameters"][1]["enum"], Json({"warm", "cool"}));
  // The page's editor sends YAML text: errors name its line; only WorkflowTemplates are kept.
  std::string typo = kTemplate;
  typo.replace(typo.find("template: say"), 13, "template: sya");
  net::HttpResponse r = Call("POST", "/api/v1/workflow-templates/default", Json{{"manifest", typo}}.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("manifest:14:"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("sya"), std::string::npos) << r.body;
  std::string workflow = kTemplate;
  workflow.replace(workflow.find("kind: WorkflowTemplate"), 22, "kind: Workflow");
  r = Call("POST", "/api/v1/workflow-templates/default", Json{{"manifest", workflow}}.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("kind: expected WorkflowTemplate"), std::string::npos) << r.body;
  std::string renamed = kTemplate;
  renamed.replace(renamed.find("name: greeter"), 13, "name: from-text");
  EXPECT_EQ(CallJson("POST", "/api/v1/workflow-templates/default", Json{{"manifest", renamed}}.dump())["metadata"]["name"], "from-text");
  EXPECT_EQ(CallJson("GET", "/api/v1/workflow-templates/default")["items"].size(), 2u);
  EXPECT_EQ(Call("POST", "/api/v1/workflow-templates/default", "{}").status, 400);

  CallJson("DELETE", "/api/v1/workflow-templates/default/greeter");
  EXPECT_EQ(Call("GET", "/api/v1/workflow-templates/default/greeter").status, 404);
  EXPECT_EQ(Call("DELETE", "/api/v1/workflow-templates/default/greeter").status, 404);
}

TEST_F(WorkflowApiTest, SubmitsFromATemplateAsArgoDoes) {
  auto tmpl = ParseYaml(kTemplate, "template");
  ASSERT_TRUE(tmpl.ok());
  CallJson("POST", "/api/v1/workflow-templates/default", Json{{"template", *tmpl}}.dump());
  Json body = {{"namespace", "default"}, {"resourceKind", "WorkflowTemplate"}, {"resourceName", "greeter"},
               {"submitOptions", {{"parameters", {"who=loom"}}, {"labels", "team=ml"}}}};
  Json created = CallJson("POST", "/api/v1/workflows/default/submit", body.dump());
  const std::string name = created["metadata"].value("name", "");
  ASSERT_EQ(name.rfind("greeter-", 0), 0u) << created.dump(2);
  EXPECT_EQ(created["metadata"]["labels"]["workflows.argoproj.io/workflow-template"], "greeter");
  EXPECT_EQ(created["metadata"]["labels"]["team"], "ml");
  EXPECT_EQ(created["spec"]["workflowTemplateRef"]["name"], "greeter");
  Json wf = WaitDone(name);
  ASSERT_EQ(wf["status"]["phase"], "Succeeded") << wf.dump(2);
  // The changed parameter and the default of the one left alone reach the pod's inputs.
  std::string msg;
  for (const auto& [id, node] : wf["status"]["nodes"].items()) {
    if (node.value("displayName", "") == "say") msg = node["inputs"]["parameters"][0].value("value", "");
  }
  EXPECT_EQ(msg, "loom (warm)") << wf["status"]["nodes"].dump(2);

  // entryPoint and name, as `argo submit --from workflowtemplate/greeter --entrypoint other --name x`.
  body["submitOptions"] = {{"entryPoint", "other"}, {"name", "from-other"}};
  EXPECT_EQ(CallJson("POST", "/api/v1/workflows/default/submit", body.dump())["metadata"]["name"], "from-other");
  Json other = WaitDone("from-other");
  EXPECT_EQ(other["status"]["phase"], "Succeeded");
  EXPECT_EQ(other["spec"]["entrypoint"], "other");
  EXPECT_EQ(other["status"]["nodes"]["from-other"]["templateName"], "other") << other["status"]["nodes"].dump(2);

  // Refusals: a kind Argo cannot submit, a template that is not there, an enum value outside
  // the list, parameters that are not name=value.
  Json bad = body;
  bad["resourceKind"] = "Workflow";
  net::HttpResponse r = Call("POST", "/api/v1/workflows/default/submit", bad.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("resourceKind"), std::string::npos) << r.body;
  bad = body;
  bad["resourceName"] = "nope";
  r = Call("POST", "/api/v1/workflows/default/submit", bad.dump());
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("nope"), std::string::npos) << r.body;
  bad = body;
  bad["submitOptions"] = {{"parameters", {"who"}}};
  r = Call("POST", "/api/v1/workflows/default/submit", bad.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("submitOptions.parameters"), std::string::npos) << r.body;
  bad = body;
  bad["submitOptions"] = {{"entryPoint", "nope"}};
  r = Call("POST", "/api/v1/workflows/default/submit", bad.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("nope"), std::string::npos) << r.body;
  EXPECT_EQ(Call("POST", "/api/v1/workflows/default/submit", "[1]").status, 400);
  EXPECT_EQ(CallJson("GET", "/api/v1/workflows/default")["items"].size(), 2u);
}

// A workflow whose run lock another process holds: DELETE answers at once, hides it, tells that
// process to terminate it, and removes it only once the lock is free.
TEST_F(WorkflowApiTest, DeleteWaitsForTheProcessThatRunsIt) {
  Json wf = {{"apiVersion", "argoproj.io/v1alpha1"}, {"kind", "Workflow"},
             {"metadata", {{"name", "held"}, {"namespace", "default"}}},
             {"spec", {{"entrypoint", "main"},
                       {"templates", Json::array({{{"name", "main"}, {"container", {{"image", "alpine"}, {"command", {"echo", "hi"}}}}}})}}},
             {"status", {{"phase", "Running"}}}};
  ASSERT_TRUE(api_->store().CreateWorkflow(wf).ok());
  ASSERT_TRUE(MakeDirs(dir_.Join("run")).ok());
  int fd = ::open(dir_.Join("run/held.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  ASSERT_EQ(::pwrite(fd, "4242\n", 5, 0), 5);

  EXPECT_EQ(CallJson("DELETE", "/api/v1/workflows/default/held"), Json::object());
  EXPECT_EQ(Call("GET", "/api/v1/workflows/default/held").status, 404);
  EXPECT_EQ(Call("DELETE", "/api/v1/workflows/default/held").status, 404);
  EXPECT_EQ(Call("PUT", "/api/v1/workflows/default/held/retry", "{}").status, 404);
  EXPECT_EQ(CallJson("GET", "/api/v1/workflows/default")["items"].size(), 0u);
  // Still stored while the lock is held: the other process was told to terminate it.
  auto stored = api_->store().GetWorkflow("held");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ((*stored)["spec"].value("shutdown", ""), "Terminate");
  EXPECT_EQ(api_->pending_deletions(), 1);

  ::close(fd);  // that process has gone
  EXPECT_TRUE(Eventually([&] { return api_->pending_deletions() == 0; }));
  EXPECT_EQ(api_->store().GetWorkflow("held").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(api_->active_runs(), 0);
}

#ifdef LOOM_HAVE_POD_RUNNER
// The real pod runner: a pod that ignores SIGTERM and ends only when the test lets it.
class RealPodsApiTest : public WorkflowApiTest {
 protected:
  void SetUp() override {
    workflow::PodRunnerOptions options;
    options.home = dir_.path();
    options.isolation = workflow::PodRunnerOptions::Isolation::kNone;
    options.kill_grace_secs = 120;  // no SIGKILL during the test: only the release file ends the pod
    auto pods = workflow::LocalPodRunner::Create(options);
    ASSERT_TRUE(pods.ok()) << pods.status().message();
    real_pods_ = std::move(*pods);
    StartServer(real_pods_.get());
  }
  // A failed check must not leave the stubborn pod to the 120 s grace period.
  void TearDown() override {
    (void)WriteFileAtomic(dir_.Join("release"), "");
    WorkflowApiTest::TearDown();
  }
  std::unique_ptr<workflow::LocalPodRunner> real_pods_;
};

TEST_F(RealPodsApiTest, DeleteOfARunningWorkflowAnswersAtOnceAndEndsItInTheBackground) {
  // `started` holds the pod's pid once it ignores SIGTERM; the pod ends when `release` appears.
  const std::string started = dir_.Join("started"), release = dir_.Join("release");
  const std::string manifest = R"(apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: stubborn-}
spec:
  entrypoint: main
  templates:
  - name: main
    container:
      image: alpine
      command: [sh, -c, "trap '' TERM; echo $$ > )" + started + R"(.tmp; mv )" + started + R"(.tmp )" + started + R"(; while [ ! -e )" + release + R"( ]; do sleep 0.05; done"]
)";
  Json created = CallJson("POST", "/api/v1/workflows/default", Json{{"manifest", manifest}}.dump());
  const std::string name = created["metadata"].value("name", "");
  ASSERT_FALSE(name.empty());
  ASSERT_TRUE(Eventually([&] { return PathExists(started); }));
  auto pid_text = ReadFile(started);
  ASSERT_TRUE(pid_text.ok());
  const pid_t pid = static_cast<pid_t>(std::atoi(pid_text->c_str()));
  ASSERT_GT(pid, 0);
  auto alive = [pid] { return ::kill(pid, 0) == 0; };
  ASSERT_TRUE(alive());

  // Answered while the pod is still there (it cannot end before the release file exists), and
  // the server goes on answering everything else.
  EXPECT_EQ(CallJson("DELETE", "/api/v1/workflows/default/" + name), Json::object());
  EXPECT_TRUE(alive());
  EXPECT_EQ(Call("GET", "/api/v1/workflows/default/" + name).status, 404);
  EXPECT_EQ(CallJson("GET", "/api/v1/workflows/default")["items"].size(), 0u);
  EXPECT_EQ(Call("GET", "/api/v1/info").status, 200);
  EXPECT_EQ(api_->pending_deletions(), 1);
  EXPECT_TRUE(api_->store().GetWorkflow(name).ok());

  ASSERT_TRUE(WriteFileAtomic(release, "").ok());
  EXPECT_TRUE(Eventually([&] { return api_->pending_deletions() == 0; }));
  EXPECT_FALSE(alive()) << "the pod's process " << pid << " is still there";
  EXPECT_EQ(api_->store().GetWorkflow(name).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(PathExists(JoinPath(dir_.Join("pods"), name)));
  EXPECT_EQ(api_->active_runs(), 0);
}
#endif

}  // namespace
}  // namespace loom::ui
