// loom server: the web UI and its JSON API (Argo server + TensorBoard's scalars view + the
// jobs and models pages), and, when built with the workflow engine, the engine's controller:
// workflows submitted to it run in this process. Binds 127.0.0.1 unless --address says
// otherwise. While it runs, LoomHome()/server.json says where it is, so the CLI can find it.
// Authentication as Argo server's --auth-mode: `client` (the default) wants the bearer token of
// LoomHome()/server.token (created at the first start, 0600) on every request; `server` wants
// none and is allowed on a loopback address only. Any other address needs TLS (--secure --cert
// --key) as well: the token must not cross a network in clear.
// SIGTERM or SIGINT: stop accepting, answer what is in flight, remove server.json, exit 0.
#include <arpa/inet.h>
#include <limits.h>
#include <signal.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <sstream>

#include "commands.h"
#include "core/file.h"
#include "core/json.h"
#include "core/logging.h"
#include "net/auth_token.h"
#include "net/http_server.h"
#include "ui/web_ui.h"
#if defined(LOOM_HAVE_WORKFLOW) && defined(LOOM_HAVE_POD_RUNNER)
#define LOOM_SERVER_RUNS_WORKFLOWS 1
#include "ui/workflow_api.h"
#include "workflow/launcher.h"
#include "workflow/pod_runner.h"
#endif

namespace loom::cli {

namespace {

std::vector<std::string> SplitComma(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104: only this machine reaches them.
StatusOr<bool> IsLoopbackAddress(const std::string& address) {
  in_addr v4{};
  if (inet_pton(AF_INET, address.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, address.c_str(), &v6) != 1)
    return InvalidArgument("--address: \"" + address + "\" is not an IPv4 or IPv6 address");
  if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
  return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

std::string DefaultServerJobsDir() {
  if (const char* env = std::getenv("LOOM_JOBS_DIR"); env && *env) return env;
  return JoinPath(LoomHome(), "jobs");
}

}  // namespace

int RunServer(const Args& args) {
  net::HttpServerOptions http;
  http.port = 2746;
  http.num_threads = 4;
  ui::WebUiOptions options;
  options.logdir = JoinPath(LoomHome(), "runs");
  options.jobs_dir = DefaultServerJobsDir();
  std::string models = "mnist";
  std::string auth_mode = "client", cert, key;
  bool secure = false;
  int64_t port = http.port;
  FlagSet flags("loom server [--port 2746] [--address 127.0.0.1] [--auth-mode client|server] [--secure --cert F --key F]");
  flags.Int("port", &port, "port of the UI and API (0 picks a free one)");
  flags.String("address", &http.address,
               "address to bind; one other than loopback (0.0.0.0 exposes it to the network) needs --secure");
  flags.String("auth-mode", &auth_mode,
               "client: every request carries the token of $LOOM_HOME/server.token (Bearer header, or the "
               "login page's cookie); server: no authentication, on a loopback address only");
  flags.Bool("secure", &secure, "serve HTTPS (TLS) with --cert and --key");
  flags.String("cert", &cert, "with --secure: the server's certificate chain (PEM file)");
  flags.String("key", &key, "with --secure: the certificate's private key (PEM file)");
  flags.String("logdir", &options.logdir, "TensorBoard logdir: runs are directories with event files");
  flags.String("jobs_dir", &options.jobs_dir, "loom job's state directory ($LOOM_JOBS_DIR)");
  flags.String("model_server", &options.model_server, "host:port of the model server's REST API");
  flags.String("models", &models, "comma-separated model names the models page shows");
  std::string pod_runtime = "process";
  flags.String("pod-runtime", &pod_runtime, kPodRuntimeHelp);
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "server", &code)) return code;
  if (!positional.empty())
    return Fail("server", InvalidArgument("unexpected argument \"" + positional[0] + "\""));
  http.port = static_cast<int>(port);
  options.address = http.address;
  options.models = SplitComma(models);
  if (auth_mode != "client" && auth_mode != "server")
    return Fail("server", InvalidArgument("--auth-mode: \"" + auth_mode + "\" is not client or server"));
  auto is_loopback = IsLoopbackAddress(http.address);
  if (!is_loopback.ok()) return Fail("server", is_loopback.status());
  const bool loopback = *is_loopback;
  if (auth_mode == "server" && !loopback)
    return Fail("server", InvalidArgument("--auth-mode server (no authentication) is allowed on a loopback address "
                                          "only, not on " + http.address));
  if (!loopback && !secure)
    return Fail("server", InvalidArgument("--address " + http.address +
                                          " is not a loopback address: it needs --secure --cert --key (TLS), "
                                          "so that the token never crosses the network in clear"));
  if (!secure && (!cert.empty() || !key.empty()))
    return Fail("server", InvalidArgument(std::string(cert.empty() ? "--key" : "--cert") + " is given without --secure"));
  if (secure && (cert.empty() || key.empty()))
    return Fail("server", InvalidArgument("--secure needs --cert and --key (PEM files)"));
  if (secure) {
    auto cert_pem = ReadFile(cert);
    if (!cert_pem.ok()) return Fail("server", cert_pem.status().WithPrefix("--cert"));
    auto key_pem = ReadFile(key);
    if (!key_pem.ok()) return Fail("server", key_pem.status().WithPrefix("--key"));
    http.tls_cert_pem = *cert_pem;
    http.tls_key_pem = *key_pem;
    options.secure = true;
  }
  http.body_limit = ui::BodyLimit;

  // Before any thread starts: the engine's and the HTTP server's threads inherit the mask.
  // Static: the signal thread outlives this function.
  static std::mutex stop_mu;
  static std::condition_variable stop_cv;
  static bool stop = false;
  WatchStopSignals([] {
    std::lock_guard<std::mutex> lock(stop_mu);
    stop = true;
    stop_cv.notify_all();
  });
  signal(SIGPIPE, SIG_IGN);

  if (Status s = MakeDirs(LoomHome()); !s.ok()) return Fail("server", s);
  const std::string token_path = net::TokenPath(LoomHome());
  if (auth_mode == "client") {
    auto token = net::LoadOrCreateToken(token_path);
    if (!token.ok()) return Fail("server", token.status());
    options.token = *token;
  }
#ifdef LOOM_SERVER_RUNS_WORKFLOWS
  workflow::PodRunnerOptions pod_options;
  pod_options.home = LoomHome();
  auto runtime = PodRuntimeFlag(pod_runtime);
  if (!runtime.ok()) return Fail("server", runtime.status());
  pod_options.runtime = *runtime;
  auto pods = workflow::LocalPodRunner::Create(pod_options);
  if (!pods.ok()) return Fail("server", pods.status());
  ui::WorkflowApiOptions workflow_options;
  workflow_options.db_path = workflow::DefaultStorePath();
  workflow_options.home = LoomHome();
  workflow_options.artifact_dir = JoinPath(LoomHome(), "artifacts");
  workflow_options.pods = pods->get();
  auto workflows = ui::WorkflowApi::Create(workflow_options);
  if (!workflows.ok()) return Fail("server", workflows.status());
  options.workflows_enabled = true;
  options.extra_routes = [api = workflows->get()](const net::HttpServerRequest& request,
                                                  net::HttpServerResponse* response) {
    return api->Handle(request, response);
  };
#endif
  auto ui = ui::WebUi::Create(options);
  if (!ui.ok()) return Fail("server", ui.status());
  auto server = ui::ServeWebUi(ui->get(), http);
  if (!server.ok()) return Fail("server", server.status());
  const std::string host = http.address.find(':') != std::string::npos
                               ? "[" + http.address + "]"
                               : http.address;
  const std::string address = host + ":" + std::to_string((*server)->port());
  // What this machine's clients use: a wildcard bind is reached at loopback.
  const std::string local_host = http.address == "0.0.0.0" ? "127.0.0.1" : http.address == "::" ? "[::1]" : host;
  const std::string url = (secure ? "https://" : "http://") + local_host + ":" + std::to_string((*server)->port());
#ifdef LOOM_SERVER_RUNS_WORKFLOWS
  // How the CLI finds this server (workflow/launcher.h), so that it submits workflows here: with
  // the certificate to trust, and whether to send the token.
  workflow::ServerInfo info;
  info.address = address;
  info.url = url;
  info.pid = getpid();
  if (secure) {
    char resolved[PATH_MAX];
    info.cert = realpath(cert.c_str(), resolved) != nullptr ? std::string(resolved) : cert;
  }
  info.wants_token = auth_mode == "client";
  if (Status s = workflow::WriteServerInfo(LoomHome(), info); !s.ok()) return Fail("server", s);
  int resumed = (*workflows)->ResumeUnfinished();
  (*workflows)->StartCron();
  if (resumed > 0) std::cout << "loom server: resuming " << resumed << " unfinished workflow(s)" << std::endl;
#endif
  std::cout << "loom server: serving the UI and API at " << url << "/" << std::endl;
  if (auth_mode == "server") {
    std::cerr << "WARNING: --auth-mode server: no authentication. Every process on this machine (workflow pods "
                 "included) can run workflows as this user through " << url << "/" << std::endl;
  } else if (isatty(STDOUT_FILENO)) {
    // Jupyter's token URL, on a terminal only: a log file is no place for the token.
    std::cout << "loom server: to log in, open " << url << "/?token=" << options.token << std::endl;
  } else {
    std::cout << "loom server: the token to log in with is in " << token_path << std::endl;
  }
  {
    std::unique_lock<std::mutex> lock(stop_mu);
    stop_cv.wait(lock, [] { return stop; });
  }
  std::cout << "Received a stop signal, stopping" << std::endl;
#ifdef LOOM_SERVER_RUNS_WORKFLOWS
  // server.json goes first: a CLI that reads it from now on runs workflows itself.
  if (Status s = workflow::RemoveServerInfo(LoomHome()); !s.ok()) LOOM_LOG(WARNING) << s.message();
#endif
  (*server)->Drain(10);
  (*server)->Stop();
#ifdef LOOM_SERVER_RUNS_WORKFLOWS
  (*workflows)->Shutdown();
#endif
  return 0;
}

}  // namespace loom::cli
