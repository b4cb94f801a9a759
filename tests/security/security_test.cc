// tests/security: one case per attack on `loom server` and on what reads a user's manifests,
// each tried as an attacker would, against the real binary over real HTTP(S):
//   no token, a wrong token, a token of another server; a non-loopback address without TLS;
//   cross-origin and DNS-rebinding requests on a non-loopback address; a workflow read or
//   changed through another namespace; the YAML anchor bomb through the CLI and the API; an
//   oversized body; slow clients holding connections; `..`, absolute paths and symlinks in
//   artifact names and tar members; a JSON-patch resource manifest (an exception on user input);
//   a name taken in one namespace to keep another's out; another namespace's WorkflowTemplate;
//   a log-out by GET (CSRF); a pod reading the server's token, the state store or another
//   pod's /tmp (through a hostPath of / too); a pod reading the engine's secret environment,
//   another pod's /tmp, and running as root against runAsNonRoot, and a TFJob replica reading
//   the controller's secret environment, each with both pod runtimes (process, and container
//   from loom:latest); a process pod run by an engine without
//   CAP_SYS_ADMIN (no mount namespace) reading the engine's state.
// The attack each tries would succeed on a server without the defence: the comment of each case
// says what it did before.
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include "core/file.h"
#include "core/json.h"
#include "net/auth_token.h"
#include "net/http_client.h"
#include "test_util/loopback.h"
#include "test_util/subprocess.h"
#include "test_util/test_env.h"
#include "workflow/artifacts.h"

namespace loom {
namespace {

using testing::LoomBinary;
using testing::Process;
using testing::ProcessResult;
using testing::ScratchDir;

// A workflow whose pod leaves a file behind: what an attacker would run (the original finding
// ran `id > file` as root).
std::string MarkerWorkflow(const std::string& marker, const std::string& ns = "") {
  Json wf = {{"apiVersion", "argoproj.io/v1alpha1"},
             {"kind", "Workflow"},
             {"metadata", {{"generateName", "attack-"}}},
             {"spec", {{"entrypoint", "main"},
                       {"templates", Json::array({{{"name", "main"},
                                                   {"container", {{"image", "alpine"},
                                                                  {"command", {"sh", "-c", "echo ran > " + marker}}}}}})}}}};
  if (!ns.empty()) wf["metadata"]["namespace"] = ns;
  return Json{{"workflow", wf}}.dump();
}

// 1 KB of YAML that expands to 9^9 (387 million) strings: "billion laughs".
std::string AnchorBomb() {
  std::string text = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  const std::string names = "abcdefghi";
  for (size_t i = 1; i < names.size(); ++i) {
    const std::string p = "*" + names.substr(i - 1, 1);
    text += names.substr(i, 1) + ": &" + names.substr(i, 1) + " [" + p;
    for (int k = 0; k < 8; ++k) text += "," + p;
    text += "]\n";
  }
  return text;
}

class Server {
 public:
  // Starts `loom server --port 0 <args>` on `home` and waits for its server.json.
  Server(const std::string& home, const std::vector<std::string>& args) : home_(home) {
    std::vector<std::string> argv = {LoomBinary(), "server", "--port", "0"};
    argv.insert(argv.end(), args.begin(), args.end());
    process_ = std::make_unique<Process>(argv, home, std::vector<std::string>{"LOOM_HOME=" + home});
    const std::string server_json = JoinPath(home, "server.json");
    for (int i = 0; i < 600 && !PathExists(server_json); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto text = ReadFile(server_json);
    EXPECT_TRUE(text.ok()) << "no server.json; output: " << process_->OutSoFar();
    if (!text.ok()) return;
    auto info = ParseJson(*text, "server.json");
    EXPECT_TRUE(info.ok());
    url_ = (*info)["url"].get<std::string>();
    port_ = std::stoi(url_.substr(url_.rfind(':') + 1));
    ca_file_ = info->value("cert", "");
    if (auto token = net::ReadToken(net::TokenPath(home)); token.ok()) token_ = *token;
  }
  ~Server() {
    process_->Signal(SIGTERM);
    process_->Wait();
  }

  const std::string& url() const { return url_; }
  const std::string& token() const { return token_; }
  int port() const { return port_; }

  // One request; `token` "" sends none.
  net::HttpResponse Call(const std::string& method, const std::string& path, const std::string& body,
                         const std::string& token, net::HttpHeaders headers = {}) const {
    net::HttpClientOptions options;
    options.ca_file = ca_file_;
    auto client = net::HttpClient::Create(options);
    EXPECT_TRUE(client.ok());
    net::HttpRequest request;
    request.method = method;
    request.url = url_ + path;
    request.body = body;
    request.headers = std::move(headers);
    if (method != "GET") request.headers.push_back({"Content-Type", "application/json"});
    if (!token.empty()) request.headers.push_back({"Authorization", "Bearer " + token});
    auto response = (*client)->Send(request);
    EXPECT_TRUE(response.ok()) << method << " " << path << ": " << response.status().message();
    return response.ok() ? *response : net::HttpResponse{};
  }
  // The workflows the server holds, asked with its own token.
  size_t WorkflowCount(const std::string& ns = "") const {
    net::HttpResponse list = Call("GET", "/api/v1/workflows/" + ns, "", token_);
    auto body = ParseJson(list.body, "list");
    EXPECT_TRUE(body.ok()) << list.body;
    return body.ok() ? (*body)["items"].size() : 0;
  }

 private:
  std::string home_, url_, ca_file_, token_;
  int port_ = 0;
  std::unique_ptr<Process> process_;
};

// A self-signed certificate for 127.0.0.1 and localhost (openssl: not our code).
void MakeCertificate(const ScratchDir& dir) {
  ProcessResult r = testing::Run(
      {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
       "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout",
       dir.Join("key.pem"), "-out", dir.Join("cert.pem")},
      dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

// Before: any local process (pods included: they share the host network) submitted workflows.
TEST(SecurityTest, NoTokenIsRefusedEverywhere) {
  ScratchDir home;
  Server server(home.path(), {});
  ASSERT_EQ(server.token().size(), 64u);
  const std::string marker = home.Join("pwned");
  net::HttpResponse submit = server.Call("POST", "/api/v1/workflows/default", MarkerWorkflow(marker), "");
  EXPECT_EQ(submit.status, 401) << submit.body;
  EXPECT_NE(submit.Header("www-authenticate").find("Bearer"), std::string::npos);
  for (const char* path : {"/api/v1/workflows/default", "/api/v1/workflows/", "/api/v1/info", "/api/v1/jobs",
                           "/api/v1/workflows/default/any/log?logOptions.follow=true",
                           "/api/v1/workflow-templates/default", "/artifacts/default/wf/node/art"}) {
    EXPECT_EQ(server.Call("GET", path, "", "").status, 401) << path;
  }
  // Pages: to the login page; only it, its style sheet and the icon are public.
  net::HttpResponse page = server.Call("GET", "/", "", "");
  EXPECT_EQ(page.status, 303);
  EXPECT_EQ(page.Header("location"), "/login");
  EXPECT_EQ(server.Call("GET", "/app.js", "", "").status, 303);
  EXPECT_EQ(server.Call("GET", "/login", "", "").status, 200);
  // The token file is the owner's only.
  struct stat st {};
  ASSERT_EQ(stat(net::TokenPath(home.path()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(server.WorkflowCount(), 0u);
  EXPECT_FALSE(PathExists(marker));
}

TEST(SecurityTest, WrongTokenIsRefused) {
  ScratchDir home;
  Server server(home.path(), {});
  std::string wrong = server.token();
  wrong[10] = wrong[10] == 'a' ? 'b' : 'a';
  const std::string marker = home.Join("pwned");
  for (const std::string& token : {wrong, server.token().substr(0, 63), server.token() + "0", std::string("x")}) {
    EXPECT_EQ(server.Call("POST", "/api/v1/workflows/default", MarkerWorkflow(marker), token).status, 401) << token;
  }
  // The same through the cookie, the login form and the token URL.
  const std::string cookie = "loom-token-" + std::to_string(server.port()) + "=" + wrong;
  EXPECT_EQ(server.Call("POST", "/api/v1/workflows/default", MarkerWorkflow(marker), "", {{"Cookie", cookie}}).status, 401);
  net::HttpResponse login = server.Call("POST", "/login", "token=" + wrong, "",
                                        {{"Origin", server.url()}, {"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(login.status, 401);
  EXPECT_EQ(login.Header("set-cookie"), "");
  EXPECT_EQ(server.Call("GET", "/?token=" + wrong, "", "").status, 401);
  EXPECT_EQ(server.WorkflowCount(), 0u);
  // The right one, each way.
  EXPECT_EQ(server.Call("GET", "/api/v1/info", "", server.token()).status, 200);
  net::HttpResponse url_login = server.Call("GET", "/?token=" + server.token(), "", "");
  EXPECT_EQ(url_login.status, 303);
  EXPECT_EQ(url_login.Header("location"), "/");
  EXPECT_NE(url_login.Header("set-cookie").find("HttpOnly; SameSite=Strict"), std::string::npos);
  const std::string good_cookie = "loom-token-" + std::to_string(server.port()) + "=" + server.token();
  EXPECT_EQ(server.Call("GET", "/", "", "", {{"Cookie", good_cookie}}).status, 200);
}

// Two servers on one machine, each with its own LOOM_HOME: one's token does not open the other.
TEST(SecurityTest, TokenOfAnotherServerIsRefused) {
  ScratchDir home_a, home_b;
  Server a(home_a.path(), {});
  Server b(home_b.path(), {});
  ASSERT_NE(a.token(), b.token());
  EXPECT_EQ(b.Call("POST", "/api/v1/workflows/default", MarkerWorkflow(home_b.Join("pwned")), a.token()).status, 401);
  EXPECT_EQ(b.Call("GET", "/api/v1/workflows/default", "", a.token()).status, 401);
  EXPECT_EQ(b.WorkflowCount(), 0u);
  // A restarted server keeps its token: the CLI's copy and the browser's cookie stay good.
  ScratchDir home_c;
  std::string first;
  {
    Server c(home_c.path(), {});
    first = c.token();
  }
  Server c(home_c.path(), {});
  EXPECT_EQ(c.token(), first);
  EXPECT_EQ(c.Call("GET", "/api/v1/info", "", first).status, 200);
}

// Before: --address 0.0.0.0 served plain HTTP with nothing to check; --auth-mode server anywhere.
TEST(SecurityTest, NonLoopbackAddressNeedsTokenAndTls) {
  ScratchDir home;
  const std::vector<std::string> env = {"LOOM_HOME=" + home.path()};
  ProcessResult plain = testing::Run({LoomBinary(), "server", "--port", "0", "--address", "0.0.0.0"}, home.path(), env);
  EXPECT_EQ(plain.exit_code, 1);
  EXPECT_NE(plain.err.find("needs --secure --cert --key"), std::string::npos) << plain.err;
  MakeCertificate(home);
  ProcessResult open = testing::Run({LoomBinary(), "server", "--port", "0", "--address", "0.0.0.0", "--auth-mode",
                                     "server", "--secure", "--cert", home.Join("cert.pem"), "--key", home.Join("key.pem")},
                                    home.path(), env);
  EXPECT_EQ(open.exit_code, 1);
  EXPECT_NE(open.err.find("loopback address only"), std::string::npos) << open.err;
  ProcessResult mode = testing::Run({LoomBinary(), "server", "--auth-mode", "none"}, home.path(), env);
  EXPECT_EQ(mode.exit_code, 1);
  EXPECT_NE(mode.err.find("--auth-mode: \"none\""), std::string::npos) << mode.err;
}

// Before: bound to 0.0.0.0 the Host check was skipped and an Origin equal to http://<Host>
// passed, so a DNS-rebinding page (its own name now resolving to this machine) or anyone on the
// network could submit.
TEST(SecurityTest, CrossOriginAndRebindingOnANonLoopbackAddress) {
  ScratchDir home;
  MakeCertificate(home);
  Server server(home.path(), {"--address", "0.0.0.0", "--secure", "--cert", home.Join("cert.pem"), "--key",
                              home.Join("key.pem")});
  ASSERT_EQ(server.url().rfind("https://127.0.0.1:", 0), 0u) << server.url();
  const std::string port = std::to_string(server.port());
  const std::string marker = home.Join("pwned");
  // The rebinding page: its own origin, Host and all; it has no token (the cookie is not its).
  net::HttpResponse rebound = server.Call("POST", "/api/v1/workflows/default", MarkerWorkflow(marker), "",
                                          {{"Host", "attacker.example:" + port},
                                           {"Origin", "https://attacker.example:" + port}});
  EXPECT_EQ(rebound.status, 401) << rebound.body;
  // A page of another origin, even where the browser would send the cookie.
  const std::string cookie = "loom-token-" + port + "=" + server.token();
  net::HttpResponse cross = server.Call("POST", "/api/v1/workflows/default", MarkerWorkflow(marker), "",
                                        {{"Origin", "https://evil.example"}, {"Cookie", cookie}});
  EXPECT_EQ(cross.status, 403) << cross.body;
  // No cleartext on the TLS port: the token never crosses the network in clear.
  auto client = net::HttpClient::Create({});
  net::HttpRequest clear;
  clear.url = "http://127.0.0.1:" + port + "/api/v1/info";
  clear.headers = {{"Authorization", "Bearer " + server.token()}};
  auto answer = (*client)->Send(clear);
  EXPECT_TRUE(!answer.ok() || answer->status != 200);
  EXPECT_EQ(server.WorkflowCount(), 0u);
  EXPECT_FALSE(PathExists(marker));
  // The owner, with the token, over TLS.
  EXPECT_EQ(server.Call("GET", "/api/v1/info", "", server.token()).status, 200);
}

// Before: /api/v1/workflows/{ns} checked {ns} and ignored it: every namespace saw every workflow.
TEST(SecurityTest, WorkflowOfAnotherNamespaceIsNotReachable) {
  ScratchDir home;
  Server server(home.path(), {});
  net::HttpResponse created =
      server.Call("POST", "/api/v1/workflows/team-a", MarkerWorkflow(home.Join("a-ran")), server.token());
  ASSERT_EQ(created.status, 200) << created.body;
  const std::string name = (*ParseJson(created.body, "created"))["metadata"]["name"].get<std::string>();
  EXPECT_EQ(server.WorkflowCount("team-a"), 1u);
  EXPECT_EQ(server.WorkflowCount("team-b"), 0u);
  EXPECT_EQ(server.WorkflowCount(""), 1u);  // every namespace: argo list -A
  for (const std::string& path : {"/api/v1/workflows/team-b/" + name, "/api/v1/workflows/team-b/" + name + "/log",
                                  "/api/v1/workflows/team-b/" + name + "/nodes/" + name + "/log"}) {
    net::HttpResponse r = server.Call("GET", path, "", server.token());
    EXPECT_EQ(r.status, 404) << path << ": " << r.body;
  }
  EXPECT_EQ(server.Call("PUT", "/api/v1/workflows/team-b/" + name + "/stop", "{}", server.token()).status, 404);
  EXPECT_EQ(server.Call("DELETE", "/api/v1/workflows/team-b/" + name, "", server.token()).status, 404);
  EXPECT_EQ(server.Call("GET", "/api/v1/workflows/team-a/" + name, "", server.token()).status, 200);
  // A manifest naming one namespace cannot be slipped into another.
  net::HttpResponse smuggled = server.Call(
      "POST", "/api/v1/workflows/team-b", MarkerWorkflow(home.Join("b-ran"), "team-a"), server.token());
  EXPECT_EQ(smuggled.status, 400);
  EXPECT_NE(smuggled.body.find("does not match the namespace of the request"), std::string::npos) << smuggled.body;
}

// A Workflow (or, with kind, a WorkflowTemplate) named `name` in `ns` whose pod writes `marker`.
Json NamedMarker(const std::string& kind, const std::string& name, const std::string& ns, const std::string& marker) {
  Json body = Json::parse(MarkerWorkflow(marker, ns))["workflow"];
  body["kind"] = kind;
  body["metadata"].erase("generateName");
  body["metadata"]["name"] = name;
  return body;
}

// Names are unique per namespace (Argo's rule). Before, they were unique across namespaces: a
// user of one namespace could take a name first and so keep another's workflow from being
// created (its submit was refused as existing), and, sharing the run lock and pods folder of
// that name, stop its engine from running.
TEST(SecurityTest, ANameTakenInOneNamespaceIsFreeInAnother) {
  ScratchDir home;
  {
    Server server(home.path(), {});
    for (const std::string ns : {"team-a", "team-b"}) {
      net::HttpResponse r = server.Call("POST", "/api/v1/workflows/" + ns,
                                        Json{{"workflow", NamedMarker("Workflow", "shared", ns, home.Join(ns))}}.dump(),
                                        server.token());
      ASSERT_EQ(r.status, 200) << ns << ": " << r.body;
    }
    for (const std::string ns : {"team-a", "team-b"}) {
      for (int i = 0; i < 300 && !PathExists(home.Join(ns)); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      EXPECT_TRUE(PathExists(home.Join(ns))) << ns << "'s pod did not run";
      net::HttpResponse got = server.Call("GET", "/api/v1/workflows/" + ns + "/shared", "", server.token());
      ASSERT_EQ(got.status, 200) << got.body;
      EXPECT_EQ((*ParseJson(got.body, "get"))["metadata"]["namespace"], ns);
    }
    EXPECT_EQ(server.Call("DELETE", "/api/v1/workflows/team-b/shared", "", server.token()).status, 200);
    for (int i = 0; i < 300 && server.WorkflowCount("team-b") > 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(server.WorkflowCount("team-b"), 0u);
    EXPECT_EQ(server.Call("GET", "/api/v1/workflows/team-a/shared", "", server.token()).status, 200);
  }
  // The CLI, with argo's -n, on the same store without a server.
  const std::string file = home.Join("shared.yaml");
  ASSERT_TRUE(WriteFileAtomic(file, NamedMarker("Workflow", "shared", "", home.Join("cli")).dump()).ok());
  const std::vector<std::string> env = {"LOOM_HOME=" + home.path()};
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"wf", "submit", "--wait", file}, {"wf", "submit", "-n", "team-b", "--wait", file}}) {
    std::vector<std::string> argv = {LoomBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessResult r = testing::Run(argv, home.path(), env);
    EXPECT_EQ(r.exit_code, 0) << args[2] << ": " << r.out << r.err;
  }
  for (const std::string ns : {"default", "team-a", "team-b"}) {
    ProcessResult r = testing::Run({LoomBinary(), "wf", "get", "-n", ns, "shared", "-o", "json"}, home.path(), env);
    ASSERT_EQ(r.exit_code, 0) << ns << ": " << r.err;
    EXPECT_EQ((*ParseJson(r.out, "get"))["metadata"]["namespace"], ns);
  }
  ProcessResult wrong;
  ASSERT_TRUE(WriteFileAtomic(home.Join("in-a.yaml"), NamedMarker("Workflow", "x", "team-a", home.Join("x")).dump()).ok());
  wrong = testing::Run({LoomBinary(), "wf", "submit", "-n", "team-c", home.Join("in-a.yaml")}, home.path(), env);
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("metadata.namespace: \"team-a\" does not match -n team-c"), std::string::npos) << wrong.err;
}

// Before: a workflowTemplateRef found the template of that name whatever its namespace, so a
// workflow in one namespace ran another namespace's template (with its secrets and volumes).
TEST(SecurityTest, WorkflowTemplateOfAnotherNamespaceIsNotRun) {
  ScratchDir home;
  Server server(home.path(), {});
  net::HttpResponse put = server.Call(
      "POST", "/api/v1/workflow-templates/team-a",
      Json{{"template", NamedMarker("WorkflowTemplate", "private", "team-a", home.Join("a-template-ran"))}}.dump(),
      server.token());
  ASSERT_EQ(put.status, 200) << put.body;
  Json borrow = {{"apiVersion", "argoproj.io/v1alpha1"}, {"kind", "Workflow"},
                 {"metadata", {{"generateName", "borrow-"}}},
                 {"spec", {{"workflowTemplateRef", {{"name", "private"}}}}}};
  net::HttpResponse r = server.Call("POST", "/api/v1/workflows/team-b", Json{{"workflow", borrow}}.dump(), server.token());
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("no WorkflowTemplate named \\\"private\\\""), std::string::npos) << r.body;
  r = server.Call("POST", "/api/v1/workflows/team-b/submit",
                  Json{{"resourceKind", "WorkflowTemplate"}, {"resourceName", "private"}}.dump(), server.token());
  EXPECT_EQ(r.status, 404) << r.body;
  // Its own namespace runs it.
  r = server.Call("POST", "/api/v1/workflows/team-a", Json{{"workflow", borrow}}.dump(), server.token());
  EXPECT_EQ(r.status, 200) << r.body;
  for (int i = 0; i < 300 && !PathExists(home.Join("a-template-ran")); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(PathExists(home.Join("a-template-ran")));
  EXPECT_EQ(server.WorkflowCount("team-b"), 0u);
}

// Before: GET /logout logged the browser out, so any page could do it with an <img src>
// (a state change on a GET: CSRF). Only a POST of this server's own page does.
TEST(SecurityTest, LogoutIsAPostOfThisServersPage) {
  ScratchDir home;
  Server server(home.path(), {});
  const std::string cookie = "loom-token-" + std::to_string(server.port()) + "=" + server.token();
  net::HttpResponse get = server.Call("GET", "/logout", "", "", {{"Cookie", cookie}});
  EXPECT_EQ(get.status, 405) << get.body;
  EXPECT_EQ(get.Header("set-cookie"), "");
  net::HttpResponse forged = server.Call("POST", "/logout", "", "",
                                         {{"Cookie", cookie}, {"Origin", "http://evil.example"}});
  EXPECT_EQ(forged.status, 403) << forged.body;
  EXPECT_EQ(forged.Header("set-cookie"), "");
  net::HttpResponse post = server.Call("POST", "/logout", "", "", {{"Cookie", cookie}, {"Origin", server.url()}});
  EXPECT_EQ(post.status, 303) << post.body;
  EXPECT_EQ(post.Header("location"), "/login");
  EXPECT_NE(post.Header("set-cookie").find("Max-Age=0"), std::string::npos) << post.Header("set-cookie");
}

// Before: a process pod ran as root with the host's view of LOOM_HOME: it read the server's
// token (and with it the whole API), the state store and another pod's /tmp; a hostPath of "/"
// did the same by another path. Now the token, the store and the other pods' directories are
// empty in its view, whichever path it takes; runAsNonRoot on a root pod is refused.
TEST(SecurityTest, APodSeesNeitherTheTokenNorTheStoreNorAnotherPod) {
  ScratchDir home;
  Server server(home.path(), {});
  ASSERT_FALSE(server.token().empty());
  const std::string loot = home.Join("loot");
  ASSERT_TRUE(MakeDirs(loot).ok());
  const std::string snoop =
      "cat \"$LOOM_HOME/server.token\" > /loot/token; cat /host\"$LOOM_HOME/server.token\" > /loot/token-via-host; "
      "cat \"$LOOM_HOME/workflows.db\" | wc -c > /loot/store-bytes; "
      "find \"$LOOM_HOME/pods\" /host\"$LOOM_HOME/pods\" -name secret > /loot/found; cat /loot/found | wc -l > /loot/found-count";
  Json wf = {{"apiVersion", "argoproj.io/v1alpha1"}, {"kind", "Workflow"},
             {"metadata", {{"name", "snoop"}}},
             {"spec", {{"entrypoint", "main"},
                       {"volumes", Json::array({{{"name", "loot"}, {"hostPath", {{"path", loot}}}},
                                                {{"name", "host"}, {"hostPath", {{"path", "/"}}}}})},
                       {"templates", Json::array({
                           {{"name", "main"}, {"steps", Json::array({Json::array({{{"name", "keep"}, {"template", "keep"}}}),
                                                                     Json::array({{{"name", "snoop"}, {"template", "snoop"}}}),
                                                                     Json::array({{{"name", "nonroot"}, {"template", "nonroot"}}})})}},
                           {{"name", "keep"}, {"script", {{"image", "alpine"}, {"command", {"sh"}},
                                                          {"source", "echo hidden > /tmp/secret"}}}},
                           {{"name", "snoop"}, {"script", {{"image", "alpine"}, {"command", {"sh"}}, {"source", snoop},
                                                           {"volumeMounts", Json::array({{{"name", "loot"}, {"mountPath", "/loot"}},
                                                                                         {{"name", "host"}, {"mountPath", "/host"}}})}}}},
                           {{"name", "nonroot"}, {"securityContext", {{"runAsNonRoot", true}}},
                            {"container", {{"image", "alpine"}, {"command", {"sh", "-c", "echo ran > /loot/nonroot"}},
                                           {"volumeMounts", Json::array({{{"name", "loot"}, {"mountPath", "/loot"}}})}}}}})}}}};
  net::HttpResponse created = server.Call("POST", "/api/v1/workflows/default", Json{{"workflow", wf}}.dump(), server.token());
  ASSERT_EQ(created.status, 200) << created.body;
  Json got;
  for (int i = 0; i < 600; ++i) {
    got = *ParseJson(server.Call("GET", "/api/v1/workflows/default/snoop", "", server.token()).body, "get");
    const std::string phase = got["status"].value("phase", "");
    if (phase == "Succeeded" || phase == "Failed" || phase == "Error") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(PathExists(JoinPath(loot, "found-count"))) << got.dump(2);
  EXPECT_EQ(ReadFile(JoinPath(loot, "token")).value(), "");
  EXPECT_EQ(ReadFile(JoinPath(loot, "token-via-host")).value(), "");
  EXPECT_EQ(ReadFile(JoinPath(loot, "store-bytes")).value(), "0\n");
  EXPECT_EQ(ReadFile(JoinPath(loot, "found-count")).value(), "0\n") << ReadFile(JoinPath(loot, "found")).value();
  // The first pod did leave its secret (in its own /tmp): the others just cannot see it.
  bool secret_left = false;
  auto nodes = got["status"]["nodes"];
  for (auto it = nodes.begin(); it != nodes.end(); ++it) {
    if (it.value().value("displayName", "") == "keep")
      secret_left = PathExists(home.Join("pods/snoop/" + it.key() + "/tmp/secret"));
  }
  EXPECT_TRUE(secret_left);
  EXPECT_FALSE(PathExists(JoinPath(loot, "nonroot")));
  EXPECT_NE(got["status"].value("phase", ""), "Succeeded");
  EXPECT_NE(got.dump().find("container has runAsNonRoot and image will run as root"), std::string::npos) << got.dump(2);
}

// Before: `loom wf lint` of this 1 KB file died of std::bad_alloc.
TEST(SecurityTest, AnchorBombThroughTheCli) {
  ScratchDir home;
  const std::string bomb = home.Join("bomb.yaml");
  ASSERT_TRUE(WriteFileAtomic(bomb, AnchorBomb()).ok());
  const std::vector<std::string> env = {"LOOM_HOME=" + home.path()};
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"wf", "lint", bomb}, {"wf", "submit", bomb}, {"template", "create", bomb}, {"job", "run", bomb}}) {
    std::vector<std::string> argv = {LoomBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessResult r = testing::Run(argv, home.path(), env);
    EXPECT_EQ(r.exit_code, 1) << args[0] << " " << args[1] << ": " << r.err;
    EXPECT_NE(r.err.find(bomb + ": line "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("YAML aliases"), std::string::npos) << r.err;
  }
}

// Before: the same bomb in a 64 MiB body could exhaust the server's memory.
TEST(SecurityTest, AnchorBombThroughTheApi) {
  ScratchDir home;
  Server server(home.path(), {});
  const std::string body = Json{{"manifest", AnchorBomb()}}.dump();
  for (const char* path : {"/api/v1/workflows/default", "/api/v1/workflow-templates/default"}) {
    net::HttpResponse r = server.Call("POST", path, body, server.token());
    EXPECT_EQ(r.status, 400) << path;
    EXPECT_NE(r.body.find("manifest: line "), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("YAML aliases"), std::string::npos) << r.body;
  }
  EXPECT_EQ(server.Call("GET", "/api/v1/info", "", server.token()).status, 200);  // still there
}

// The status a server answers to a request that announces a body of `length` bytes and sends
// none of it: a limit is applied before the body is read.
int StatusForAnnouncedBody(int port, const std::string& method, const std::string& path, size_t length,
                           const std::string& extra_headers) {
  int fd = testing::ConnectLoopback(port);
  if (fd < 0) return -1;
  const std::string head = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(length) + "\r\n" +
                           extra_headers + "\r\n";
  send(fd, head.data(), head.size(), MSG_NOSIGNAL);
  std::string answer;
  char buf[4096];
  ssize_t n;
  while (answer.find("\r\n") == std::string::npos && (n = recv(fd, buf, sizeof(buf), 0)) > 0) answer.append(buf, n);
  close(fd);
  return answer.rfind("HTTP/1.1 ", 0) == 0 ? std::stoi(answer.substr(9, 3)) : -1;
}

// Before: every endpoint took 64 MiB bodies (the login form and a stop action included).
TEST(SecurityTest, OversizedBodiesAreRefusedUnread) {
  ScratchDir home;
  Server server(home.path(), {});
  const std::string auth = "Authorization: Bearer " + server.token() + "\r\n";
  EXPECT_EQ(StatusForAnnouncedBody(server.port(), "POST", "/api/v1/workflows/default", 5 << 20, auth), 413);
  EXPECT_EQ(StatusForAnnouncedBody(server.port(), "PUT", "/api/v1/workflows/default/x/stop", 100 << 10, auth), 413);
  EXPECT_EQ(StatusForAnnouncedBody(server.port(), "POST", "/api/v1/models/mnist:predict", 40 << 20, auth), 413);
  EXPECT_EQ(StatusForAnnouncedBody(server.port(), "POST", "/login", 8 << 10, ""), 413);
  // Refused before the token is looked at: no token needed to be told, none to be let in.
  EXPECT_EQ(StatusForAnnouncedBody(server.port(), "POST", "/api/v1/workflows/default", 5 << 20, ""), 413);
  // Within its limit a manifest is read as ever.
  net::HttpResponse small = server.Call("POST", "/api/v1/workflows/default", "{}", server.token());
  EXPECT_EQ(small.status, 400) << small.body;
  EXPECT_NE(small.body.find("body: needs"), std::string::npos) << small.body;
}

// Slow clients (slowloris: a request line, then a header byte now and then) hold connections,
// not threads: a thousand of them do not keep the owner out.
TEST(SecurityTest, SlowClientsDoNotShutOthersOut) {
  ScratchDir home;
  Server server(home.path(), {});
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  const int count = static_cast<int>(std::min<rlim_t>(1000, limit.rlim_cur - 64));
  std::vector<int> fds;
  for (int i = 0; i < count; ++i) {
    int fd = testing::ConnectLoopback(server.port());
    ASSERT_GE(fd, 0) << i;
    const std::string start = "POST /api/v1/workflows/default HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    ASSERT_EQ(send(fd, start.data(), start.size(), MSG_NOSIGNAL), static_cast<ssize_t>(start.size()));
    fds.push_back(fd);
  }
  for (int fd : fds) send(fd, "a", 1, MSG_NOSIGNAL);  // still alive, still unfinished
  EXPECT_EQ(server.Call("GET", "/api/v1/info", "", server.token()).status, 200);
  EXPECT_EQ(server.WorkflowCount(), 0u);
  for (int fd : fds) close(fd);
}

// Artifact names and tar members that point outside: `..`, absolute paths, symlinks.
TEST(SecurityTest, ArtifactsStayWhereTheyBelong) {
  ScratchDir home;
  const std::string repo = home.Join("artifacts");
  ASSERT_TRUE(MakeDirs(repo).ok());
  ASSERT_TRUE(WriteFileAtomic(home.Join("server.secret"), "top secret").ok());
  // Tarballs made by Python's tarfile (not our code): each member tries to land outside.
  const std::string script = R"py(
import io, sys, tarfile
def tgz(path, members):
    with tarfile.open(path, 'w:gz') as t:
        for name, kind, target in members:
            info = tarfile.TarInfo(name)
            if kind == 'link':
                info.type, info.linkname = tarfile.SYMTYPE, target
                t.addfile(info)
            else:
                data = b'planted'
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
repo, outside = sys.argv[1], sys.argv[2]
tgz(repo + '/dotdot.tgz', [('out/../../planted', 'file', None)])
tgz(repo + '/absolute.tgz', [(outside + '/planted', 'file', None)])
tgz(repo + '/symlink.tgz', [('out/link', 'link', outside), ('out/link/planted', 'file', None)])
)py";
  ASSERT_TRUE(WriteFileAtomic(home.Join("make_tars.py"), script).ok());
  const std::string outside = home.Join("outside");
  ASSERT_TRUE(MakeDirs(outside).ok());
  ProcessResult made = testing::Run({"python3", home.Join("make_tars.py"), repo, outside}, home.path());
  ASSERT_EQ(made.exit_code, 0) << made.err;
  workflow::ArtifactOptions options;
  options.repository_dir = repo;
  for (const char* key : {"dotdot.tgz", "absolute.tgz", "symlink.tgz"}) {
    const std::string dest = home.Join(std::string("pod-") + key);
    Json artifact = {{"name", "in"}, {"path", dest}, {"s3", {{"key", key}}}};
    Status s = workflow::LoadArtifact(workflow::ArtifactFromJson(artifact, "artifact").value(), dest, options, "inputs.artifacts.in");
    EXPECT_FALSE(s.ok()) << key;
    EXPECT_FALSE(PathExists(JoinPath(outside, "planted"))) << key;
    EXPECT_FALSE(PathExists(home.Join("planted"))) << key;
  }
  // Names: keys and artifact names that climb out of the repository, through the API.
  Server server(home.path(), {});
  for (const char* path : {"/artifacts/default/wf/node/..%2F..%2Fserver.secret", "/artifacts/default/..%2Fserver.secret/n/a",
                           "/artifacts/default/wf/node/%2Fetc%2Fpasswd"}) {
    net::HttpResponse r = server.Call("GET", path, "", server.token());
    EXPECT_TRUE(r.status == 400 || r.status == 404) << path << ": " << r.status;
    EXPECT_EQ(r.body.find("top secret"), std::string::npos) << path;
  }
  for (const char* key : {"../server.secret", "/etc/passwd", "a/../../server.secret"}) {
    Json artifact = {{"name", "in"}, {"s3", {{"key", key}}}};
    Status s = workflow::LoadArtifact(workflow::ArtifactFromJson(artifact, "artifact").value(), home.Join("pod-key"), options, "inputs.artifacts.in");
    EXPECT_FALSE(s.ok()) << key;
    auto got = ReadFile(home.Join("pod-key"));
    EXPECT_TRUE(!got.ok() || got->find("top secret") == std::string::npos) << key;
  }
}

// Before: Argo's k8s-patch-json-pod.yaml shape (mergeStrategy json, a JSON-patch list as the
// manifest) passed lint, then aborted `loom wf submit` with nlohmann's type_error.306.
TEST(SecurityTest, JsonPatchResourceIsAnErrorNotACrash) {
  ScratchDir home;
  const std::string file = home.Join("patch.yaml");
  ASSERT_TRUE(WriteFileAtomic(file, R"(apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: patch-pod-
spec:
  entrypoint: main
  templates:
  - name: main
    resource:
      action: patch
      mergeStrategy: json
      flags: [pod, "{{pod.name}}"]
      manifest: |
        - op: add
          path: /metadata/annotations/foo
          value: bar
)").ok());
  ProcessResult r = testing::Run({LoomBinary(), "wf", "submit", "--wait", file}, home.path(), {"LOOM_HOME=" + home.path()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  ProcessResult name = testing::Run({LoomBinary(), "wf", "list", "-o", "name"}, home.path(), {"LOOM_HOME=" + home.path()});
  ASSERT_FALSE(name.out.empty()) << name.err;
  ProcessResult got = testing::Run({LoomBinary(), "wf", "get", name.out.substr(0, name.out.find('\n')), "-o", "json"},
                                   home.path(), {"LOOM_HOME=" + home.path()});
  EXPECT_NE((r.out + r.err + got.out).find("resource.manifest: expected a Kubernetes object"), std::string::npos)
      << r.out << r.err << got.out;
}

// The pod attacks, through `loom wf submit --wait --pod-runtime R` as a user runs them, with
// each runtime: R = process, and container (loom:latest, from the loom_image fixture).
class PodAttackTest : public ::testing::TestWithParam<std::string> {
 protected:
  // Submits `yaml` and waits; the engine's environment holds a secret of its own.
  ProcessResult Submit(const std::string& name, const std::string& yaml) {
    const std::string path = work_.Join(name + ".yaml");
    EXPECT_TRUE(WriteFileAtomic(path, yaml).ok());
    return Loom({"wf", "submit", path, "--wait", "--pod-runtime", GetParam()});
  }
  ProcessResult Loom(std::vector<std::string> args) {
    args.insert(args.begin(), LoomBinary());
    return testing::Run(args, logs_.path(), {"LOOM_HOME=" + home_.path(), "AWS_SECRET_ACCESS_KEY=engine-only-key"});
  }
  std::string Logs(const std::string& name) { return Loom({"wf", "logs", name}).out; }
  // The workflow's pod nodes as "<template>: <phase> <podRuntime> <message>", one a line, sorted.
  std::string Pods(const std::string& name) {
    auto doc = ParseJson(Loom({"wf", "get", name, "-o", "json"}).out, "loom wf get");
    if (!doc.ok()) return doc.status().ToString();
    std::vector<std::string> lines;
    for (const auto& [id, n] : (*doc)["status"]["nodes"].items()) {
      if (n["type"] != "Pod") continue;
      lines.push_back(n.value("templateName", "") + ": " + n.value("phase", "") + " " + n.value("podRuntime", "-") +
                      " " + n.value("message", ""));
    }
    std::sort(lines.begin(), lines.end());
    std::string out;
    for (const std::string& l : lines) out += l + "\n";
    return out;
  }
  static std::string Workflow(const std::string& name, const std::string& templates) {
    return "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: " + name +
           "}\nspec:\n  entrypoint: main\n  templates:\n" + templates;
  }
  ScratchDir home_, work_, logs_;
};

// Before the hardened runtimes: a pod inherited the engine's whole environment and printed its
// AWS_SECRET_ACCESS_KEY.
TEST_P(PodAttackTest, PodReadsTheEnginesSecretEnvironment) {
  ProcessResult r = Submit("env", Workflow("env", R"(  - name: main
    script:
      image: loom:latest
      command: [sh]
      source: |
        echo "key=${AWS_SECRET_ACCESS_KEY:-none}"
        n=$(env | grep -c engine-only || true); echo "matches=$n"
)"));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << Pods("env");
  const std::string logs = Logs("env");
  EXPECT_NE(logs.find("key=none"), std::string::npos) << logs;
  EXPECT_NE(logs.find("matches=0"), std::string::npos) << logs;
  EXPECT_EQ(logs.find("engine-only-key"), std::string::npos) << logs;
  EXPECT_EQ(Pods("env"), "main: Succeeded " + GetParam() + " \n");
}

// Before replicas were given only their spec's environment: a TFJob replica of the process
// runtime inherited the controller's whole environment and printed its AWS_SECRET_ACCESS_KEY.
TEST_P(PodAttackTest, ReplicaReadsTheControllersSecretEnvironment) {
  const std::string path = work_.Join("job.yaml");
  ASSERT_TRUE(WriteFileAtomic(path, R"(apiVersion: kubeflow.org/v1
kind: TFJob
metadata: {name: env-job}
spec:
  tfReplicaSpecs:
    Worker:
      replicas: 1
      restartPolicy: Never
      template:
        spec:
          containers:
          - name: tensorflow
            image: loom:latest
            command: [sh, -c, 'echo "key=${AWS_SECRET_ACCESS_KEY:-none} matches=$(env | grep -c engine-only) tf_config=${TF_CONFIG:+set}"']
)").ok());
  ProcessResult r = Loom({"job", "run", "--pod-runtime", GetParam(), path});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string log = Loom({"job", "logs", "env-job"}).out;
  // The operator's variables are there; nothing of the controller's own.
  EXPECT_NE(log.find("key=none matches=0 tf_config=set"), std::string::npos) << log;
  EXPECT_EQ(log.find("engine-only-key"), std::string::npos) << log;
}

// Before the mount namespace per pod: every pod shared the host's /tmp, so a pod read what a
// pod beside it had just written there.
TEST_P(PodAttackTest, PodReadsAnotherPodsTmp) {
  ProcessResult r = Submit("tmp", Workflow("tmp", R"(  - name: main
    steps:
    - - {name: victim, template: victim}
      - {name: thief, template: thief}
  - name: victim
    script:
      image: loom:latest
      command: [sh]
      source: |
        echo victim-secret > /tmp/victim-secret
        i=0; while [ ! -f /tmp/victim-secret.done ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done
        cat /tmp/victim-secret
  - name: thief
    script:
      image: loom:latest
      command: [sh]
      source: |
        sleep 1
        cat /tmp/victim-secret 2>/dev/null || echo "thief: nothing at /tmp/victim-secret"
        touch /tmp/victim-secret.done
)"));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << Pods("tmp");
  const std::string logs = Logs("tmp");
  EXPECT_NE(logs.find("thief: nothing at /tmp/victim-secret"), std::string::npos) << logs;
  // The victim waited out its 3 s (no thief could signal it) and still had its own file.
  EXPECT_NE(logs.find("victim-secret\n"), std::string::npos) << logs;
  EXPECT_EQ(Pods("tmp"), "thief: Succeeded " + GetParam() + " \nvictim: Succeeded " + GetParam() + " \n");
}

// Before securityContext was acted on: runAsNonRoot was accepted and ignored, and the pod ran
// as uid 0 and wrote where only root may.
TEST_P(PodAttackTest, PodRunsAsRootAgainstRunAsNonRoot) {
  const std::string marker = home_.Join("ran-as-root");
  ProcessResult r = Submit("root", Workflow("root", R"(  - name: main
    securityContext: {runAsNonRoot: true}
    container:
      image: loom:latest
      command: [sh, -c, "id -u > )" + marker + R"("]
)"));
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_FALSE(PathExists(marker)) << "the pod ran";
  EXPECT_NE(Pods("root").find("main: Error " + GetParam() + " container has runAsNonRoot and image will run as root"),
            std::string::npos) << Pods("root");
}

INSTANTIATE_TEST_SUITE_P(Runtimes, PodAttackTest, ::testing::Values("process", "container"));

// Before process pods were refused without a mount namespace: an engine without CAP_SYS_ADMIN
// (a container under Docker's defaults) ran them in the host's view, where a pod read the state
// store, the server's token and every other pod's files. The engine runs here under setpriv
// (util-linux) with CAP_SYS_ADMIN dropped from its bounding and inheritable sets.
TEST(SecurityTest, ProcessPodWithoutAMountNamespaceIsRefused) {
  ScratchDir home, work, logs;
  const std::string marker = home.Join("pod-ran");
  const std::string path = work.Join("nocap.yaml");
  ASSERT_TRUE(WriteFileAtomic(path, R"(apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: nocap}
spec:
  entrypoint: main
  templates:
  - name: main
    script:
      image: loom:latest
      command: [sh]
      source: |
        touch )" + marker + R"(
        head -c 15 "$LOOM_HOME/workflows.db"; echo
)").ok());
  const std::vector<std::string> env = {"LOOM_HOME=" + home.path()};
  ProcessResult r = testing::Run({"setpriv", "--bounding-set", "-sys_admin", "--inh-caps", "-sys_admin", LoomBinary(),
                                  "wf", "submit", path, "--wait", "--pod-runtime", "process"},
                                 logs.path(), env);
  EXPECT_NE(r.exit_code, 0) << r.out << r.err;
  EXPECT_FALSE(PathExists(marker)) << "the pod ran";
  ProcessResult got = testing::Run({LoomBinary(), "wf", "get", "nocap", "-o", "json"}, logs.path(), env);
  auto doc = ParseJson(got.out, "loom wf get");
  ASSERT_TRUE(doc.ok()) << got.out << got.err << r.err;
  std::string messages;
  for (const auto& [id, n] : (*doc)["status"]["nodes"].items()) {
    if (n["type"] == "Pod") messages += n.value("phase", "") + ": " + n.value("message", "") + "\n";
  }
  EXPECT_NE(messages.find("Error: pods here have no mount namespace of their own (the engine needs root, or "
                          "CAP_SYS_ADMIN in a container), so a pod would read the engine's token, its state and "
                          "other pods' files: refused"),
            std::string::npos) << messages;
  ProcessResult pod_logs = testing::Run({LoomBinary(), "wf", "logs", "nocap"}, logs.path(), env);
  EXPECT_EQ(pod_logs.out.find("SQLite format"), std::string::npos) << pod_logs.out;
}

}  // namespace
}  // namespace loom
