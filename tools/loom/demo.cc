// loom demo: Kubeflow's MNIST pipeline end to end on embedded defaults, as one Argo workflow.
// Puts MNIST into the embedded object store (file://$LOOM_HOME/store/mnist/), submits
// examples/mnist/workflow.yaml with file:// URLs (no S3 server needed), shows its progress as
// `argo watch` does, and ends with the client's error rate and how to open the UI and query it.
// The workflow's model server is a daemon step, stopped when the workflow's steps end (as Argo
// stops it); with --keep_serving the demo then serves the exported model itself, a `loom serve`
// in a session of its own whose pid is in $LOOM_HOME/run/serve-<port>.pid (the next demo on that
// port stops it first).
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <random>
#include <thread>

#include "commands.h"
#include "core/file.h"
#include "core/process.h"
#include "core/json.h"
#include "storage/file_store.h"
#include "workflow/engine.h"
#include "workflow/launcher.h"
#include "workflow/probe.h"
#include "workflow/store.h"

extern char** environ;

#ifndef LOOM_SOURCE_DIR
#define LOOM_SOURCE_DIR "."
#endif

namespace loom::cli {
namespace {

// Copies the IDX files of `data_dir` into `store_dir` (only those missing or of another size).
StatusOr<int> SeedStore(const std::string& data_dir, const std::string& store_dir) {
  LOOM_RETURN_IF_ERROR(MakeDirs(store_dir));
  LOOM_ASSIGN_OR_RETURN(auto names, ListDir(data_dir));
  int copied = 0, found = 0;
  for (const std::string& name : names) {
    if (name.find("-ubyte") == std::string::npos) continue;
    ++found;
    const std::string from = JoinPath(data_dir, name), to = JoinPath(store_dir, name);
    auto a = ReadFile(from);
    if (!a.ok()) return a.status();
    auto b = ReadFile(to);
    if (b.ok() && *b == *a) continue;
    LOOM_RETURN_IF_ERROR(WriteFileAtomic(to, *a));
    ++copied;
  }
  if (found < 4) return NotFound(data_dir + ": expected MNIST's four IDX files (run `make mnist` or set LOOM_MNIST_DIR)");
  return copied;
}

std::string RandomName() {
  static const char kChars[] = "bcdfghjklmnpqrstvwxz2456789";
  std::mt19937 rng(std::random_device{}());
  std::string out = "mnist-";
  for (int i = 0; i < 5; ++i) out += kChars[rng() % (sizeof(kChars) - 1)];
  return out;
}

// The keep-serving server of an earlier demo on this port: its pid file, and the pid when that
// process is still a `loom serve` on the port (a pid file may outlive its process).
std::string ServePidFile(const std::string& home, int64_t port) {
  return JoinPath(home, "run/serve-" + std::to_string(port) + ".pid");
}
pid_t EarlierServer(const std::string& pid_file, int64_t port) {
  auto text = ReadFile(pid_file);
  if (!text.ok()) return -1;
  const pid_t pid = static_cast<pid_t>(std::atoi(text->c_str()));
  auto cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  if (pid <= 0 || !cmdline.ok()) return -1;
  std::vector<std::string> argv;
  for (size_t at = 0; at < cmdline->size();) {
    const size_t end = cmdline->find('\0', at);
    argv.push_back(cmdline->substr(at, end == std::string::npos ? std::string::npos : end - at));
    at = end == std::string::npos ? cmdline->size() : end + 1;
  }
  const bool serves = argv.size() > 1 && argv[1] == "serve" &&
                      std::find(argv.begin(), argv.end(), "--rest_api_port=" + std::to_string(port)) != argv.end();
  return serves ? pid : -1;
}

// Stops the demo's earlier server on `port`, if one runs; then the port must be free.
Status FreeServingPort(const std::string& home, int64_t port) {
  const std::string pid_file = ServePidFile(home, port);
  if (const pid_t pid = EarlierServer(pid_file, port); pid > 0 && kill(pid, SIGTERM) == 0) {
    std::cout << "   stopped the model server of an earlier demo (pid " << pid << ")" << std::endl;
    for (int i = 0; i < 300 && ProcessRunning(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  (void)RemoveAll(pid_file);
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("socket", "--port", errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const bool bound = bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  if (!bound) return FailedPrecondition("--port: 127.0.0.1:" + std::to_string(port) + " is taken by another server: pass --port=<a free port>");
  return OkStatus();
}

// --keep_serving: `loom serve` on the exported model, in a session of its own, ready when its
// REST API answers for the model (the workflow's readinessProbe); its pid goes to the pid file.
StatusOr<pid_t> KeepServing(const std::string& home, int64_t port, const std::string& model_base_path) {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return ErrnoStatus("/proc/self/exe", "readlink", errno);
  const std::string run_dir = JoinPath(home, "run"), log = JoinPath(run_dir, "serve-" + std::to_string(port) + ".log");
  LOOM_RETURN_IF_ERROR(MakeDirs(run_dir));
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  // gRPC on a socket beside the pid file: no TCP port besides --port is taken.
  LOOM_ASSIGN_OR_RETURN(pid_t pid, workflow::StartDetached({std::string(self, static_cast<size_t>(n)), "serve",
                                                            "--rest_api_port=" + std::to_string(port), "--port=0",
                                                            "--grpc_socket_path=" + JoinPath(run_dir, "serve-" + std::to_string(port) + ".grpc.sock"),
                                                            "--model_name=mnist", "--model_base_path=" + model_base_path},
                                                           env, log));
  workflow::ProbeSpec probe;
  probe.kind = workflow::ProbeSpec::Kind::kHttpGet;
  probe.port = static_cast<int>(port);
  probe.path = "/v1/models/mnist";
  for (int i = 0; i < 600; ++i) {
    if (workflow::ProbeOnce(probe, {}).ok()) {
      LOOM_RETURN_IF_ERROR(WriteFileAtomic(ServePidFile(home, port), std::to_string(pid) + "\n"));
      return pid;
    }
    if (!ProcessRunning(pid)) {
      auto text = ReadFile(log);
      return Internal("the model server exited; its log " + log + " says:\n" + (text.ok() ? *text : ""));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(pid, SIGTERM);
  return Unavailable("the model server did not answer on 127.0.0.1:" + std::to_string(port) + " within 60 s (log " + log + ")");
}

}  // namespace

int RunDemo(const Args& args) {
  std::string file = JoinPath(LOOM_SOURCE_DIR, "examples/mnist/workflow.yaml");
  std::string data_dir = DefaultDataDir(), name = RandomName();
  int64_t train_steps = 5500, workers = 2, ps = 2, port = 8501;
  bool keep_serving = true;
  std::string pod_runtime = "process";
  FlagSet flags("loom demo [flags]");
  flags.String("file", &file, "the workflow to run");
  flags.SetDefaultText("file", "examples/mnist/workflow.yaml of the source tree");
  flags.String("data_dir", &data_dir, "where MNIST's IDX files are ($LOOM_MNIST_DIR, else data/mnist)");
  flags.String("name", &name, "the workflow's name");
  flags.SetDefaultText("name", "mnist-<5 random characters>");
  flags.Int("train_steps", &train_steps, "model-train-steps: global training steps");
  flags.Int("workers", &workers, "tf-worker: worker replicas besides the chief");
  flags.Int("ps", &ps, "tf-ps: parameter servers");
  flags.Int("port", &port, "serving-port: the model server's REST port on 127.0.0.1");
  flags.Bool("keep_serving", &keep_serving, "after the workflow, serve its model on --port until stopped (for the UI)");
  flags.String("pod-runtime", &pod_runtime, kPodRuntimeHelp);
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "demo", &code)) return code;

  const std::string home = LoomHome();
  const std::string store_dir = JoinPath(home, "store/mnist");
  std::cout << "== MNIST into the embedded object store: file://" << store_dir << "/" << std::endl;
  auto copied = SeedStore(data_dir, store_dir);
  if (!copied.ok()) return Fail("demo", copied.status());
  std::cout << "   " << *copied << " object(s) written (from " << data_dir << ")" << std::endl;
  if (Status s = FreeServingPort(home, port); !s.ok()) return Fail("demo", s);
  std::cout << std::endl;

  std::cout << "== loom workflow submit " << file << " --watch   (workflow " << name << ")" << std::endl;
  Args submit = {"submit", file, "--name", name, "--watch",
                 "-p", "s3-data-url=file://" + store_dir + "/",
                 "-p", "s3-train-base-url=file://" + JoinPath(home, "store/mnist-train"),
                 "-p", "model-train-steps=" + std::to_string(train_steps),
                 "-p", "tf-worker=" + std::to_string(workers),
                 "-p", "tf-ps=" + std::to_string(ps),
                 "-p", "serving-port=" + std::to_string(port)};
  // A loom server that is up runs the workflow with its own --pod-runtime.
  if (flags.IsSet("pod-runtime")) submit.insert(submit.end(), {"--pod-runtime", pod_runtime});
  const int submitted = RunWorkflow(submit);

  auto store = workflow::Store::Open(workflow::DefaultStorePath());
  if (!store.ok()) return Fail("demo", store.status());
  auto wf = (*store)->GetWorkflow(name);
  if (!wf.ok()) return submitted != 0 ? submitted : Fail("demo", wf.status());
  const std::string phase = (*wf)["status"].value("phase", "");
  std::cout << "\n== loom workflow get " << name << std::endl;
  (void)RunWorkflow({"get", name});
  std::cout << std::endl;
  // The client step's verdict, from its log.
  std::string rate_line, test_node = name;
  const Json nodes = (*wf)["status"].value("nodes", Json::object());
  for (auto it = nodes.begin(); it != nodes.end(); ++it) {
    if (it.value().value("templateName", "") != "test-model") continue;
    test_node = it.value().value("name", name);
    auto log = (*store)->ReadLog(name, it.key(), 0, -1, nullptr);
    if (!log.ok()) continue;
    const size_t at = log->rfind("Inference error rate");
    if (at != std::string::npos) rate_line = log->substr(at, log->find('\n', at) - at);
  }
  if (!rate_line.empty()) std::cout << rate_line << std::endl;
  std::cout << "\nNext:\n"
            << "  loom workflow get " << name << "          this view again\n"
            << "  loom workflow logs " << name << " " << test_node << "   the client's output\n"
            << "  loom server                         the UI at http://127.0.0.1:2746 (workflows, training curves, jobs, models):\n"
            << "                                      open the address it prints, which holds its token\n"
            << "  curl -s -H \"Authorization: Bearer $(cat " << JoinPath(home, "server.token")
            << ")\" http://127.0.0.1:2746/api/v1/workflows/default/" << name << "\n"
            << "                                      the workflow through Argo's API\n";
  if (phase != "Succeeded") return 1;
  if (rate_line.empty()) return Fail("demo", Internal("the client step printed no \"Inference error rate\""));
  if (!keep_serving) return 0;
  const std::string model = "file://" + JoinPath(home, "store/mnist-train/exported/" + name) + "/";
  auto pid = KeepServing(home, port, model);
  if (!pid.ok()) return Fail("demo", pid.status().WithPrefix("--keep_serving"));
  std::cout << "  curl -s http://127.0.0.1:" << port << "/v1/models/mnist      the model server (TF Serving's REST API) on "
            << "the exported model,\n"
            << "                                      started after the workflow (pid " << *pid << "); stop it: kill $(cat "
            << ServePidFile(home, port) << ")\n";
  return 0;
}

}  // namespace loom::cli
