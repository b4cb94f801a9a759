// ui_bench: how fast `loom server` answers what its pages ask for when the store is big:
// 200 workflows of 12 nodes each, one of them with a 100 MB pod log. Prints the time of the
// list API, of one workflow with its nodes, of the first (tail) log page and of a page in the
// middle of the log, over real HTTP on 127.0.0.1, each the median of 20 requests.
// Not a test: CI does not time things.
//   ui_bench [--dir DIR] [--log_mb 100] [--workflows 200] [--hold]
// --hold keeps the server up after measuring and prints its URL (bench/ui/run.sh times the
// page loads in chromium against it).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "core/file.h"
#include "core/json.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "ui/web_ui.h"
#include "ui/workflow_api.h"

using namespace loom;

namespace {

// Pods never run here: every stored workflow is finished.
class NoPods : public workflow::PodRunner {
 public:
  workflow::PodResult Run(const workflow::PodRequest&, workflow::Store&) override {
    return {"Error", "ui_bench runs no pods", Json::object()};
  }
};

Json MakeWorkflow(const std::string& name, int index) {
  Json nodes = Json::object();
  Json root = {{"id", name}, {"name", name}, {"displayName", name}, {"type", "DAG"},
               {"phase", "Succeeded"}, {"templateName", "main"},
               {"startedAt", "2026-01-01T00:00:00Z"}, {"finishedAt", "2026-01-01T00:05:00Z"},
               {"children", Json::array()}};
  for (int i = 0; i < 11; ++i) {
    std::string id = name + "-" + std::to_string(1000000 + i);
    root["children"].push_back(id);
    nodes[id] = {{"id", id}, {"name", name + ".step" + std::to_string(i)},
                 {"displayName", "step" + std::to_string(i)}, {"type", "Pod"}, {"phase", "Succeeded"},
                 {"templateName", "work"}, {"boundaryID", name},
                 {"startedAt", "2026-01-01T00:00:00Z"}, {"finishedAt", "2026-01-01T00:05:00Z"},
                 {"inputs", {{"parameters", Json::array({{{"name", "i"}, {"value", std::to_string(i)}}})}}},
                 {"outputs", {{"result", "done"}, {"exitCode", "0"}}}};
  }
  nodes[name] = root;
  return {{"apiVersion", "argoproj.io/v1alpha1"},
          {"kind", "Workflow"},
          {"metadata", {{"name", name}, {"namespace", "default"}, {"uid", "uid-" + std::to_string(index)},
                        {"creationTimestamp", "2026-01-01T00:00:00Z"}}},
          {"spec", {{"entrypoint", "main"}, {"templates", Json::array({{{"name", "main"}, {"dag", {{"tasks", Json::array()}}}}})}}},
          {"status", {{"phase", "Succeeded"}, {"startedAt", "2026-01-01T00:00:00Z"},
                      {"finishedAt", "2026-01-01T00:05:00Z"}, {"progress", "11/11"}, {"nodes", nodes}}}};
}

double MedianMs(net::HttpClient& client, const std::string& url, size_t* bytes) {
  std::vector<double> ms;
  for (int i = 0; i < 20; ++i) {
    net::HttpRequest r;
    r.url = url;
    auto t0 = std::chrono::steady_clock::now();
    auto answer = client.Send(r);
    double took = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!answer.ok() || answer->status != 200) {
      std::cerr << url << ": " << (answer.ok() ? answer->body : answer.status().message()) << "\n";
      std::exit(1);
    }
    *bytes = answer->body.size();
    ms.push_back(took);
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  int64_t log_mb = 100, count = 200;
  bool hold = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc) dir = argv[++i];
    else if (a == "--log_mb" && i + 1 < argc) log_mb = std::stoll(argv[++i]);
    else if (a == "--workflows" && i + 1 < argc) count = std::stoll(argv[++i]);
    else if (a == "--hold") hold = true;
    else { std::cerr << "usage: ui_bench [--dir DIR] [--log_mb 100] [--workflows 200] [--hold]\n"; return 2; }
  }
  bool made_dir = false;
  if (dir.empty()) {
    char pattern[] = "/tmp/loom_ui_bench_XXXXXX";
    dir = mkdtemp(pattern);
    made_dir = true;
  }
  auto fail = [](const Status& s) { std::cerr << "ui_bench: " << s.message() << "\n"; return 1; };
  NoPods pods;
  ui::WorkflowApiOptions options;
  options.db_path = JoinPath(dir, "workflows.db");
  options.home = dir;
  options.artifact_dir = JoinPath(dir, "artifacts");
  options.pods = &pods;
  auto api = ui::WorkflowApi::Create(options);
  if (!api.ok()) return fail(api.status());
  workflow::Store& store = (*api)->store();

  auto t0 = std::chrono::steady_clock::now();
  auto existing = store.ListWorkflows();
  if (!existing.ok()) return fail(existing.status());
  const std::string big = "bench-000";
  const std::string big_node = big + "-1000000";
  if (existing->empty()) {
    for (int i = 0; i < count; ++i) {
      char name[32];
      snprintf(name, sizeof(name), "bench-%03d", i);
      if (Status s = store.CreateWorkflow(MakeWorkflow(name, i)); !s.ok()) return fail(s);
    }
    // 100 MB of numbered lines, appended in 64 KiB chunks as a pod's output arrives.
    std::string chunk;
    int64_t line = 0, written = 0;
    while (written < log_mb << 20) {
      chunk.clear();
      while (chunk.size() < (64 << 10)) {
        chunk += "2026-01-01T00:00:00Z step " + std::to_string(line++) +
                 ": loss 0.1234 accuracy 0.9876 the quick brown fox jumps over the lazy dog\n";
      }
      if (Status s = store.AppendLog(big, big_node, chunk); !s.ok()) return fail(s);
      written += static_cast<int64_t>(chunk.size());
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    printf("store: %lld workflows, a %.1f MB log, written in %.1f s (%s)\n", static_cast<long long>(count),
           written / 1048576.0, secs, options.db_path.c_str());
  }

  ui::WebUiOptions ui_options;
  ui_options.logdir = JoinPath(dir, "runs");
  ui_options.jobs_dir = JoinPath(dir, "jobs");
  ui_options.workflows_enabled = true;
  ui::WorkflowApi* workflows = api->get();
  ui_options.extra_routes = [workflows](const net::HttpServerRequest& r, net::HttpServerResponse* w) {
    return workflows->Handle(r, w);
  };
  auto ui = ui::WebUi::Create(ui_options);
  if (!ui.ok()) return fail(ui.status());
  net::HttpServerOptions http;
  http.num_threads = 4;
  auto server = ui::ServeWebUi(ui->get(), http);
  if (!server.ok()) return fail(server.status());
  const std::string base = "http://127.0.0.1:" + std::to_string((*server)->port());
  auto client = net::HttpClient::Create({});
  if (!client.ok()) return fail(client.status());

  struct Probe {
    const char* what;
    std::string path;
  };
  const std::string log = "/api/v1/workflows/default/" + big + "/nodes/" + big_node + "/log";
  std::vector<Probe> probes = {
      {"list API (GET /api/v1/workflows/default)", "/api/v1/workflows/default"},
      {"one workflow with its nodes", "/api/v1/workflows/default/" + big},
      {"first log page (the tail, 64 KiB)", log + "?offset=-65536&limit=65536"},
      {"a log page in the middle (64 KiB)", log + "?offset=" + std::to_string((log_mb << 20) / 2) + "&limit=65536"},
  };
  printf("%-46s %10s %12s\n", "request", "median ms", "body bytes");
  for (const Probe& p : probes) {
    size_t bytes = 0;
    double ms = MedianMs(**client, base + p.path, &bytes);
    printf("%-46s %10.2f %12zu\n", p.what, ms, bytes);
  }
  if (hold) {
    printf("serving at %s (workflow %s, node %s)\n", base.c_str(), big.c_str(), big_node.c_str());
    fflush(stdout);
    while (true) std::this_thread::sleep_for(std::chrono::hours(1));
  }
  (*server)->Stop();
  api->reset();
  if (made_dir) (void)RemoveAll(dir);  // the 100 MB store of this run
  return 0;
}
