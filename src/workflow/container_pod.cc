// The container runtime: a container or script template as a podman container of its image
// (pod_runner.h, container/podman.h).
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "core/file.h"
#include "core/logging.h"
#include "workflow/pod_common.h"
#include "workflow/pod_runner.h"
#include "workflow/probe.h"

namespace loom::workflow {

namespace {

// One container of a pod (main, an init container or a sidecar) as podman runs it: Kubernetes'
// command/args over the image's, the env resolved, securityContext over the pod's, resources,
// its volumeMounts over the pod's own mounts.
StatusOr<container::ContainerSpec> ContainerSpecFor(const PodRequest& request, const Json& c, const std::string& field,
                                                    const std::vector<std::string>& extra_command,
                                                    container::Podman& podman, const PodRunnerOptions& options,
                                                    const std::vector<Mount>& pod_mounts) {
  container::ContainerSpec spec;
  spec.field = field;
  spec.image = c.value("image", "");
  if (spec.image.empty()) return InvalidArgument(field + ".image: required");
  LOOM_ASSIGN_OR_RETURN(spec.image_config, podman.InspectImage(spec.image));
  LOOM_ASSIGN_OR_RETURN(std::vector<std::string> command, StringList(c, "command", field));
  LOOM_ASSIGN_OR_RETURN(std::vector<std::string> args, StringList(c, "args", field));
  if (!extra_command.empty()) {  // a script: its interpreter and the staged source
    if (command.empty()) command = {"sh"};
    command.insert(command.end(), extra_command.begin(), extra_command.end());
  }
  LOOM_ASSIGN_OR_RETURN(spec.argv, container::ContainerArgv(spec.image_config, command, args, field));
  LOOM_ASSIGN_OR_RETURN(spec.security, container::ParseSecurityContext(request.tmpl.security_context.value_or(Json()),
                                                                       c.value("securityContext", Json()),
                                                                       "securityContext", field + ".securityContext"));
  LOOM_ASSIGN_OR_RETURN(spec.resources, container::ParseResources(c.value("resources", Json()), field + ".resources"));
  container::ConfigStore config(options.objects_dir, KeyNamespace(request.workflow));
  LOOM_ASSIGN_OR_RETURN(spec.env, container::ResolveEnv(c, &config, PodFieldRefs(request), field));
  spec.env.push_back({"ARGO_WORKFLOW_NAME", KeyName(request.workflow)});
  spec.env.push_back({"ARGO_NODE_ID", request.node_id});
  spec.env.push_back({"LOOM_HOME", options.home});
  spec.working_dir = c.value("workingDir", "");
  std::vector<Mount> mounts = pod_mounts;
  LOOM_RETURN_IF_ERROR(AddVolumesAndArtifacts(request, c, field, options, &mounts));
  for (const Mount& m : mounts) spec.mounts.push_back({m.source, m.target, false});
  spec.labels = {{"loom.workflow", request.workflow}, {"loom.node", request.node_id}};
  spec.scratch_dir = request.pod_dir;
  return spec;
}

// How a daemon's main container went: ready (on_ready called), or its probe failed first.
struct DaemonRun {
  bool ready = false;
  bool probe_failed = false;
  std::string probe_failure;
};

// A daemon's main container (`daemon: true`): run on a thread of its own while this one waits for
// its readinessProbe to pass (or for it to be created, without one), calls on_ready, and stops it
// when the engine cancels the pod or the probe fails failureThreshold times before it was ready.
StatusOr<container::ContainerExit> RunDaemonContainer(container::Podman& podman, const container::ContainerSpec& spec,
                                                      const PodRequest& request, const std::optional<ProbeSpec>& probe,
                                                      const std::function<void(int, std::string_view)>& output,
                                                      const std::function<void()>& flush_log, DaemonRun* run) {
  std::atomic<bool> stop{false}, done{false};
  StatusOr<container::ContainerExit> exit = Internal("not run");
  std::thread main([&] {
    exit = podman.Run(spec, &stop, output);
    done = true;
  });
  // Containers share the host's network: httpGet and tcpSocket reach the daemon at 127.0.0.1.
  std::unique_ptr<Prober> prober;
  if (probe) prober = std::make_unique<Prober>(*probe, ProbeTarget{});
  while (!done) {
    if (!stop && request.cancel != nullptr && request.cancel->load()) stop = true;
    if (!stop && !run->ready) {
      if (!prober || prober->state() == Prober::kReady) {
        run->ready = true;
        flush_log();
        if (request.on_ready) request.on_ready();
      } else if (prober->state() == Prober::kFailed) {
        run->probe_failed = true;
        run->probe_failure = prober->failure();
        stop = true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  main.join();
  if (prober) prober->Stop();
  return exit;
}

}  // namespace

PodResult LocalPodRunner::RunContainer(const PodRequest& request, TemplatePod& pod, container::Podman& podman) {
  const bool daemon = request.tmpl.IsDaemon();
  std::optional<ProbeSpec> probe;
  if (daemon && pod.container.contains("readinessProbe")) {
    auto parsed = ParseProbe(pod.container["readinessProbe"], pod.container, pod.kind + ".readinessProbe");
    if (!parsed.ok()) return pod.Fail("Error", parsed.status().message());
    if (parsed->kind == ProbeSpec::Kind::kExec) {
      return pod.Fail("Error", pod.kind + ".readinessProbe.exec: not run in a container here (the engine cannot enter "
                                         "it); use httpGet or tcpSocket, or --pod-runtime process");
    }
    probe = std::move(*parsed);
  }

  // What every container of the pod sees: its /tmp, Loom's home at its path (pods run loom
  // commands on the engine's state) without what MaskHome hides (the token, the store, Secrets,
  // other pods), the script.
  const std::string tmp_dir = JoinPath(request.pod_dir, "tmp");
  Status s = MakeDirs(tmp_dir);
  if (s.ok() && chmod(tmp_dir.c_str(), 01777) != 0) s = ErrnoStatus(tmp_dir, "chmod", errno);
  if (!s.ok()) return pod.Fail("Error", s.message());
  std::vector<Mount> pod_mounts = {{tmp_dir, "/tmp", false}, {options_.home, options_.home, false}};
  auto masks = MaskHome(request, options_);
  if (!masks.ok()) return pod.Fail("Error", masks.status().message());
  pod_mounts.insert(pod_mounts.end(), masks->begin(), masks->end());
  std::vector<std::string> script;
  if (pod.is_script) {
    auto script_path = StageScript(request, pod.container);
    if (!script_path.ok()) return pod.Fail("Error", script_path.status().message());
    pod_mounts.push_back({*script_path, kScriptPodPath, true});
    script = {kScriptPodPath};
  }
  auto main = ContainerSpecFor(request, pod.container, pod.kind, script, podman, options_, pod_mounts);
  if (!main.ok()) return pod.Fail("Error", main.status().message());
  main->name = "loom-" + request.node_id;
  auto output = [&](std::string* keep) {
    return [&pod, keep](int, std::string_view bytes) {
      pod.log.Write(bytes);
      if (keep != nullptr && keep->size() < kMaxResultBytes) keep->append(bytes.substr(0, kMaxResultBytes - keep->size()));
    };
  };

  // Init containers, one after the other, each to success (Kubernetes: a failed one fails the pod).
  const std::vector<Json>& inits = request.tmpl.init_containers;
  for (size_t i = 0; i < inits.size(); ++i) {
    const std::string field = JoinField("initContainers", i);
    auto spec = ContainerSpecFor(request, inits[i], field, {}, podman, options_, pod_mounts);
    if (!spec.ok()) return pod.Fail("Error", spec.status().message());
    spec->name = main->name + "-init-" + std::to_string(i);
    auto exit = podman.Run(*spec, request.cancel, output(nullptr));
    if (!exit.ok()) return pod.Fail("Error", exit.status().message());
    if (exit->stopped) return pod.Fail("Failed", "pod was stopped (exit code " + std::to_string(exit->exit_code) + ")");
    if (!exit->error.empty()) return pod.Fail("Error", "failed to start " + field + ": " + exit->error);
    if (exit->exit_code != 0) {
      return pod.Fail("Failed", field + " (" + inits[i].value("name", "") + "): " +
                                (exit->oom_killed ? "OOMKilled" : "Error") + " (exit code " + std::to_string(exit->exit_code) + ")");
    }
  }

  // Sidecars run beside the main container and are stopped when it ends, as Argo does.
  const std::vector<Json>& sidecars = request.tmpl.sidecars;
  std::vector<container::ContainerSpec> sidecar_specs;
  for (size_t i = 0; i < sidecars.size(); ++i) {
    const std::string field = JoinField("sidecars", i);
    auto spec = ContainerSpecFor(request, sidecars[i], field, {}, podman, options_, pod_mounts);
    if (!spec.ok()) return pod.Fail("Error", spec.status().message());
    spec->name = main->name + "-sidecar-" + std::to_string(i);
    sidecar_specs.push_back(std::move(*spec));
  }
  std::atomic<bool> stop_sidecars{false};
  std::mutex log_mu;  // the sidecars write to the pod's log from their threads
  std::vector<std::thread> sidecar_threads;
  for (const container::ContainerSpec& spec : sidecar_specs) {
    sidecar_threads.emplace_back([&, spec] {
      auto exit = podman.Run(spec, &stop_sidecars, [&](int, std::string_view bytes) {
        std::lock_guard<std::mutex> lock(log_mu);
        pod.log.Write(bytes);
      });
      if (!exit.ok()) LOOM_LOG(WARNING) << "workflow " << request.workflow << " " << spec.name << ": " << exit.status().message();
    });
  }
  std::string stdout_text;
  auto main_output = [&](int stream, std::string_view bytes) {
    std::lock_guard<std::mutex> lock(log_mu);
    pod.log.Write(bytes);
    if (stream == 1 && stdout_text.size() < kMaxResultBytes) stdout_text.append(bytes.substr(0, kMaxResultBytes - stdout_text.size()));
  };
  DaemonRun daemon_run;
  auto exit = daemon ? RunDaemonContainer(podman, *main, request, probe, main_output,
                                          [&] {
                                            std::lock_guard<std::mutex> lock(log_mu);
                                            pod.log.Flush();
                                          },
                                          &daemon_run)
                     : podman.Run(*main, request.cancel, main_output);
  stop_sidecars = true;
  for (std::thread& t : sidecar_threads) t.join();
  pod.log.Flush();
  if (!exit.ok()) return pod.Fail("Error", exit.status().message());
  if (!exit->error.empty()) return pod.Fail("Error", "failed to start the " + pod.kind + ": " + exit->error);
  Json outputs = Json::object();
  outputs["exitCode"] = std::to_string(exit->exit_code);
  outputs["result"] = TrimTrailingNewlines(stdout_text);
  if (daemon_run.probe_failed) return Outcome("Failed", pod.kind + ".readinessProbe: " + daemon_run.probe_failure, outputs);
  if (exit->stopped) return Outcome("Failed", "pod was stopped (exit code " + std::to_string(exit->exit_code) + ")", outputs);
  if (daemon) {
    return Outcome("Failed", "Error (exit code " + std::to_string(exit->exit_code) + "): the daemon exited" +
                                 (daemon_run.ready ? "" : " before it was ready"), outputs);
  }
  // Argo's message for a main container the kernel killed at its memory limit.
  if (exit->oom_killed) return Outcome("Failed", "OOMKilled (exit code " + std::to_string(exit->exit_code) + ")", outputs);
  std::vector<Mount> mounts;
  for (const container::BindMount& m : main->mounts) mounts.push_back({m.source, m.target, false});
  if (request.before_outputs) request.before_outputs();
  return ReadOutputs(request, mounts, exit->exit_code, std::move(outputs), options_.artifacts);
}

}  // namespace loom::workflow
