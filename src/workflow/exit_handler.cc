// Exit handlers of steps and tasks (Argo's exit_handler.go); the workflow's onExit runs from
// Operate.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/file.h"
#include "core/logging.h"
#include "core/time.h"
#include "workflow/expr.h"
#include "workflow/launcher.h"
#include "workflow/spec.h"
#include "workflow/vars.h"
#include "workflow/workflow_run.h"

namespace loom::workflow {

bool WorkflowRun::RunStepExitHandler(const Json& step, const Json* child, const ExecOptions& opts) {
  if (!step.contains("onExit") || !child || !Fulfilled(*child)) return true;
  ExecOptions exit_opts = opts;
  exit_opts.on_exit = true;
  std::string name = child->value("name", "") + ".onExit";
  std::string display = child->value("displayName", "") + ".onExit";
  Json* exit = ExecuteTemplate(name, display, {{"template", step["onExit"]}}, exit_opts);
  if (!exit) return false;
  child = Find(name.substr(0, name.size() - 7));
  Json* c = FindId(child->value("id", ""));
  if (c) AddChild(c, exit->value("id", ""));
  return Fulfilled(*exit);
}

}  // namespace loom::workflow
