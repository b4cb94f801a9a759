// WorkflowApi: the workflow engine's controller inside `loom server`, and Argo server's API
// over it (the shapes `argo` and the Argo UI use):
//   POST   /api/v1/workflows/{ns}                 {"workflow": {...}} or {"manifest": "<YAML>"},
//                                                 "submitOptions": {"parameters": ["k=v"], "name",
//                                                 "generateName", "labels": "k=v,k2=v2"}
//                                                 -> the created Workflow (then run here)
//   GET    /api/v1/workflows/{ns}                 {"items": [...]} newest first, without nodes;
//                                                 /api/v1/workflows/ lists every namespace (argo list -A)
//   GET    /api/v1/workflows/{ns}/{name}          the Workflow with status.nodes
//   POST   /api/v1/workflows/{ns}/submit          {"resourceKind": "WorkflowTemplate", "resourceName",
//                                                 "submitOptions": {"parameters", "entryPoint", "name",
//                                                 "generateName", "labels"}} -> a Workflow running
//                                                 the template (workflowTemplateRef), as Argo's
//   PUT    /api/v1/workflows/{ns}/{name}/{stop|terminate|suspend|resume|retry|resubmit}
//   DELETE /api/v1/workflows/{ns}/{name}          {} at once, as Argo server's (a Kubernetes
//                                                 delete): the workflow is gone from the API
//                                                 from then on; a running one is terminated
//                                                 and its row removed once no engine runs it
//   GET    /api/v1/workflows/{ns}/{name}/log?podName=<node id>&logOptions.follow=true
//                                                 Argo's log stream, {"result": {"content",
//                                                 "podName"}} per line, chunked; followed
//                                                 until the workflow ends
//   GET    /api/v1/workflows/{ns}/{name}/nodes/{node id}/log?offset=&limit=   a page (api_util.h)
//   GET    /api/v1/workflow-templates/{ns}[/{name}], DELETE /{name}, POST {"template": {...}}
//          or {"manifest": "<YAML>"} (stamped with metadata.creationTimestamp)
//   GET    /artifacts/{ns}/{name}/{node id}/{artifact}   an output artifact in the local repository
// Namespaces are honoured as Kubernetes does: an object is created in the request's {ns} (a
// manifest naming another is refused) and read or changed only through it (404 otherwise).
// Names are unique per namespace (the store keys by namespace and name: store.h's ObjectKey).
// Workflows submitted here, and on start those left Pending/Running whose run lock is free,
// run in this process through a workflow::Launcher (one thread per workflow calling
// Engine::Run). A deleted workflow that was running finishes its deletion on that thread (no
// HTTP thread waits for its pods to stop).
// Thread-safe: Handle runs on every HTTP event thread at once.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "net/http_server.h"
#include "workflow/engine.h"
#include "workflow/cron_workflow.h"
#include "workflow/launcher.h"
#include "workflow/store.h"

namespace loom::ui {

struct WorkflowApiOptions {
  std::string db_path;             // the Store (LoomHome()/workflows.db)
  std::string home;                // the engine's home: run locks, pod directories (LoomHome())
  std::string artifact_dir;        // the local artifact repository (LoomHome()/artifacts)
  workflow::PodRunner* pods = nullptr;  // required; not owned; outlives the WorkflowApi
};

class WorkflowApi {
 public:
  static StatusOr<std::unique_ptr<WorkflowApi>> Create(const WorkflowApiOptions& options);
  ~WorkflowApi();  // Shutdown()

  // Answers the routes above; false (response untouched) for any other path.
  bool Handle(const net::HttpServerRequest& request, net::HttpServerResponse* response);

  // Starts running every stored workflow that is Pending or Running and not run by another
  // process. Returns how many it started.
  int ResumeUnfinished();
  // Starts the CronWorkflow controller (workflow/cron_workflow.h): a thread that runs the
  // stored CronWorkflows' schedules once a second until Shutdown.
  void StartCron();
  // Asks every run to stop (workflows stay Running in the store and resume on the next start)
  // and waits for the threads.
  void Shutdown();

  workflow::Store& store() { return *store_; }
  workflow::Engine& engine() { return *engine_; }
  // Workflows whose Run is going on in this process (for tests).
  int active_runs();
  // Workflows deleted through the API whose run has not ended yet (for tests).
  int pending_deletions();

 private:
  WorkflowApi(WorkflowApiOptions options) : options_(std::move(options)) {}
  void Workflows(const std::vector<std::string>& parts, const net::HttpServerRequest& request,
                 net::HttpServerResponse* response);
  void Templates(const std::vector<std::string>& parts, const net::HttpServerRequest& request,
                 net::HttpServerResponse* response);
  void Artifact(const std::vector<std::string>& parts, net::HttpServerResponse* response);
  void CronWorkflows(const std::vector<std::string>& parts, const net::HttpServerRequest& request,
                     net::HttpServerResponse* response);
  // POST /api/v1/workflows/{ns}. Every manifest lands in namespace `ns` (one naming another is
  // refused).
  StatusOr<Json> Create(const Json& body, const std::string& ns);
  // POST /api/v1/workflow-templates/{ns}: {"template": {...}} (Argo's) or {"manifest": "<YAML>"}.
  StatusOr<Json> CreateTemplate(const Json& body, const std::string& ns);
  // POST .../submit: a workflow from a stored WorkflowTemplate of the same namespace.
  StatusOr<Json> SubmitFrom(const Json& body, const std::string& ns);
  // Applies Argo's submitOptions to a manifest and the engine's options, submits, starts it.
  StatusOr<Json> SubmitWithOptions(Json manifest, const Json& submit_options, const std::string& ns,
                                   workflow::SubmitOptions options);

  WorkflowApiOptions options_;
  std::unique_ptr<workflow::Store> store_;
  std::unique_ptr<workflow::Engine> engine_;
  // The run lifecycle: submitted workflows run here; a deleted running one goes once it ends.
  std::unique_ptr<workflow::Launcher> launcher_;
  std::unique_ptr<workflow::CronController> cron_;
  std::thread cron_thread_;
  std::mutex cron_mu_;
  std::condition_variable cron_cv_;
  bool cron_stop_ = false;
};

}  // namespace loom::ui
