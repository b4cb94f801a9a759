// loom server: the web UI and its JSON API (Argo server + TensorBoard's scalars view + the
// jobs and models pages), and, when built with the workflow engine, the engine's controller:
// workflows submitted to it run in this process. Binds 127.0.0.1 unless --address says
// otherwise. While it runs, LoomHome()/server.json says where it is, so the CLI can find it.
// SIGTERM or SIGINT: stop accepting, answer what is in flight, remove server.json, exit 0.
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
  int64_t port = http.port;
  FlagSet flags("loom server [--port 2746] [--address 127.0.0.1]");
  flags.Int("port", &port, "port of the UI and API (0 picks a free one)");
  flags.String("address", &http.address, "address to bind (0.0.0.0 exposes it to the network)");
  flags.String("logdir", &options.logdir, "TensorBoard logdir: runs are directories with event files");
  flags.String("jobs_dir", &options.jobs_dir, "loom job's state directory ($LOOM_JOBS_DIR)");
  flags.String("model_server", &options.model_server, "host:port of the model server's REST API");
  flags.String("models", &models, "comma-separated model names the models page shows");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "server", &code)) return code;
  if (!positional.empty())
    return Fail("server", InvalidArgument("unexpected argument \"" + positional[0] + "\""));
  http.port = static_cast<int>(port);
  options.address = http.address;
  options.models = SplitComma(models);

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
#ifdef LOOM_SERVER_RUNS_WORKFLOWS
  workflow::PodRunnerOptions pod_options;
  pod_options.home = LoomHome();
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
#ifdef LOOM_SERVER_RUNS_WORKFLOWS
  // How the CLI finds this server (workflow/launcher.h), so that it submits workflows here.
  if (Status s = workflow::WriteServerInfo(LoomHome(), {address, "http://" + address, getpid()}); !s.ok())
    return Fail("server", s);
#endif
#ifdef LOOM_SERVER_RUNS_WORKFLOWS
  int resumed = (*workflows)->ResumeUnfinished();
  if (resumed > 0) std::cout << "loom server: resuming " << resumed << " unfinished workflow(s)" << std::endl;
#endif
  std::cout << "loom server: serving the UI and API at http://" << address << "/" << std::endl;
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
