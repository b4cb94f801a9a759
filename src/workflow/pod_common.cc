#include "workflow/pod_common.h"

#include <sys/stat.h>

#include <cerrno>

#include "core/file.h"
#include "core/logging.h"
#include "workflow/launcher.h"

namespace loom::workflow {
namespace {

// Where a pod's path is on the host after it ended: under the deepest mount holding it (an
// overlay's upper directory; "" when the pod made nothing there), else the path itself (the pod
// wrote to the host's file system there).
std::string HostPath(const std::vector<Mount>& mounts, const std::string& path) {
  const Mount* best = nullptr;
  for (const Mount& m : mounts) {
    if (UnderPath(path, m.target) && (best == nullptr || m.target.size() > best->target.size())) best = &m;
  }
  if (best == nullptr) return path;
  const std::string in_source = best->source + path.substr(best->target.size());
  struct stat st;
  // Under an overlay the output's tree is the pod's alone: a whiteout left there means the pod
  // made nothing at the path.
  if (!best->overlay_options.empty() && lstat(in_source.c_str(), &st) == 0 && S_ISCHR(st.st_mode)) return "";
  return in_source;
}

// The host directory of a volume: by its kind, as the YAML declares it.
StatusOr<std::string> VolumeSource(const Json& volume, const PodRequest& request, const std::string& home,
                                   const std::string& field) {
  const std::string name = volume.contains("metadata") ? volume["metadata"].value("name", "") : volume.value("name", "");
  if (volume.contains("metadata") || volume.contains("spec")) {  // a volumeClaimTemplate
    return JoinPath(JoinPath(JoinPath(home, "volumes"), KeyFileName(request.workflow)), name);
  }
  if (volume.contains("emptyDir")) return JoinPath(JoinPath(request.pod_dir, "volumes"), name);
  if (volume.contains("hostPath")) {
    const std::string path = volume["hostPath"].value("path", "");
    if (path.empty() || path[0] != '/') return InvalidArgument(field + ".hostPath.path: expected an absolute path");
    return path;
  }
  if (volume.contains("persistentVolumeClaim")) {
    const std::string claim = volume["persistentVolumeClaim"].value("claimName", "");
    if (claim.empty()) return InvalidArgument(field + ".persistentVolumeClaim.claimName: missing");
    return JoinPath(JoinPath(home, "volumes"), claim);
  }
  return InvalidArgument(field + ": volume \"" + name +
                         "\": only emptyDir, hostPath, persistentVolumeClaim and volumeClaimTemplates are supported on one machine");
}

const Json* FindVolume(const Json& volumes, const std::string& name) {
  if (!volumes.is_array()) return nullptr;
  for (const Json& v : volumes) {
    const std::string n = v.contains("metadata") ? v["metadata"].value("name", "") : v.value("name", "");
    if (n == name) return &v;
  }
  return nullptr;
}

}  // namespace

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

PodResult Outcome(std::string phase, std::string message, Json outputs) {
  return {std::move(phase), std::move(message), std::move(outputs)};
}

std::string TrimTrailingNewlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

void LogSink::Write(std::string_view bytes) {
  pending_.append(bytes);
  if (pending_.size() >= (1 << 16) || SecondsSince(last_) >= flush_secs_) Flush();
}

void LogSink::Flush() {
  last_ = Clock::now();
  if (pending_.empty()) return;
  Status s = store_.AppendLog(request_.workflow, request_.node_id, pending_);
  if (!s.ok()) LOOM_LOG(WARNING) << "workflow " << request_.workflow << " node " << request_.node_id << ": log: " << s.message();
  pending_.clear();
}

TemplatePod::TemplatePod(const PodRequest& request, Store& store, double log_flush_secs)
    : is_script(request.tmpl.kind == TemplateKind::kScript),
      kind(is_script ? "script" : "container"),
      container(request.tmpl.container),
      log(store, request, log_flush_secs) {}

PodResult TemplatePod::Fail(const std::string& phase, const std::string& message) {
  log.Flush();
  return Outcome(phase, message);
}

StatusOr<std::string> StageScript(const PodRequest& request, const Json& script) {
  const std::string path = JoinPath(request.pod_dir, "script");
  LOOM_RETURN_IF_ERROR(WriteFileAtomic(path, script.value("source", "")));
  if (chmod(path.c_str(), 0755) != 0) return ErrnoStatus(path, "chmod", errno);
  return path;
}

StatusOr<std::vector<std::string>> StringList(const Json& parent, const char* key, const std::string& field) {
  std::vector<std::string> out;
  if (!parent.contains(key)) return out;
  const Json& list = parent[key];
  if (!list.is_array()) return InvalidArgument(field + "." + key + ": expected a list of strings");
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i].is_string()) {
      out.push_back(list[i].get<std::string>());
    } else if (list[i].is_number() || list[i].is_boolean()) {
      out.push_back(list[i].dump());
    } else {
      return InvalidArgument(JoinField(field + "." + key, i) + ": expected a string");
    }
  }
  return out;
}

bool UnderPath(const std::string& path, const std::string& dir) {
  if (dir == "/") return true;
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

StatusOr<std::vector<Mount>> MaskHome(const PodRequest& request, const PodRunnerOptions& options) {
  // The pods' folder gets an empty folder of its own: the mount point of the pod's directory is
  // made in it.
  const std::string empty_dir = JoinPath(request.pod_dir, "masked"), empty_pods = JoinPath(request.pod_dir, "masked-pods"),
                    empty_file = JoinPath(request.pod_dir, "masked-file");
  for (const std::string& dir : {empty_dir, empty_pods}) {
    LOOM_RETURN_IF_ERROR(MakeDirs(dir));
    if (chmod(dir.c_str(), 0555) != 0) return ErrnoStatus(dir, "chmod", errno);
  }
  LOOM_RETURN_IF_ERROR(WriteFileAtomic(empty_file, ""));
  const std::string& home = options.home;
  std::vector<Mount> masks;
  for (const char* file : {"server.token", "workflows.db", "workflows.db-wal", "workflows.db-shm", "workflows.db-journal"}) {
    const std::string path = JoinPath(home, file);
    if (PathExists(path) && !IsDirectory(path)) masks.push_back({empty_file, path, true});
  }
  const std::string pods = JoinPath(home, "pods");
  for (const std::string& dir : {options.objects_dir, options.artifacts.repository_dir, JoinPath(home, "volumes"), pods}) {
    if (IsDirectory(dir) && UnderPath(dir, home)) masks.push_back({dir == pods ? empty_pods : empty_dir, dir, false});
  }
  // Its own directory, back where it was (its working directory, its files).
  if (UnderPath(request.pod_dir, pods)) masks.push_back({request.pod_dir, request.pod_dir, false});
  return masks;
}

Status AddVolumesAndArtifacts(const PodRequest& request, const Json& c, const std::string& kind,
                              const PodRunnerOptions& options, std::vector<Mount>* mounts) {
  if (c.contains("volumeMounts")) {
    for (size_t i = 0; i < c["volumeMounts"].size(); ++i) {
      const Json& vm = c["volumeMounts"][i];
      const std::string field = JoinField(kind + ".volumeMounts", i);
      const std::string name = vm.value("name", ""), path = vm.value("mountPath", "");
      if (path.empty() || path[0] != '/') return InvalidArgument(field + ".mountPath: expected an absolute path");
      const Json* volume = FindVolume(request.volumes, name);
      if (volume == nullptr) {
        return InvalidArgument(field + ".name: no volume named \"" + name + "\" in spec.volumes or spec.volumeClaimTemplates");
      }
      LOOM_ASSIGN_OR_RETURN(std::string src, VolumeSource(*volume, request, options.home, "volumes." + name));
      if (!vm.value("subPath", "").empty()) src = JoinPath(src, vm["subPath"].get<std::string>());
      Status s = MakeDirs(src);
      // An emptyDir is any user's, as on Kubernetes (securityContext.runAsUser).
      if (s.ok() && volume->contains("emptyDir") && chmod(src.c_str(), 0777) != 0) s = ErrnoStatus(src, "chmod", errno);
      LOOM_RETURN_IF_ERROR(s);
      mounts->push_back({src, path, false});
    }
  }
  for (const Artifact& a : request.tmpl.inputs.artifacts) {
    const std::string path = a.path.value_or("");
    const std::string field = "inputs.artifacts." + a.name;
    if (path.empty()) continue;  // referenced by {{inputs.artifacts.x}} only
    if (path[0] != '/') return InvalidArgument(field + ".path: expected an absolute path");
    const std::string host = JoinPath(JoinPath(request.pod_dir, "artifacts"), a.name);
    LOOM_RETURN_IF_ERROR(LoadArtifact(a, host, options.artifacts, field));
    if (PathExists(host)) mounts->push_back({host, path, !IsDirectory(host)});
  }
  return OkStatus();
}


PodResult ReadOutputs(const PodRequest& request, const std::vector<Mount>& mounts, int exit_code, Json outputs,
                      const ArtifactOptions& artifacts) {
  std::string output_error;
  const Outputs none;
  const Outputs& decl = request.tmpl.outputs ? *request.tmpl.outputs : none;
  if (!decl.parameters.empty()) {
    outputs["parameters"] = Json::array();
    for (const Parameter& p : decl.parameters) {
      Parameter out;
      out.name = p.name;
      if (p.value_from && p.value_from->path) {
        const std::string& path = *p.value_from->path;
        auto text = ReadFile(HostPath(mounts, path));
        if (text.ok()) {
          out.value = TrimTrailingNewlines(*text);
        } else if (p.value_from->default_value) {
          out.value = *p.value_from->default_value;
        } else if (exit_code == 0 && output_error.empty()) {
          output_error = "outputs.parameters." + p.name + ": " + path + ": no such file";
        }
      } else if (p.value) {
        out.value = *p.value;
      }
      if (out.value) outputs["parameters"].push_back(ToJson(out));
    }
  }
  if (!decl.artifacts.empty()) {
    outputs["artifacts"] = Json::array();
    for (const Artifact& a : decl.artifacts) {
      const std::string& name = a.name;
      const std::string path = a.path.value_or("");
      const std::string field = "outputs.artifacts." + name;
      const std::string host = HostPath(mounts, path);
      if (path.empty() || !PathExists(host)) {
        if (a.optional || exit_code != 0) continue;
        if (output_error.empty()) output_error = field + ": " + path + ": no such file or directory";
        continue;
      }
      auto saved = SaveArtifact(a, host, request.workflow + "/" + request.node_id + "/" + name + ".tgz",
                                artifacts, field);
      if (!saved.ok()) {
        if (output_error.empty()) output_error = saved.status().message();
        continue;
      }
      outputs["artifacts"].push_back(ToJson(*saved));
    }
  }
  if (exit_code != 0) return Outcome("Failed", "Error (exit code " + std::to_string(exit_code) + ")", outputs);
  if (!output_error.empty()) return Outcome("Error", output_error, outputs);
  return Outcome("Succeeded", "", outputs);
}

container::FieldRefs PodFieldRefs(const PodRequest& request) {
  return {{"metadata.name", request.node_id}, {"metadata.namespace", "default"}, {"spec.nodeName", "localhost"},
          {"status.podIP", "127.0.0.1"}, {"status.hostIP", "127.0.0.1"}};
}

}  // namespace loom::workflow
