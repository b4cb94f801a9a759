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

bool WorkflowRun::RunStepExitHandler(const Step& step, const NodeStatus* child, const ExecOptions& opts) {
  if (step.on_exit.empty() || !child || !child->Fulfilled()) return true;
  ExecOptions exit_opts = opts;
  exit_opts.on_exit = true;
  const std::string child_id = child->id;
  std::string name = child->name + ".onExit";
  std::string display = child->display_name + ".onExit";
  Step holder;
  holder.template_name = step.on_exit;
  NodeStatus* exit = ExecuteTemplate(name, display, holder, exit_opts);
  if (!exit) return false;
  AddChild(FindId(child_id), exit->id);
  return exit->Fulfilled();
}

}  // namespace loom::workflow
