// workflow_engine_run HOME NAME: runs (or resumes) workflow NAME stored in HOME/workflows.db with
// the real LocalPodRunner, as `loom workflow resume` does; exits 0 when it Succeeded. The
// kill-and-resume test kills this process with SIGKILL halfway and starts it again.
#include <cstdio>

#include "core/file.h"
#include "workflow/engine.h"
#include "workflow/pod_runner.h"
#include "workflow/store.h"

int main(int argc, char** argv) {
  using namespace loom;
  using namespace loom::workflow;
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s HOME NAME\n", argv[0]);
    return 2;
  }
  std::string home = argv[1], name = argv[2];
  auto store = Store::Open(JoinPath(home, "workflows.db"));
  if (!store.ok()) return std::fprintf(stderr, "%s\n", store.status().ToString().c_str()), 1;
  PodRunnerOptions pod_options;
  pod_options.home = home;
  auto pods = LocalPodRunner::Create(pod_options);
  if (!pods.ok()) return std::fprintf(stderr, "%s\n", pods.status().ToString().c_str()), 1;
  EngineOptions options;
  options.store = store->get();
  options.pods = pods->get();
  options.home = home;
  auto engine = Engine::Create(options);
  if (!engine.ok()) return std::fprintf(stderr, "%s\n", engine.status().ToString().c_str()), 1;
  Status s = (*engine)->Run(name);
  if (!s.ok()) return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
  auto wf = (*store)->GetWorkflow(name);
  std::string phase = wf.ok() ? (*wf)["status"].value("phase", "") : "?";
  std::printf("%s %s\n", name.c_str(), phase.c_str());
  return phase == "Succeeded" ? 0 : 1;
}
