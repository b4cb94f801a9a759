// loom demo: Kubeflow's MNIST pipeline end to end on embedded defaults, as one Argo workflow.
// Puts MNIST into the embedded object store (file://$LOOM_HOME/store/mnist/), submits
// examples/mnist/workflow.yaml with file:// URLs (no S3 server needed), shows its progress as
// `argo watch` does, and ends with the client's error rate and how to open the UI and query it.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <random>

#include "commands.h"
#include "core/file.h"
#include "core/json.h"
#include "storage/file_store.h"
#include "workflow/engine.h"
#include "workflow/store.h"

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

}  // namespace

int RunDemo(const Args& args) {
  std::string file = JoinPath(LOOM_SOURCE_DIR, "examples/mnist/workflow.yaml");
  std::string data_dir = DefaultDataDir(), name = RandomName();
  int64_t train_steps = 5500, workers = 2, ps = 2, port = 8501;
  bool keep_serving = true;
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
  flags.Bool("keep_serving", &keep_serving, "keep-serving: leave the model server up at the end (for the UI)");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "demo", &code)) return code;

  const std::string home = LoomHome();
  const std::string store_dir = JoinPath(home, "store/mnist");
  std::cout << "== MNIST into the embedded object store: file://" << store_dir << "/" << std::endl;
  auto copied = SeedStore(data_dir, store_dir);
  if (!copied.ok()) return Fail("demo", copied.status());
  std::cout << "   " << *copied << " object(s) written (from " << data_dir << ")\n" << std::endl;

  std::cout << "== loom workflow submit " << file << " --watch   (workflow " << name << ")" << std::endl;
  Args submit = {"submit", file, "--name", name, "--watch",
                 "-p", "s3-data-url=file://" + store_dir + "/",
                 "-p", "s3-train-base-url=file://" + JoinPath(home, "store/mnist-train"),
                 "-p", "model-train-steps=" + std::to_string(train_steps),
                 "-p", "tf-worker=" + std::to_string(workers),
                 "-p", "tf-ps=" + std::to_string(ps),
                 "-p", "serving-port=" + std::to_string(port),
                 "-p", std::string("keep-serving=") + (keep_serving ? "true" : "false")};
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
  if (keep_serving && phase == "Succeeded") {
    std::cout << "  curl -s http://127.0.0.1:" << port << "/v1/models/mnist      the model server (TF Serving's REST API), still up;\n"
              << "                                      stop it: kill $(cat " << JoinPath(home, "run/serve-" + std::to_string(port) + ".pid") << ")\n";
  }
  if (phase != "Succeeded") return 1;
  return rate_line.empty() ? Fail("demo", Internal("the client step printed no \"Inference error rate\"")) : 0;
}

}  // namespace loom::cli
