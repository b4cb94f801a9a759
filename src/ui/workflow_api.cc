#include "ui/workflow_api.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <memory>

#include "core/file.h"
#include "core/json.h"
#include "core/logging.h"
#include "core/time.h"
#include "ui/api_util.h"
#include "ui/safe_path.h"
#include "workflow/spec.h"

namespace loom::ui {

namespace {

// Bytes of one pod's log read per step of Argo's log stream.
constexpr int64_t kLogStreamChunk = 256 << 10;

// The namespace a workflow or template is in: metadata.namespace, "default" when it names none
// (as the engine stamps a submitted workflow).
std::string NamespaceOf(const Json& object) {
  if (!object.contains("metadata") || !object["metadata"].is_object()) return "default";
  const Json& ns = object["metadata"].value("namespace", Json("default"));
  return ns.is_string() ? ns.get<std::string>() : "";
}

// Puts a manifest submitted to /{ns} in that namespace; one that names another is refused, as
// the Kubernetes API refuses it.
Status PlaceInNamespace(Json* manifest, const std::string& ns, const std::string& source) {
  if (!manifest->is_object()) return InvalidArgument(source + ": must be an object");
  Json& meta = (*manifest)["metadata"];
  if (!meta.is_object()) return InvalidArgument(source + ": metadata: must be an object");
  if (meta.contains("namespace") && meta["namespace"] != ns)
    return InvalidArgument(source + ": metadata.namespace: " + meta["namespace"].dump() +
                           " does not match the namespace of the request (\"" + ns + "\")");
  meta["namespace"] = ns;
  return OkStatus();
}

std::pair<std::string, std::string> SplitKeyValue(const std::string& text) {
  size_t eq = text.find('=');
  if (eq == std::string::npos) return {text, ""};
  return {text.substr(0, eq), text.substr(eq + 1)};
}

}  // namespace

StatusOr<std::unique_ptr<WorkflowApi>> WorkflowApi::Create(const WorkflowApiOptions& options) {
  if (options.pods == nullptr) return InvalidArgument("WorkflowApi: no pod runner");
  std::unique_ptr<WorkflowApi> api(new WorkflowApi(options));
  LOOM_ASSIGN_OR_RETURN(api->store_, workflow::Store::Open(options.db_path));
  workflow::EngineOptions engine_options;
  engine_options.store = api->store_.get();
  engine_options.pods = options.pods;
  engine_options.home = options.home;
  LOOM_ASSIGN_OR_RETURN(api->engine_, workflow::Engine::Create(engine_options));
  api->launcher_ = std::make_unique<workflow::Launcher>(api->store_.get(), api->engine_.get(), options.home);
  return api;
}

WorkflowApi::~WorkflowApi() { Shutdown(); }

int WorkflowApi::active_runs() { return launcher_->active_runs(); }
int WorkflowApi::pending_deletions() { return launcher_->pending_deletions(); }
int WorkflowApi::ResumeUnfinished() { return launcher_->ResumeUnfinished(); }
void WorkflowApi::StartCron() {
  workflow::CronActions actions;
  actions.submit = [this](const Json& wf) -> StatusOr<std::string> {
    workflow::SubmitOptions options;
    options.source_name = "CronWorkflow " + wf["metadata"]["labels"].value("workflows.argoproj.io/cron-workflow", "");
    LOOM_ASSIGN_OR_RETURN(std::string name, engine_->Submit(wf, options));
    launcher_->Start(name);
    return name;
  };
  actions.phase = [this](const std::string& name) -> StatusOr<std::string> {
    LOOM_ASSIGN_OR_RETURN(Json wf, store_->GetWorkflow(name));
    return wf.value("status", Json::object()).value("phase", "");
  };
  actions.terminate = [this](const std::string& name) { return engine_->Terminate(name); };
  actions.remove = [this](const std::string& name) { return launcher_->Delete(name); };
  actions.children = [this](const std::string& cron) -> StatusOr<std::vector<Json>> {
    LOOM_ASSIGN_OR_RETURN(std::vector<Json> all, store_->ListWorkflows());
    std::vector<Json> out;
    for (const Json& wf : all) {
      const Json labels = wf["metadata"].value("labels", Json::object());
      const Json status = wf.value("status", Json::object());
      if (!labels.is_object() || labels.value("workflows.argoproj.io/cron-workflow", "") != cron) continue;
      if (!workflow::IsCompletedPhase(status.value("phase", ""))) continue;
      out.push_back({{"name", wf["metadata"].value("name", "")}, {"phase", status.value("phase", "")},
                     {"finishedAt", status.value("finishedAt", "")}});
    }
    return out;
  };
  cron_ = std::make_unique<workflow::CronController>(store_.get(), std::move(actions));
  cron_thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(cron_mu_);
    while (!cron_stop_) {
      lock.unlock();
      cron_->Tick(static_cast<int64_t>(std::time(nullptr)));
      launcher_->DeleteExpired(static_cast<double>(std::time(nullptr)));  // spec.ttlStrategy
      lock.lock();
      cron_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return cron_stop_; });
    }
  });
}

void WorkflowApi::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(cron_mu_);
    cron_stop_ = true;
  }
  cron_cv_.notify_all();
  if (cron_thread_.joinable()) cron_thread_.join();
  if (launcher_) launcher_->Shutdown();
}

bool WorkflowApi::Handle(const net::HttpServerRequest& request, net::HttpServerResponse* response) {
  std::vector<std::string> parts = SplitPath(request.path);
  if (parts.size() >= 3 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "workflows") {
    Workflows(parts, request, response);
    return true;
  }
  if (parts.size() >= 3 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "workflow-templates") {
    Templates(parts, request, response);
    return true;
  }
  if (parts.size() >= 3 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "cron-workflows") {
    CronWorkflows(parts, request, response);
    return true;
  }
  if (parts.size() >= 1 && parts[0] == "artifacts") {
    if (request.method != "GET") SetError(InvalidArgument("artifacts are read-only"), response);
    else Artifact(parts, response);
    return true;
  }
  return false;
}

StatusOr<Json> WorkflowApi::Create(const Json& body, const std::string& ns) {
  if (!body.is_object()) return InvalidArgument("body: must be a JSON object");
  Json manifest;
  workflow::SourceLines lines;
  workflow::SubmitOptions options;
  if (body.contains("manifest")) {
    if (!body["manifest"].is_string()) return InvalidArgument("manifest: must be a string (YAML or JSON)");
    // sourceName: the file the text came from (the CLI sends it), so errors read file:line.
    options.source_name = body.value("sourceName", "manifest");
    if (options.source_name.empty()) options.source_name = "manifest";
    LOOM_ASSIGN_OR_RETURN(manifest,
                          workflow::LoadManifest(body["manifest"].get<std::string>(), options.source_name, &lines));
    options.source_lines = &lines;
  } else if (body.contains("workflow") && body["workflow"].is_object()) {
    options.source_name = "workflow";
    LOOM_ASSIGN_OR_RETURN(manifest, workflow::LoadManifest(body["workflow"].dump(), "workflow"));
  } else {
    return InvalidArgument("body: needs \"workflow\" (an object) or \"manifest\" (YAML text)");
  }
  return SubmitWithOptions(std::move(manifest), body.value("submitOptions", Json::object()), ns,
                           std::move(options));
}

StatusOr<Json> WorkflowApi::SubmitWithOptions(Json manifest, const Json& submit, const std::string& ns,
                                              workflow::SubmitOptions options) {
  if (!submit.is_object()) return InvalidArgument("submitOptions: must be an object");
  LOOM_RETURN_IF_ERROR(PlaceInNamespace(&manifest, ns, options.source_name));
  const Json parameters = submit.value("parameters", Json::array());
  if (!parameters.is_array()) return InvalidArgument("submitOptions.parameters: must be a list of \"name=value\"");
  for (const Json& p : parameters) {
    if (!p.is_string()) return InvalidArgument("submitOptions.parameters: each must be \"name=value\"");
    auto kv = SplitKeyValue(p.get<std::string>());
    if (kv.first.empty() || p.get<std::string>().find('=') == std::string::npos)
      return InvalidArgument("submitOptions.parameters: \"" + p.get<std::string>() + "\" is not name=value");
    options.parameters.push_back(kv);
  }
  for (const char* field : {"name", "generateName", "labels", "entryPoint"}) {
    if (submit.contains(field) && !submit[field].is_string())
      return InvalidArgument(std::string("submitOptions.") + field + ": must be a string");
  }
  options.name = submit.value("name", "");
  if (std::string generate = submit.value("generateName", ""); !generate.empty())
    manifest["metadata"]["generateName"] = generate;
  if (std::string entry = submit.value("entryPoint", ""); !entry.empty()) manifest["spec"]["entrypoint"] = entry;
  std::string labels = submit.value("labels", "");
  size_t start = 0;
  while (start < labels.size()) {
    size_t end = labels.find(',', start);
    if (end == std::string::npos) end = labels.size();
    auto kv = SplitKeyValue(labels.substr(start, end - start));
    if (!kv.first.empty()) options.labels[kv.first] = kv.second;
    start = end + 1;
  }
  LOOM_ASSIGN_OR_RETURN(std::string name, engine_->Submit(manifest, options));
  launcher_->Start(name);
  return store_->GetWorkflow(name);
}

// Argo's WorkflowSubmitRequest for a WorkflowTemplate (the kinds its server accepts for one):
// the workflow Argo makes of it (ConvertWorkflowTemplateToWorkflow): generateName "<template>-",
// the workflow-template label, spec.workflowTemplateRef, then the submitOptions.
StatusOr<Json> WorkflowApi::SubmitFrom(const Json& body, const std::string& ns) {
  if (!body.is_object()) return InvalidArgument("body: must be a JSON object");
  const std::string kind = body.contains("resourceKind") && body["resourceKind"].is_string()
                               ? body["resourceKind"].get<std::string>() : "";
  if (kind != "WorkflowTemplate" && kind != "workflowtemplate" && kind != "workflowtemplates" && kind != "wftmpl")
    return InvalidArgument("resourceKind: \"" + kind + "\" is not supported for submitting (WorkflowTemplate is)");
  const std::string name = body.contains("resourceName") && body["resourceName"].is_string()
                               ? body["resourceName"].get<std::string>() : "";
  if (!IsSafeName(name)) return InvalidArgument("resourceName: \"" + name + "\" is not a template name");
  auto stored = store_->GetTemplate(workflow::ObjectKey(ns, name));
  if (stored.status().code() == StatusCode::kNotFound)
    return NotFound("workflow template \"" + name + "\" not found in namespace \"" + ns + "\"");
  if (!stored.ok()) return stored.status();
  Json manifest = {{"apiVersion", "argoproj.io/v1alpha1"},
                   {"kind", "Workflow"},
                   {"metadata", {{"generateName", name + "-"},
                                 {"labels", {{"workflows.argoproj.io/workflow-template", name}}}}},
                   {"spec", {{"workflowTemplateRef", {{"name", name}}}}}};
  workflow::SubmitOptions options;
  options.source_name = "WorkflowTemplate " + name;
  return SubmitWithOptions(std::move(manifest), body.value("submitOptions", Json::object()), ns,
                           std::move(options));
}

namespace {

// Argo's log stream: {"result": {"content": <line>, "podName": <node id>}} per line of every pod
// (or of podName), pods in the order they started. Without follow it ends once what is stored
// has been sent; with follow it waits for more (HttpServerResponse::stream sets the connection
// aside meanwhile) until the workflow is finished and every log read to its end.
class ArgoLogStream {
 public:
  ArgoLogStream(workflow::Store* store, std::string name, std::string pod, bool follow)
      : store_(store), name_(std::move(name)), pod_(std::move(pod)), follow_(follow) {}

  // Appends the next lines to *out; false at the end.
  bool Next(std::string* out) {
    auto wf = store_->GetWorkflow(name_);
    if (!wf.ok()) return false;
    const Json nodes = (*wf)["status"].value("nodes", Json::object());
    std::vector<std::pair<std::string, std::string>> pods;  // (startedAt, id)
    for (const auto& [id, node] : nodes.items()) {
      if (!pod_.empty() ? id == pod_ : node.value("type", "") == "Pod")
        pods.emplace_back(node.value("startedAt", ""), id);
    }
    std::sort(pods.begin(), pods.end());
    bool read_any = false;
    for (const auto& [started, id] : pods) {
      Cursor& cursor = cursors_[id];
      int64_t total = 0;
      auto bytes = store_->ReadLog(name_, id, cursor.offset, kLogStreamChunk, &total);
      if (!bytes.ok() || bytes->empty()) continue;
      read_any = true;
      cursor.offset += static_cast<int64_t>(bytes->size());
      cursor.partial += *bytes;
      size_t begin = 0, end;
      while ((end = cursor.partial.find('\n', begin)) != std::string::npos) {
        AppendLine(id, cursor.partial.substr(begin, end - begin), out);
        begin = end + 1;
      }
      cursor.partial.erase(0, begin);
      if (out->size() >= static_cast<size_t>(kLogStreamChunk)) return true;
    }
    if (read_any) return true;
    // Everything stored has been read: the end, unless following a workflow still running.
    const std::string phase = (*wf)["status"].value("phase", "");
    if (follow_ && !workflow::IsCompletedPhase(phase)) return true;
    for (auto& [id, cursor] : cursors_) {
      if (!cursor.partial.empty()) AppendLine(id, cursor.partial, out);
      cursor.partial.clear();
    }
    return !out->empty();
  }

 private:
  struct Cursor {
    int64_t offset = 0;
    std::string partial;  // a line not ended yet
  };
  static void AppendLine(const std::string& id, const std::string& line, std::string* out) {
    Json j = {{"result", {{"content", line}, {"podName", id}}}};
    *out += j.dump(-1, ' ', false, Json::error_handler_t::replace);
    *out += '\n';
  }

  workflow::Store* store_;
  std::string name_, pod_;
  bool follow_;
  std::map<std::string, Cursor> cursors_;
};

}  // namespace

void WorkflowApi::Workflows(const std::vector<std::string>& parts, const net::HttpServerRequest& request,
                            net::HttpServerResponse* response) {
  const std::string& method = request.method;
  // GET /api/v1/workflows/ lists every namespace (argo list -A); otherwise one namespace's.
  const bool all_namespaces = parts.size() == 3 && method == "GET";
  if (!all_namespaces && (parts.size() < 4 || !IsSafeName(parts[3])))
    return SetError(NotFound("the workflow API is /api/v1/workflows/{namespace}/..."), response);
  const std::string ns = all_namespaces ? "" : parts[3];
  if (parts.size() <= 4) {
    if (method == "GET") {
      auto list = store_->ListWorkflows();
      if (!list.ok()) return SetError(list.status(), response);
      Json items = Json::array();
      for (Json& wf : *list) {
        if ((all_namespaces || NamespaceOf(wf) == ns) && !launcher_->IsDeleting(workflow::ObjectKey(wf)))
          items.push_back(std::move(wf));
      }
      return SetJson({{"metadata", Json::object()}, {"items", std::move(items)}}, response);
    }
    if (method == "POST") {
      auto body = ParseJson(request.body, "request body");
      if (!body.ok()) return SetError(body.status(), response);
      auto created = Create(*body, ns);
      if (!created.ok()) return SetError(created.status(), response);
      return SetJson(*created, response);
    }
    return SetError(InvalidArgument(method + " is not allowed here"), response);
  }
  if (parts.size() == 5 && parts[4] == "submit" && method == "POST") {
    auto body = ParseJson(request.body, "request body");
    if (!body.ok()) return SetError(body.status(), response);
    auto created = SubmitFrom(*body, ns);
    if (!created.ok()) return SetError(created.status(), response);
    return SetJson(*created, response);
  }
  if (!IsSafeName(parts[4]))
    return SetError(InvalidArgument("workflow name \"" + parts[4] + "\" is not valid"), response);
  // Names are unique per namespace: each namespace sees its own workflows only (another's of
  // the same name is another workflow), as in Kubernetes. From here on `name` is the key.
  const std::string name = workflow::ObjectKey(ns, parts[4]);
  auto not_found = NotFound("workflow \"" + parts[4] + "\" not found in namespace \"" + ns + "\"");
  // A deleted workflow whose run is still ending is gone already, as in Argo.
  if (launcher_->IsDeleting(name)) return SetError(not_found, response);
  auto found = store_->GetWorkflow(name);
  if (found.status().code() == StatusCode::kNotFound) return SetError(not_found, response);
  if (!found.ok()) return SetError(found.status(), response);
  if (parts.size() == 5) {
    if (method == "GET") return SetJson(*found, response);
    if (method == "DELETE") {
      if (Status s = launcher_->Delete(name); !s.ok()) return SetError(s, response);
      return SetJson(Json::object(), response);
    }
    return SetError(InvalidArgument(method + " is not allowed here"), response);
  }
  if (parts.size() == 6 && method == "PUT") {
    const std::string& verb = parts[5];
    StatusOr<std::string> target = name;
    Status s;
    if (verb == "stop") s = engine_->Stop(name);
    else if (verb == "terminate") s = engine_->Terminate(name);
    else if (verb == "suspend") s = engine_->Suspend(name);
    else if (verb == "resume") s = engine_->Resume(name);
    else if (verb == "retry") target = engine_->Retry(name);
    else if (verb == "resubmit") target = engine_->Resubmit(name);
    else return SetError(NotFound("no action \"" + verb + "\""), response);
    if (!s.ok()) return SetError(s, response);
    if (!target.ok()) return SetError(target.status(), response);
    // Whatever was asked, an engine must be there to act on it (a no-op for finished ones).
    launcher_->Start(*target);
    auto wf = store_->GetWorkflow(*target);
    if (!wf.ok()) return SetError(wf.status(), response);
    return SetJson(*wf, response);
  }
  if (parts.size() == 6 && parts[5] == "log" && method == "GET") {
    auto wf = store_->GetWorkflow(name);
    if (!wf.ok()) return SetError(wf.status(), response);
    const std::string pod = request.Query("podName");
    if (!pod.empty() && !(*wf)["status"].value("nodes", Json::object()).contains(pod))
      return SetError(NotFound("workflow " + name + " has no node \"" + pod + "\""), response);
    const bool follow = request.Query("logOptions.follow") == "true";
    auto stream = std::make_shared<ArgoLogStream>(store_.get(), name, pod, follow);
    response->status = 200;
    response->content_type = "application/json";
    response->stream = [stream](std::string* out) { return stream->Next(out); };
    return;
  }
  if (parts.size() == 8 && parts[5] == "nodes" && parts[7] == "log" && method == "GET") {
    auto wf = store_->GetWorkflow(name);
    if (!wf.ok()) return SetError(wf.status(), response);
    const std::string& node = parts[6];
    if (!(*wf)["status"].contains("nodes") || !(*wf)["status"]["nodes"].contains(node))
      return SetError(NotFound("workflow " + name + " has no node \"" + node + "\""), response);
    auto offset = QueryInt(request, "offset", 0);
    auto limit = QueryInt(request, "limit", kDefaultLogPage);
    if (!offset.ok()) return SetError(offset.status(), response);
    if (!limit.ok()) return SetError(limit.status(), response);
    auto page = ReadLogPage(*offset, *limit, [&](int64_t o, int64_t l, int64_t* total) {
      return store_->ReadLog(name, node, o, l, total);
    });
    if (!page.ok()) return SetError(page.status(), response);
    return SetJson(*page, response);
  }
  SetError(NotFound("no API at " + request.path), response);
}

StatusOr<Json> WorkflowApi::CreateTemplate(const Json& body, const std::string& ns) {
  if (!body.is_object()) return InvalidArgument("body: must be a JSON object");
  Json manifest;
  workflow::SourceLines lines;
  std::string source = "template";
  if (body.contains("manifest") && body["manifest"].is_string()) {
    // The page's editor sends the text, so errors read manifest:line.
    source = "manifest";
    LOOM_ASSIGN_OR_RETURN(manifest, workflow::LoadManifest(body["manifest"].get<std::string>(), source, &lines));
  } else if (body.contains("template") && body["template"].is_object()) {
    LOOM_ASSIGN_OR_RETURN(manifest, workflow::LoadManifest(body["template"].dump(), source));
  } else {
    return InvalidArgument("body: needs \"template\" (a WorkflowTemplate) or \"manifest\" (its YAML text)");
  }
  if (std::string kind = manifest.value("kind", ""); kind != "WorkflowTemplate")
    return InvalidArgument(source + ": kind: expected WorkflowTemplate, got \"" + kind + "\"");
  LOOM_RETURN_IF_ERROR(PlaceInNamespace(&manifest, ns, source));
  Json& meta = manifest["metadata"];
  const std::string name = meta.value("name", "");
  if (!IsSafeName(name)) return InvalidArgument(source + ": metadata.name: \"" + name + "\" is not a valid name");
  LOOM_RETURN_IF_ERROR(workflow::Lint(manifest, source, store_.get(), lines.empty() ? nullptr : &lines));
  // Created now, as Kubernetes stamps it; a replaced template keeps the time it was created.
  if (!meta.contains("creationTimestamp")) {
    auto old = store_->GetTemplate(workflow::ObjectKey(ns, name));
    meta["creationTimestamp"] = old.ok() && (*old)["metadata"].contains("creationTimestamp")
                                    ? (*old)["metadata"]["creationTimestamp"] : Json(Rfc3339(static_cast<double>(time(nullptr))));
  }
  LOOM_RETURN_IF_ERROR(store_->PutTemplate(manifest));
  return manifest;
}

// GET /api/v1/cron-workflows/{ns} (Argo's ListCronWorkflows: {"items"}) and .../{name}: read
// only; they are made with `loom cron` or `loom apply`. Each item gets Loom's
// status.nextScheduledTime (the page's "next run").
void WorkflowApi::CronWorkflows(const std::vector<std::string>& parts, const net::HttpServerRequest& request,
                                net::HttpServerResponse* response) {
  if (request.method != "GET" || parts.size() < 4 || parts.size() > 5 || !IsSafeName(parts[3]))
    return SetError(NotFound("the cron workflow API is GET /api/v1/cron-workflows/{namespace}[/{name}]"), response);
  const std::string ns = parts[3];
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  auto with_next = [now](Json cron) {
    auto schedules = workflow::CronSchedules(cron.value("spec", Json::object()));
    const int64_t next = schedules.ok() ? workflow::NextCronTime(*schedules, now) : 0;
    if (next != 0) cron["status"]["nextScheduledTime"] = Rfc3339(static_cast<double>(next));
    return cron;
  };
  if (parts.size() == 5) {
    auto cron = store_->GetObject(workflow::kCronWorkflow, parts[4]);
    if (!cron.ok() || NamespaceOf(*cron) != ns) {
      return SetError(NotFound("cronworkflows.argoproj.io \"" + parts[4] + "\" not found"), response);
    }
    return SetJson(with_next(std::move(*cron)), response);
  }
  auto list = store_->ListObjects(workflow::kCronWorkflow);
  if (!list.ok()) return SetError(list.status(), response);
  Json items = Json::array();
  for (Json& c : *list) {
    if (NamespaceOf(c) == ns) items.push_back(with_next(std::move(c)));
  }
  return SetJson({{"metadata", Json::object()}, {"items", std::move(items)}}, response);
}

void WorkflowApi::Templates(const std::vector<std::string>& parts, const net::HttpServerRequest& request,
                            net::HttpServerResponse* response) {
  const std::string& method = request.method;
  const bool all_namespaces = parts.size() == 3 && method == "GET";
  if (!all_namespaces && (parts.size() < 4 || !IsSafeName(parts[3])))
    return SetError(NotFound("the template API is /api/v1/workflow-templates/{namespace}/..."), response);
  const std::string ns = all_namespaces ? "" : parts[3];
  if (parts.size() <= 4 && method == "GET") {
    auto list = store_->ListTemplates();
    if (!list.ok()) return SetError(list.status(), response);
    Json items = Json::array();
    for (Json& t : *list) {
      if (all_namespaces || NamespaceOf(t) == ns) items.push_back(std::move(t));
    }
    return SetJson({{"metadata", Json::object()}, {"items", std::move(items)}}, response);
  }
  if (parts.size() == 4 && method == "POST") {
    auto body = ParseJson(request.body, "request body");
    if (!body.ok()) return SetError(body.status(), response);
    auto created = CreateTemplate(*body, ns);
    if (!created.ok()) return SetError(created.status(), response);
    return SetJson(*created, response);
  }
  if (parts.size() == 5) {
    auto t = store_->GetTemplate(workflow::ObjectKey(ns, parts[4]));
    if (t.status().code() == StatusCode::kNotFound)
      return SetError(NotFound("workflow template \"" + parts[4] + "\" not found in namespace \"" + ns + "\""),
                      response);
    if (!t.ok()) return SetError(t.status(), response);
    if (method == "GET") return SetJson(*t, response);
  }
  if (parts.size() == 5 && method == "DELETE") {
    if (Status s = store_->DeleteTemplate(workflow::ObjectKey(ns, parts[4])); !s.ok()) return SetError(s, response);
    return SetJson(Json::object(), response);
  }
  SetError(NotFound("no API at " + request.path), response);
}

// /artifacts/{ns}/{workflow}/{node id}/{artifact name}: an output artifact the engine saved in the
// local repository (s3 with a key and no bucket, Argo's default repository), as Argo server's
// artifact download. The key goes through ResolveUnder: a stored key cannot reach outside.
void WorkflowApi::Artifact(const std::vector<std::string>& parts, net::HttpServerResponse* response) {
  if (parts.size() != 5) return SetError(NotFound("artifacts are /artifacts/{ns}/{workflow}/{node}/{name}"), response);
  auto wf = store_->GetWorkflow(workflow::ObjectKey(parts[1], parts[2]));
  if (wf.status().code() == StatusCode::kNotFound)
    return SetError(NotFound("workflow \"" + parts[2] + "\" not found in namespace \"" + parts[1] + "\""), response);
  if (!wf.ok()) return SetError(wf.status(), response);
  const Json nodes = (*wf)["status"].value("nodes", Json::object());
  if (!nodes.contains(parts[3])) return SetError(NotFound("no node \"" + parts[3] + "\""), response);
  const Json& node = nodes[parts[3]];
  const Json artifacts = node.contains("outputs") ? node["outputs"].value("artifacts", Json::array()) : Json::array();
  for (const Json& a : artifacts) {
    if (a.value("name", "") != parts[4]) continue;
    if (!a.contains("s3") || !a["s3"].is_object() || !a["s3"].value("bucket", "").empty())
      return SetError(FailedPrecondition("artifact " + parts[4] + " is not in the local repository"), response);
    auto path = ResolveUnder(options_.artifact_dir, a["s3"].value("key", ""), "artifact key");
    if (!path.ok()) return SetError(path.status(), response);
    auto data = ReadFile(*path);
    if (!data.ok()) return SetError(data.status(), response);
    response->status = 200;
    response->content_type = "application/octet-stream";
    response->body = std::move(*data);
    response->headers.push_back({"Content-Disposition", "attachment; filename=\"" + Basename(*path) + "\""});
    return;
  }
  SetError(NotFound("node " + parts[3] + " has no output artifact \"" + parts[4] + "\""), response);
}

}  // namespace loom::ui
