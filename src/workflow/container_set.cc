// containerSet templates (Argo's container_set_template.go and its emissary's part): the
// containers of one pod, each started once the containers it depends on have succeeded, all
// sharing the pod's volumes (the set's volumeMounts are added to every container), each re-run
// on failure by the set's retryStrategy (`retries` more attempts, `duration` apart). Inputs and
// outputs belong to the container named "main"; outputs are read once every container has
// ended, as Argo's wait container does.
//
// One runtime runs the whole pod: containers when every image is in the local store (auto) or
// always (container), else processes, each container a process of its own (its own mount
// namespace; the pod's volumes and /tmp are shared, where Kubernetes gives each container the
// /tmp of its image).
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/time.h"
#include "workflow/engine.h"
#include "workflow/pod_common.h"
#include "workflow/pod_runner.h"
#include "workflow/spec.h"
#include "workflow/vars.h"

namespace loom::workflow {
namespace {

constexpr const char* kMain = "main";

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// What one container of the set is told to run: the request of its own, for its own node.
PodRequest ContainerRequest(const PodRequest& pod, const Json& set, const Json& c) {
  PodRequest r = pod;
  const std::string name = c.value("name", "");
  r.node_name = pod.node_name + "." + name;
  r.node_id = NodeId(KeyName(pod.workflow), r.node_name);
  r.tmpl.kind = TemplateKind::kContainer;
  r.tmpl.container = c;
  r.tmpl.container.erase("dependencies");
  if (set.contains("volumeMounts")) {
    Json& mounts = r.tmpl.container["volumeMounts"];
    if (!mounts.is_array()) mounts = Json::array();
    for (const Json& m : set["volumeMounts"]) mounts.push_back(m);
  }
  r.tmpl.init_containers.clear();
  r.tmpl.sidecars.clear();
  r.on_ready = nullptr;
  if (name != kMain) {  // Argo: inputs and outputs are the main container's
    r.tmpl.inputs.artifacts.clear();
    r.tmpl.outputs.reset();
  }
  return r;
}

}  // namespace

PodResult LocalPodRunner::RunContainerSet(const PodRequest& request, Store& store, Runtime runtime) {
  const Json& set = request.tmpl.container;
  const Json& containers = set.value("containers", Json::array());
  std::vector<std::string> names;
  for (const Json& c : containers) names.push_back(c.value("name", ""));
  const bool has_main = std::find(names.begin(), names.end(), kMain) != names.end();
  const bool has_outputs = request.tmpl.outputs && (!request.tmpl.outputs->parameters.empty() ||
                                                    !request.tmpl.outputs->artifacts.empty());
  if (has_outputs && !has_main) {
    return Outcome("Error", "containerSet: outputs are read from the container named \"main\", and the set has none");
  }
  if (!request.tmpl.inputs.artifacts.empty() && !has_main) {
    return Outcome("Error", "containerSet: input artifacts go to the container named \"main\", and the set has none");
  }
  // One runtime for the pod: containers only when every container's image can run as one.
  bool in_container = runtime != Runtime::kProcess;
  for (size_t i = 0; i < containers.size() && in_container; ++i) {
    auto yes = container::RunsInContainer(runtime, *podman_, containers[i].value("image", ""),
                                          containers[i].value("imagePullPolicy", ""),
                                          JoinField("containerSet.containers", i));
    if (!yes.ok()) return Outcome("Error", yes.status().message());
    in_container = *yes;
  }
  int attempts = 1;
  double backoff_secs = 0;
  if (set.contains("retryStrategy")) {
    const Json& rs = set["retryStrategy"];
    const Json& retries = rs["retries"];
    attempts = 1 + (retries.is_number() ? retries.get<int>() : std::atoi(ParameterString(retries).c_str()));
    if (rs.contains("duration") && !DurationSeconds(rs["duration"], &backoff_secs)) {
      return Outcome("Error", "containerSet.retryStrategy.duration: not a duration");
    }
  }

  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, ContainerResult> ended;  // by container name
  std::string first_failure;                    // the pod's message: the first container that failed
  std::string first_failure_phase;
  PodResult main_result;
  bool main_ran = false;
  // The containers that do not wait for main: main's outputs wait for them (a container waiting
  // for main would wait for ever if main waited for it).
  std::set<std::string> after_main = {kMain};
  for (bool grew = true; grew;) {
    grew = false;
    for (const Json& c : containers) {
      const std::string n = c.value("name", "");
      if (after_main.count(n)) continue;
      for (const Json& d : c.value("dependencies", Json::array())) {
        if (after_main.count(d.get<std::string>()) && after_main.insert(n).second) grew = true;
      }
    }
  }
  auto run_one = [&](size_t i) {
    const Json& c = containers[i];
    const std::string name = names[i];
    // Wait for the containers it depends on; it runs only if they all succeeded.
    bool runs = true;
    {
      std::unique_lock<std::mutex> lock(mu);
      for (const Json& d : c.value("dependencies", Json::array())) {
        const std::string dep = d.get<std::string>();
        cv.wait(lock, [&] { return ended.count(dep) > 0; });
        if (ended[dep].phase != "Succeeded") runs = false;
      }
    }
    if (!runs || (request.cancel != nullptr && request.cancel->load())) {
      std::lock_guard<std::mutex> lock(mu);
      ended[name] = {name, "Failed", "Pod Failed whilst container running", "", ""};
      cv.notify_all();
      return;
    }
    PodRequest sub = ContainerRequest(request, set, c);
    if (name == kMain) {
      sub.before_outputs = [&] {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] {
          for (const std::string& n : names) {
            if (!after_main.count(n) && !ended.count(n)) return false;
          }
          return true;
        });
      };
    }
    ContainerResult r{name, "", "", Rfc3339(WallSeconds()), ""};
    PodResult result;
    for (int attempt = 0; attempt < attempts; ++attempt) {
      if (attempt > 0) {
        std::this_thread::sleep_for(std::chrono::duration<double>(backoff_secs));
        if (request.cancel != nullptr && request.cancel->load()) break;
      }
      TemplatePod pod(sub, store, options_.log_flush_secs);
      pod.kind = JoinField("containerSet.containers", i);
      std::string why;
      result = in_container ? RunContainer(sub, pod, *podman_->Get(&why)) : RunProcess(sub, pod);
      // A container that could not start (its command missing, a field refused) is not retried.
      const bool started = result.outputs.contains("exitCode");
      if (result.phase == "Succeeded" || !started) break;
    }
    r.finished_at = Rfc3339(WallSeconds());
    r.phase = result.phase;
    if (result.phase != "Succeeded") r.message = name + ": " + result.message;
    std::lock_guard<std::mutex> lock(mu);
    if (result.phase != "Succeeded" && first_failure.empty()) {
      first_failure = result.message;
      first_failure_phase = result.phase;
    }
    if (name == kMain) {
      main_result = result;
      main_ran = true;
    }
    ended[name] = r;
    cv.notify_all();
  };
  std::vector<std::thread> threads;
  for (size_t i = 0; i < containers.size(); ++i) threads.emplace_back(run_one, i);
  for (std::thread& t : threads) t.join();

  PodResult pod;
  pod.runtime = in_container ? "container" : "process";
  pod.phase = "Succeeded";
  pod.outputs = main_ran ? main_result.outputs : Json::object();
  for (const std::string& n : names) pod.containers.push_back(ended[n]);
  if (!first_failure.empty()) {
    pod.phase = first_failure_phase == "Error" ? "Error" : "Failed";
    pod.message = first_failure;
  } else if (request.cancel != nullptr && request.cancel->load()) {
    pod.phase = "Failed";
    pod.message = "pod was stopped";
  }
  // main's own outputs error (a declared output it did not write) fails the pod as it would alone.
  if (pod.phase == "Succeeded" && main_ran && main_result.phase != "Succeeded") {
    pod.phase = main_result.phase;
    pod.message = main_result.message;
  }
  return pod;
}

}  // namespace loom::workflow
