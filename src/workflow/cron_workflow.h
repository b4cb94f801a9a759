// CronWorkflows (argoproj.io/v1alpha1), as Argo's cron controller (workflow/cron) runs them: the
// manifest checked (LintCronWorkflow), and CronController, which `loom server` ticks once a
// second: for each stored CronWorkflow it settles finished workflows out of status.active
// (counting succeeded/failed, keeping successfulJobsHistoryLimit and failedJobsHistoryLimit of
// them), and when a schedule came due submits the child workflow `<cron>-<unix time>` unless
// `suspend`, `when` or `concurrencyPolicy` says otherwise; status (lastScheduledTime, active,
// succeeded, failed, phase, conditions) is written back as Argo writes it. A schedule that came
// due while no server ran is run on start only within startingDeadlineSeconds, as Argo does.
// Nothing here reads a clock: Tick takes the time.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "core/json.h"
#include "core/status.h"
#include "workflow/cron.h"
#include "workflow/spec.h"

namespace loom::workflow {

class Store;

// Checks a CronWorkflow: its own fields (each acted on, or refused by name), every schedule, the
// timezone, and spec.workflowSpec as a Workflow's spec (with `store`, its template references).
// Errors are `source:line: spec.field: why`.
Status LintCronWorkflow(const Json& manifest, const std::string& source, const Store* store,
                        const SourceLines* lines = nullptr);

// The schedules of a CronWorkflow's spec (`schedules`, else `schedule`) in its timezone.
StatusOr<std::vector<CronSchedule>> CronSchedules(const Json& spec);
// The first time after `after` any of them fires (0: none).
int64_t NextCronTime(const std::vector<CronSchedule>& schedules, int64_t after);

// The Workflow a CronWorkflow submits for the time `scheduled` (Argo's
// ConvertCronWorkflowToWorkflowWithProperties): named <cron>-<unix seconds>, its
// workflowMetadata, the label workflows.argoproj.io/cron-workflow and the annotation
// workflows.argoproj.io/scheduled-time.
Json CronChildWorkflow(const Json& cron, int64_t scheduled);

// What the controller does to workflows: the server's engine and launcher, or a test's fakes.
struct CronActions {
  std::function<StatusOr<std::string>(const Json& workflow)> submit;  // returns the name
  std::function<StatusOr<std::string>(const std::string& name)> phase;  // NotFound when gone
  std::function<Status(const std::string& name)> terminate;
  std::function<Status(const std::string& name)> remove;
  // Finished child workflows of a cron: name -> {phase, finishedAt}.
  std::function<StatusOr<std::vector<Json>>(const std::string& cron)> children;
};

class CronController {
 public:
  CronController(Store* store, CronActions actions) : store_(store), actions_(std::move(actions)) {}
  // One pass over every stored CronWorkflow at time `now` (seconds since the epoch).
  void Tick(int64_t now);

 private:
  Status TickOne(Json cron, int64_t now);
  Store* store_;
  CronActions actions_;
  // Per cron: its schedules (timezone|schedules|schedule) and the next time they come due.
  std::map<std::string, std::pair<std::string, int64_t>> next_due_;
};

}  // namespace loom::workflow
