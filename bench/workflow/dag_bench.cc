// dag_bench: what the workflow engine adds to running pods, on a 500-node DAG of trivial
// commands (`true`). Two runs over the same LocalPodRunner, same machine, same moment:
//   direct: the pods of each DAG layer started together on threads, layer after layer (what a
//           perfect scheduler would do: no store, no variables, no bookkeeping);
//   engine: the same DAG as an Argo Workflow through Engine::Submit + Engine::Run (SQLite store,
//           node tree, {{...}} resolution, dependency tracking, one log per pod).
// Scheduling overhead per node = (engine wall time - direct wall time) / nodes.
// Usage: dag_bench [--nodes 500] [--width 50] [--rounds 3]   (state in a fresh temporary LOOM home)
//        dag_bench --nodes N [--width W] --manifest FILE       (only writes the DAG as a workflow file)
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/file.h"
#include "core/json.h"
#include "workflow/engine.h"
#include "workflow/pod_runner.h"
#include "workflow/store.h"

using namespace loom;
using namespace loom::workflow;

namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// Layers of `width` tasks; each task after the first layer depends on two tasks of the layer before.
Json MakeDag(int nodes, int width, std::vector<std::vector<int>>* layers) {
  std::mt19937 rng(1);
  Json tasks = Json::array();
  for (int i = 0; i < nodes; ++i) {
    const int layer = i / width;
    if (static_cast<int>(layers->size()) <= layer) layers->emplace_back();
    (*layers)[layer].push_back(i);
    Json t = {{"name", "t" + std::to_string(i)}, {"template", "noop"}};
    if (layer > 0) {
      const auto& prev = (*layers)[layer - 1];
      std::vector<std::string> deps = {"t" + std::to_string(prev[rng() % prev.size()])};
      const std::string second = "t" + std::to_string(prev[rng() % prev.size()]);
      if (second != deps[0]) deps.push_back(second);
      t["dependencies"] = deps;
    }
    tasks.push_back(t);
  }
  return Json{{"apiVersion", "argoproj.io/v1alpha1"},
              {"kind", "Workflow"},
              {"metadata", {{"generateName", "dag-bench-"}}},
              {"spec",
               {{"entrypoint", "main"},
                {"templates",
                 Json::array({{{"name", "main"}, {"dag", {{"tasks", tasks}}}},
                              {{"name", "noop"}, {"container", {{"image", "busybox"}, {"command", {"true"}}}}}})}}}};
}

}  // namespace

int main(int argc, char** argv) {
  int nodes = 500, width = 50, rounds = 3;
  std::string manifest;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--nodes")) nodes = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--width")) width = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--rounds")) rounds = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--manifest")) manifest = argv[i + 1];
    else return fprintf(stderr, "dag_bench: unknown flag %s\n", argv[i]), 2;
  }
  if (nodes <= 0 || width <= 0 || rounds <= 0) return fprintf(stderr, "dag_bench: --nodes, --width, --rounds must be > 0\n"), 2;
  if (!manifest.empty()) {
    // The DAG as a file, for `loom wf submit` (the scale runs in README.md).
    std::vector<std::vector<int>> layers;
    Status s = WriteFileAtomic(manifest, MakeDag(nodes, width, &layers).dump() + "\n");
    if (!s.ok()) return fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
    return 0;
  }
  char tmpl[] = "/var/tmp/loom-dag-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 1;
  const std::string home = tmpl;
  auto store = Store::Open(JoinPath(home, "workflows.db"));
  if (!store.ok()) return fprintf(stderr, "%s\n", store.status().ToString().c_str()), 1;
  PodRunnerOptions pod_options;
  pod_options.home = home;
  auto pods = LocalPodRunner::Create(pod_options);
  if (!pods.ok()) return fprintf(stderr, "%s\n", pods.status().ToString().c_str()), 1;
  EngineOptions engine_options;
  engine_options.store = store->get();
  engine_options.pods = pods->get();
  engine_options.home = home;
  auto engine = Engine::Create(engine_options);
  if (!engine.ok()) return fprintf(stderr, "%s\n", engine.status().ToString().c_str()), 1;

  std::vector<std::vector<int>> layers;
  const Json dag = MakeDag(nodes, width, &layers);
  const Template noop = TemplateFromJson(dag["spec"]["templates"][1], "noop").value();
  printf("dag_bench: %d pods (`true`) in %zu layers of %d, each depending on 2 of the layer before; "
         "pods %s; %u CPUs\n", nodes, layers.size(), width,
         (*pods)->isolated() ? "in their own mount namespace" : "without mount namespaces",
         std::thread::hardware_concurrency());
  std::vector<double> direct_times, engine_times;
  for (int round = 0; round < rounds; ++round) {
    // Direct: layer by layer, every pod of a layer on its own thread.
    std::atomic<int> failed{0};
    auto start = std::chrono::steady_clock::now();
    for (const auto& layer : layers) {
      std::vector<std::thread> threads;
      for (int i : layer) {
        threads.emplace_back([&, i] {
          PodRequest r;
          r.workflow = "direct";
          r.node_id = "direct-" + std::to_string(round) + "-" + std::to_string(i);
          r.node_name = r.node_id;
          r.tmpl = noop;
          r.volumes = Json::array();
          r.pod_dir = JoinPath(home, "pods/direct/" + r.node_id);
          if ((*pods)->Run(r, **store).phase != "Succeeded") ++failed;
        });
      }
      for (auto& t : threads) t.join();
    }
    direct_times.push_back(Seconds(start));
    // Engine: the same DAG as a workflow.
    start = std::chrono::steady_clock::now();
    SubmitOptions submit;
    submit.source_name = "dag-bench";
    auto name = (*engine)->Submit(dag, submit);
    if (!name.ok()) return fprintf(stderr, "submit: %s\n", name.status().ToString().c_str()), 1;
    Status s = (*engine)->Run(*name);
    engine_times.push_back(Seconds(start));
    auto wf = (*store)->GetWorkflow(*name);
    const std::string phase = wf.ok() ? (*wf)["status"].value("phase", "") : "?";
    const size_t count = wf.ok() ? (*wf)["status"]["nodes"].size() : 0;
    printf("round %d: direct %.3f s (%d failed), engine %.3f s (%s, %zu nodes%s)\n", round + 1, direct_times.back(),
           failed.load(), engine_times.back(), phase.c_str(), count, s.ok() ? "" : (", " + s.ToString()).c_str());
    if (phase != "Succeeded" || failed > 0) return 1;
  }
  std::sort(direct_times.begin(), direct_times.end());
  std::sort(engine_times.begin(), engine_times.end());
  const double direct = direct_times[direct_times.size() / 2], with_engine = engine_times[engine_times.size() / 2];
  printf("median of %d: direct %.3f s, engine %.3f s\n", rounds, direct, with_engine);
  printf("scheduling overhead per node: %.2f ms (engine - direct) / %d\n", (with_engine - direct) * 1000 / nodes, nodes);
  printf("throughput: %.0f nodes/s through the engine (%.0f nodes/s direct)\n", nodes / with_engine, nodes / direct);
  (void)RemoveAll(home);
  return 0;
}
