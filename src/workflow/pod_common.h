// What the runtimes of LocalPodRunner (pod_runner.h) share: the start of a container or script
// template's pod (TemplatePod: which of the two, its container, its log), the pod's mounts,
// volumes and input artifacts, and its outputs read back once it ended. Internal to the pod
// runtimes: pod_runner.cc (choosing one), process_pod.cc, container_pod.cc.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "container/pod_spec.h"
#include "core/json.h"
#include "core/status.h"
#include "workflow/artifacts.h"
#include "workflow/pod.h"
#include "workflow/pod_runner.h"
#include "workflow/store.h"

namespace loom::workflow {

using Clock = std::chrono::steady_clock;

// outputs.result keeps at most this much of stdout (Argo's results live in the node status too);
// the log keeps everything.
constexpr size_t kMaxResultBytes = 256 << 10;

double SecondsSince(Clock::time_point t);

// A bind mount (or, without a namespace, a symlink) of `source` at `target` in the pod. With
// overlay_options, an overlay of the host's `target` instead, the pod's writes kept in `source`
// (its upper directory): what the pod made there is its own, as in its image's root.
struct Mount {
  std::string source;  // on the host
  std::string target;  // in the pod
  bool is_file = false;
  std::string overlay_options;  // "lowerdir=...,upperdir=...,workdir=..." (process runtime only)
};

PodResult Outcome(std::string phase, std::string message, Json outputs = Json::object());

std::string TrimTrailingNewlines(std::string s);

// Writes a pod's log to the store in chunks, at most every flush_secs (and at the end).
class LogSink {
 public:
  LogSink(Store& store, const PodRequest& request, double flush_secs)
      : store_(store), request_(request), flush_secs_(flush_secs), last_(Clock::now()) {}
  void Write(std::string_view bytes);
  void Flush();
  Store& store() const { return store_; }

 private:
  Store& store_;
  const PodRequest& request_;
  double flush_secs_;
  Clock::time_point last_;
  std::string pending_;
};

// The start of a container or script template's pod, whichever runtime runs it: which of the two
// it is, its container, and its log.
struct TemplatePod {
  TemplatePod(const PodRequest& request, Store& store, double log_flush_secs);
  // Ends the pod before it ran: the log flushed, `message` as the node's.
  PodResult Fail(const std::string& phase, const std::string& message);

  bool is_script;
  std::string kind;      // "script" or "container": the field errors name
  const Json& container;  // request.tmpl.container
  LogSink log;
};

// Where Argo's executor stages a script template's source in the pod.
constexpr const char* kScriptPodPath = "/argo/staging/script";

// Writes the script template's source to <pod dir>/script, mode 0755 as Argo's executor stages it
// (so `command: [sh, -c]` can run the file itself); returns its host path.
StatusOr<std::string> StageScript(const PodRequest& request, const Json& script);

// A list of strings at parent[key] (numbers and booleans as written); errors name field.key[i].
StatusOr<std::vector<std::string>> StringList(const Json& parent, const char* key, const std::string& field);

// Whether `path` is `dir` or below it.
bool UnderPath(const std::string& path, const std::string& dir);

// What a pod must not see of Loom's home, as mounts of empty folders and files over it (made in
// the pod's directory): the server's token, the state store, Secrets and ConfigMaps, the
// artifact repository, the workflows' volumes and every pod's directory; its own directory is
// mounted back at its path after. Mounted before the pod's volumes, so a hostPath that holds the
// home shows it masked too. What stays: jobs/, runs/, models/, store/, run/ (pods run loom
// commands that keep their state there).
StatusOr<std::vector<Mount>> MaskHome(const PodRequest& request, const PodRunnerOptions& options);

// The container's volumeMounts (their volumes made where they live) and the template's input
// artifacts (fetched into the pod's directory), as mounts at the paths the YAML names.
Status AddVolumesAndArtifacts(const PodRequest& request, const Json& c, const std::string& kind,
                              const PodRunnerOptions& options, std::vector<Mount>* mounts);

// The pod's outputs, read from where it wrote them once it ended: parameters (valueFrom.path),
// artifacts saved; the phase from the exit code, or Error for a declared output missing.
PodResult ReadOutputs(const PodRequest& request, const std::vector<Mount>& mounts, int exit_code, Json outputs,
                      const ArtifactOptions& artifacts);

// The Downward API's fields a pod's env may name (fieldRef.fieldPath), as they are on one machine.
container::FieldRefs PodFieldRefs(const PodRequest& request);

}  // namespace loom::workflow
