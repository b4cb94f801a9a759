#include "workflow/pod_runner.h"

#include "workflow/http_template.h"

#include <signal.h>
#include <unistd.h>

#include "core/file.h"
#include "core/logging.h"
#include "workflow/http_template.h"
#include "workflow/pod_common.h"
#include "workflow/pod_spec_patch.h"
#include "workflow/resource.h"
#include "workflow/spec.h"

namespace loom::workflow {

void LocalPodRunner::Reclaim(const std::string& workflow, const std::set<std::string>& node_ids) {
  std::string why;
  container::Podman* podman = options_.runtime != Runtime::kProcess ? podman_->Get(&why) : nullptr;
  if (podman != nullptr) {
    for (const std::string& node : node_ids) {
      Status s = podman->RemoveLabelled({{"loom.workflow", workflow}, {"loom.node", node}});
      if (!s.ok()) LOOM_LOG(WARNING) << "workflow " << workflow << ": " << s.message();
    }
  }
  for (pid_t pid : PodProcesses(workflow, node_ids)) {
    if (kill(pid, SIGKILL) == 0) {
      LOOM_LOG(INFO) << "workflow " << workflow << ": killed pid " << pid << ", left running by an earlier attempt of one of its pods";
    }
  }
}

StatusOr<std::unique_ptr<LocalPodRunner>> LocalPodRunner::Create(const PodRunnerOptions& options) {
  PodRunnerOptions o = options;
  if (o.home.empty()) o.home = LoomHome();
  if (o.artifacts.repository_dir.empty()) o.artifacts.repository_dir = JoinPath(o.home, "artifacts");
  if (o.jobs_dir.empty()) o.jobs_dir = JoinPath(o.home, "jobs");
  if (o.objects_dir.empty()) o.objects_dir = JoinPath(o.home, "objects");
  o.podman.stop_grace_secs = o.kill_grace_secs;
  if (o.kill_grace_secs < 0) return InvalidArgument("kill_grace_secs: must not be negative");
  if (o.bin_dir.empty()) {
    char self[4096];
    const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) o.bin_dir = Dirname(std::string(self, static_cast<size_t>(n)));
  }
  bool isolated = false;
  switch (o.isolation) {
    case PodRunnerOptions::Isolation::kAuto: isolated = MountNamespacesAvailable(); break;
    case PodRunnerOptions::Isolation::kMountNamespace:
      if (!MountNamespacesAvailable()) {
        return FailedPrecondition("pods: mount namespaces are not available here (needs root and unshare(CLONE_NEWNS))");
      }
      isolated = true;
      break;
    case PodRunnerOptions::Isolation::kNone: break;
  }
  if (o.pid_namespace && !(isolated && PidNamespacesAvailable())) {
    return FailedPrecondition("pods: PID namespaces need mount namespaces and unshare(CLONE_NEWPID) (root)");
  }
  return std::unique_ptr<LocalPodRunner>(new LocalPodRunner(std::move(o), isolated));
}

PodResult LocalPodRunner::Run(const PodRequest& request, Store& store) {
  if (request.tmpl.pod_spec_patch) {  // the engine merges it before; a caller handing a template may not have
    PodRequest patched = request;
    if (Status s = ApplyPodSpecPatches({*request.tmpl.pod_spec_patch}, &patched.tmpl); !s.ok()) {
      return Outcome("Error", s.message());
    }
    return Run(patched, store);
  }
  Status made = MakeDirs(request.pod_dir);
  if (!made.ok()) return Outcome("Error", made.message());
  if (request.tmpl.kind == TemplateKind::kHttp) {
    return RunHttpTemplate(request.tmpl.http, container::ConfigStore(options_.objects_dir));
  }
  auto runtime = RuntimeFor(request);
  if (!runtime.ok()) return Outcome("Error", runtime.status().message());
  if (request.tmpl.kind == TemplateKind::kResource) return RunResourceTemplate(request, store, *runtime);
  if (request.tmpl.kind == TemplateKind::kContainerSet) return RunContainerSet(request, store, *runtime);
  if (request.tmpl.kind == TemplateKind::kContainer || request.tmpl.kind == TemplateKind::kScript) {
    auto in_container = InContainer(request.tmpl, *runtime);
    if (!in_container.ok()) return Outcome("Error", in_container.status().message());
    TemplatePod pod(request, store, options_.log_flush_secs);
    std::string why;
    PodResult result = *in_container ? RunContainer(request, pod, *podman_->Get(&why)) : RunProcess(request, pod);
    result.runtime = *in_container ? "container" : "process";
    return result;
  }
  return Outcome("Error", "template " + request.tmpl.name + ": not a container, script or resource template");
}

StatusOr<LocalPodRunner::Runtime> LocalPodRunner::RuntimeFor(const PodRequest& request) const {
  if (request.runtime.empty()) return options_.runtime;
  return container::ParsePodRuntime(request.runtime, std::string("metadata.annotations.") + kPodRuntimeAnnotation);
}

PodResult LocalPodRunner::RunResourceTemplate(const PodRequest& request, Store& store, Runtime runtime) {
  LogSink log(store, request, options_.log_flush_secs);
  ResourceOptions resource_options;
  resource_options.jobs_dir = options_.jobs_dir;
  resource_options.kill_grace_secs = options_.kill_grace_secs;
  resource_options.runtime = runtime;
  resource_options.podman = podman_;
  // TFJob replicas run `loom train`: the loom binary of bin_dir, as pods find it on their PATH.
  const std::string loom = JoinPath(options_.bin_dir, "loom");
  if (!options_.bin_dir.empty() && access(loom.c_str(), X_OK) == 0) resource_options.loom_binary = loom;
  ResourceResult r = RunResource(request.tmpl.resource, resource_options, request.cancel,
                                 [&](std::string_view line) { log.Write(line); });
  Json outputs = Json::object();
  const std::vector<Parameter> none;
  const std::vector<Parameter>& decl = request.tmpl.outputs ? request.tmpl.outputs->parameters : none;
  if (r.phase == "Succeeded" && request.tmpl.outputs && !decl.empty()) {
    Outputs out;
    for (const Parameter& p : decl) {
      Parameter o;
      o.name = p.name;
      if (p.value_from && p.value_from->json_path) {
        auto v = JsonPathValue(*p.value_from->json_path, r.object);
        if (!v.ok()) {
          if (!p.value_from->default_value) {
            log.Flush();
            return Outcome("Error", "outputs.parameters." + p.name + ": " + v.status().message());
          }
          o.value = *p.value_from->default_value;
        } else {
          o.value = *v;
        }
      } else if (p.value) {
        o.value = *p.value;
      } else {
        log.Flush();
        return Outcome("Error", "outputs.parameters." + p.name +
                                    ": a resource template's parameters come from valueFrom.jsonPath");
      }
      out.parameters.push_back(std::move(o));
    }
    outputs = ToJson(out);
  }
  log.Flush();
  return Outcome(r.phase, r.message, outputs);
}


StatusOr<bool> LocalPodRunner::InContainer(const Template& tmpl, Runtime runtime) {
  const std::string kind = ToString(tmpl.kind);
  return container::RunsInContainer(runtime, *podman_, tmpl.container.value("image", ""),
                                    tmpl.container.value("imagePullPolicy", ""), kind);
}

}  // namespace loom::workflow
