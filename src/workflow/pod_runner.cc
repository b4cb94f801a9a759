#include "workflow/pod_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <grp.h>
#include <pwd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "core/file.h"
#include "container/pod_spec.h"
#include "core/logging.h"
#include "workflow/probe.h"
#include "workflow/resource.h"

extern char** environ;

namespace loom::workflow {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxResultBytes = 256 << 10;

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// A bind mount (or, without a namespace, a symlink) of `source` at `target` in the pod.
struct Mount {
  std::string source;  // on the host
  std::string target;  // in the pod
  bool is_file = false;
};

// Everything the child needs, computed before fork: the child only makes system calls.
struct Launch {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "K=V"
  std::string working_dir;       // in the pod; empty: pod_dir
  std::string pod_dir;           // on the host
  std::vector<Mount> mounts;     // sorted: parents before children
  bool pid_namespace = false;    // the pod's own PID namespace (with a mount namespace only)
  bool set_ids = false;          // runAsUser / runAsGroup: become uid, gid, groups
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;     // supplementary groups (empty: none)
  bool no_new_privs = true;      // PR_SET_NO_NEW_PRIVS (securityContext.allowPrivilegeEscalation)
};

PodResult Outcome(std::string phase, std::string message, Json outputs = Json::object()) {
  return {std::move(phase), std::move(message), std::move(outputs)};
}

std::string TrimTrailingNewlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// Writes a pod's log to the store in chunks, at most every flush_secs (and at the end).
class LogSink {
 public:
  LogSink(Store& store, const PodRequest& request, double flush_secs)
      : store_(store), request_(request), flush_secs_(flush_secs), last_(Clock::now()) {}
  void Write(std::string_view bytes) {
    pending_.append(bytes);
    if (pending_.size() >= (1 << 16) || SecondsSince(last_) >= flush_secs_) Flush();
  }
  void Flush() {
    last_ = Clock::now();
    if (pending_.empty()) return;
    Status s = store_.AppendLog(request_.workflow, request_.node_id, pending_);
    if (!s.ok()) LOOM_LOG(WARNING) << "workflow " << request_.workflow << " node " << request_.node_id << ": log: " << s.message();
    pending_.clear();
  }

 private:
  Store& store_;
  const PodRequest& request_;
  double flush_secs_;
  Clock::time_point last_;
  std::string pending_;
};

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

// Where a pod's path is on the host after it ended: under the deepest mount holding it, else the
// path itself (the pod wrote to the host's file system there).
std::string HostPath(const std::vector<Mount>& mounts, const std::string& path) {
  const Mount* best = nullptr;
  for (const Mount& m : mounts) {
    if (UnderPath(path, m.target) && (best == nullptr || m.target.size() > best->target.size())) best = &m;
  }
  if (best == nullptr) return path;
  return best->source + path.substr(best->target.size());
}

// The host directory of a volume: by its kind, as the YAML declares it.
StatusOr<std::string> VolumeSource(const Json& volume, const PodRequest& request, const std::string& home,
                                   const std::string& field) {
  const std::string name = volume.contains("metadata") ? volume["metadata"].value("name", "") : volume.value("name", "");
  if (volume.contains("metadata") || volume.contains("spec")) {  // a volumeClaimTemplate
    return JoinPath(JoinPath(JoinPath(home, "volumes"), request.workflow), name);
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

// mkdir -p of the parents of `path` (and of `path` itself when `self`), system calls only.
bool MakeParents(const std::string& path, bool self) {
  char buf[4096];
  if (path.size() >= sizeof(buf)) return false;
  memcpy(buf, path.c_str(), path.size() + 1);
  for (size_t i = 1; i <= path.size(); ++i) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    if (buf[i] == '\0' && !self) break;
    const char saved = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return false;
    buf[i] = saved;
  }
  return true;
}

// The child: after fork, system calls only. Writes a failure to `err_fd` and exits 127.
[[noreturn]] void ChildFail(int err_fd, const char* what, const char* path) {
  const int e = errno;
  const char* msg = strerror(e);
  (void)!write(err_fd, what, strlen(what));
  (void)!write(err_fd, ": ", 2);
  (void)!write(err_fd, path, strlen(path));
  (void)!write(err_fd, ": ", 2);
  (void)!write(err_fd, msg, strlen(msg));
  _exit(127);
}

// "/proc/self/fd/<fd>" into buf (no allocation: runs in the child after fork).
const char* FdPath(int fd, char* buf, size_t size) {
  char digits[16];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + fd % 10);
    fd /= 10;
  } while (fd > 0 && n < 15);
  const char prefix[] = "/proc/self/fd/";
  size_t at = 0;
  for (const char* p = prefix; *p != '\0' && at + 1 < size; ++p) buf[at++] = *p;
  while (n > 0 && at + 1 < size) buf[at++] = digits[--n];
  buf[at] = '\0';
  return buf;
}

// The pod's init (pid 1 of its PID namespace), as Argo's executor is a pod's first process: the
// container's process is its child, so SIGTERM reaches it (a pid 1 without a handler would
// ignore it); it reaps what is orphaned in the namespace and exits with the container's status.
// Its siblings in the namespace die with it. System calls only.
[[noreturn]] void RunInit(pid_t main_pid) {
  struct sigaction ignore_with_handler = {};
  ignore_with_handler.sa_handler = [](int) {};  // the engine signals the whole group itself
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaction(sig, &ignore_with_handler, nullptr);
  // It never execs: every descriptor it inherited (its own log pipes, and those of pods started
  // at the same moment by other threads of the engine) would stay open for as long as it runs.
  if (syscall(SYS_close_range, 0, ~0U, 0) != 0) {
    for (int fd = 0; fd < 4096; ++fd) close(fd);
  }
  while (true) {
    int status = 0;
    const pid_t w = waitpid(-1, &status, 0);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) _exit(127);
    if (w == main_pid) _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }
}

[[noreturn]] void Child(const Launch& launch, bool isolated, int out_fd, int err_fd, int status_fd,
                        char* const* argv, char* const* envp, pid_t engine) {
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);  // the engine blocks SIGTERM/SIGINT in its threads
  signal(SIGPIPE, SIG_DFL);
  setpgid(0, 0);
  // The pod dies with its engine (kill -9 included): nobody would read its output or record its
  // end, and the resumed workflow runs the node again as a new attempt, so a ghost of the old
  // attempt must not go on beside it. Checked after the prctl: the engine may already be gone
  // (not seen from a PID namespace of its own, where the parent's pid is 0).
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (!launch.pid_namespace && getppid() != engine) _exit(137);
  // Sources and the default working directory are opened before anything is mounted: a pod
  // directory under the host's /tmp is hidden once the pod's own /tmp covers it.
  int source_fds[64];
  const size_t n_mounts = launch.mounts.size() < 64 ? launch.mounts.size() : 64;
  int cwd_fd = -1;
  if (launch.working_dir.empty()) {
    cwd_fd = open(launch.pod_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cwd_fd < 0) ChildFail(status_fd, "open", launch.pod_dir.c_str());
  }
  if (isolated) {
    if (unshare(CLONE_NEWNS) != 0) ChildFail(status_fd, "unshare", "mount namespace");
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ChildFail(status_fd, "mount --make-rprivate", "/");
    // Opened in the new namespace (a bind needs a source from it) before anything covers them.
    for (size_t i = 0; i < n_mounts; ++i) {
      source_fds[i] = open(launch.mounts[i].source.c_str(), O_PATH | O_CLOEXEC);
      if (source_fds[i] < 0) ChildFail(status_fd, "open", launch.mounts[i].source.c_str());
    }
    // ps and /proc show the pod's own processes.
    if (launch.pid_namespace && mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
      ChildFail(status_fd, "mount", "/proc");
    }
  }
  for (size_t i = 0; i < n_mounts; ++i) {
    const Mount& m = launch.mounts[i];
    if (!MakeParents(m.target, false)) ChildFail(status_fd, "mkdir", m.target.c_str());
    if (m.is_file) {
      int fd = open(m.target.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) ChildFail(status_fd, "create mount point", m.target.c_str());
      close(fd);
    } else if (mkdir(m.target.c_str(), 0755) != 0 && errno != EEXIST) {
      ChildFail(status_fd, "mkdir", m.target.c_str());
    }
    if (isolated) {
      char source[64];
      if (mount(FdPath(source_fds[i], source, sizeof(source)), m.target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
        ChildFail(status_fd, "bind mount", m.target.c_str());
      }
    }
  }
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd >= 0) dup2(null_fd, 0);
  dup2(out_fd, 1);
  dup2(err_fd, 2);
  if (cwd_fd >= 0) {
    if (fchdir(cwd_fd) != 0) ChildFail(status_fd, "chdir", launch.pod_dir.c_str());
  } else if (!MakeParents(launch.working_dir, true) || chdir(launch.working_dir.c_str()) != 0) {
    ChildFail(status_fd, "workingDir", launch.working_dir.c_str());
  }
  if (launch.set_ids) {
    if (setgroups(launch.groups.size(), launch.groups.data()) != 0) ChildFail(status_fd, "setgroups", "securityContext");
    if (setgid(launch.gid) != 0) ChildFail(status_fd, "setgid", "securityContext.runAsGroup");
    if (setuid(launch.uid) != 0) ChildFail(status_fd, "setuid", "securityContext.runAsUser");
  }
  if (launch.no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ChildFail(status_fd, "prctl", "no_new_privs");
  if (launch.pid_namespace) {
    // fork(2) by its system call: glibc's fork runs atfork handlers of the engine's libraries.
    const pid_t main_pid = static_cast<pid_t>(syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
    if (main_pid < 0) ChildFail(status_fd, "fork", "container");
    if (main_pid > 0) {
      close(status_fd);
      RunInit(main_pid);
    }
  }
  execvpe(argv[0], argv, envp);
  ChildFail(status_fd, "exec", argv[0]);
}

// The container's volumeMounts (their volumes made where they live) and the template's input
// artifacts (fetched into the pod's directory), as mounts at the paths the YAML names.
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
  const Json inputs = request.tmpl.value("inputs", Json::object());
  if (inputs.contains("artifacts")) {
    for (const Json& a : inputs["artifacts"]) {
      const std::string name = a.value("name", ""), path = a.value("path", "");
      const std::string field = "inputs.artifacts." + name;
      if (path.empty()) continue;  // referenced by {{inputs.artifacts.x}} only
      if (path[0] != '/') return InvalidArgument(field + ".path: expected an absolute path");
      const std::string host = JoinPath(JoinPath(request.pod_dir, "artifacts"), name);
      LOOM_RETURN_IF_ERROR(LoadArtifact(a, host, options.artifacts, field));
      if (PathExists(host)) mounts->push_back({host, path, !IsDirectory(host)});
    }
  }
  return OkStatus();
}

// The pod's outputs, read from where it wrote them once it ended: parameters (valueFrom.path),
// artifacts saved; the phase from the exit code, or Error for a declared output missing.
PodResult ReadOutputs(const PodRequest& request, const std::vector<Mount>& mounts, int exit_code, Json outputs,
                      const ArtifactOptions& artifacts) {
  const Json decl = request.tmpl.value("outputs", Json::object());
  std::string output_error;
  if (decl.contains("parameters")) {
    outputs["parameters"] = Json::array();
    for (const Json& p : decl["parameters"]) {
      const std::string name = p.value("name", "");
      Json out = {{"name", name}};
      const Json vf = p.value("valueFrom", Json::object());
      if (vf.contains("path")) {
        auto text = ReadFile(HostPath(mounts, vf["path"].get<std::string>()));
        if (text.ok()) {
          out["value"] = TrimTrailingNewlines(*text);
        } else if (vf.contains("default")) {
          out["value"] = vf["default"];
        } else if (exit_code == 0 && output_error.empty()) {
          output_error = "outputs.parameters." + name + ": " + vf["path"].get<std::string>() + ": no such file";
        }
      } else if (p.contains("value")) {
        out["value"] = p["value"];
      }
      if (out.contains("value")) outputs["parameters"].push_back(out);
    }
  }
  if (decl.contains("artifacts")) {
    outputs["artifacts"] = Json::array();
    for (const Json& a : decl["artifacts"]) {
      const std::string name = a.value("name", ""), path = a.value("path", "");
      const std::string field = "outputs.artifacts." + name;
      const std::string host = HostPath(mounts, path);
      if (path.empty() || !PathExists(host)) {
        if (a.value("optional", false) || exit_code != 0) continue;
        if (output_error.empty()) output_error = field + ": " + path + ": no such file or directory";
        continue;
      }
      auto saved = SaveArtifact(a, host, request.workflow + "/" + request.node_id + "/" + name + ".tgz",
                                artifacts, field);
      if (!saved.ok()) {
        if (output_error.empty()) output_error = saved.status().message();
        continue;
      }
      outputs["artifacts"].push_back(*saved);
    }
  }
  if (exit_code != 0) return Outcome("Failed", "Error (exit code " + std::to_string(exit_code) + ")", outputs);
  if (!output_error.empty()) return Outcome("Error", output_error, outputs);
  return Outcome("Succeeded", "", outputs);
}

// The Downward API's fields a pod's env may name (fieldRef.fieldPath), as they are on one machine.
container::FieldRefs PodFieldRefs(const PodRequest& request) {
  return {{"metadata.name", request.node_id}, {"metadata.namespace", "default"}, {"spec.nodeName", "localhost"},
          {"status.podIP", "127.0.0.1"}, {"status.hostIP", "127.0.0.1"}};
}

// What the process runtime refuses rather than ignores: a pod on the host cannot have its own
// root file system, capabilities or cgroup limits here.
Status ProcessRuntimeCanEnforce(const Json& tmpl, const Json& c, const std::string& kind,
                                const container::SecurityContext& sc) {
  const std::string why = ": the process runtime cannot enforce this (pods run as processes on the host); refused "
                          "rather than ignored";
  if (tmpl.contains("podSpecPatch")) return InvalidArgument("podSpecPatch" + why);
  if (c.contains("resources")) {
    LOOM_ASSIGN_OR_RETURN(container::Resources r, container::ParseResources(c["resources"], kind + ".resources"));
    if (!r.empty()) return InvalidArgument(kind + ".resources" + why);
  }
  const bool root = sc.run_as_user.value_or(geteuid()) == 0;
  const std::string f = kind + ".securityContext";
  if (sc.read_only_root_filesystem) return InvalidArgument(f + ".readOnlyRootFilesystem" + why);
  if (sc.privileged) return InvalidArgument(f + ".privileged" + why);
  // Not privileged, no capabilities: what a user other than root is anyway.
  for (const std::string& set : sc.set_fields) {
    if (root && set == f + ".privileged") return InvalidArgument(f + ".privileged: false" + why + " for a pod running as root");
  }
  if (!sc.capabilities_add.empty()) return InvalidArgument(f + ".capabilities.add" + why);
  if (!sc.capabilities_drop.empty() && root) {
    return InvalidArgument(f + ".capabilities.drop" + why + " for a pod running as root");
  }
  return OkStatus();
}

// The variables every pod gets besides its spec's, as a container gets its image's: PATH, HOME
// (of the user it runs as), HOSTNAME, and LOOM_HOME (pods run loom commands on the engine's state).
std::map<std::string, std::string> ProcessEnvironment(const PodRunnerOptions& options, uid_t uid) {
  std::map<std::string, std::string> env;
  env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  struct passwd pw, *found = nullptr;
  char buf[4096];
  env["HOME"] = getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found != nullptr ? pw.pw_dir : "/";
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) == 0) env["HOSTNAME"] = host;
  env["LOOM_HOME"] = options.home;
  return env;
}

// A daemon's readinessProbe, run on a thread of its own from when the process started: every
// periodSeconds after initialDelaySeconds, until successThreshold passes in a row (kReady) or
// failureThreshold failures in a row (kFailed), or Stop.
class Prober {
 public:
  enum State { kProbing, kReady, kFailed };
  Prober(ProbeSpec spec, ProbeTarget target) : spec_(std::move(spec)), target_(std::move(target)) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~Prober() { Stop(); }
  // Ends the loop; waits for a probe under way (at most timeoutSeconds).
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  State state() const { return state_.load(); }
  // Why it failed: "failed 3 times: <the last attempt's error>". REQUIRES: state() == kFailed.
  std::string failure() {
    std::lock_guard<std::mutex> lock(mu_);
    return failure_;
  }

 private:
  // Sleeps `secs`; false when stopped meanwhile.
  bool Sleep(double secs) {
    std::unique_lock<std::mutex> lock(mu_);
    return !cv_.wait_for(lock, std::chrono::duration<double>(secs), [&] { return stop_; });
  }
  void Loop() {
    if (!Sleep(spec_.initial_delay_secs)) return;
    int passed = 0, failed = 0;
    while (true) {
      Status s = ProbeOnce(spec_, target_);
      if (s.ok()) {
        failed = 0;
        if (++passed >= spec_.success_threshold) {
          state_ = kReady;
          return;
        }
      } else {
        passed = 0;
        if (++failed >= spec_.failure_threshold) {
          {
            std::lock_guard<std::mutex> lock(mu_);
            failure_ = "failed " + std::to_string(failed) + (failed == 1 ? " time: " : " times: ") + s.message();
          }
          state_ = kFailed;
          return;
        }
      }
      if (!Sleep(spec_.period_secs)) return;
    }
  }

  const ProbeSpec spec_;
  const ProbeTarget target_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::atomic<State> state_{kProbing};
  std::string failure_;
  std::thread thread_;
};

}  // namespace

bool MountNamespacesAvailable() {
  static const bool available = [] {
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
      if (unshare(CLONE_NEWNS) != 0) _exit(1);
      if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) _exit(1);
      _exit(0);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }();
  return available;
}

bool PidNamespacesAvailable() {
  static const bool available = [] {
    if (!MountNamespacesAvailable()) return false;
    const pid_t pid = static_cast<pid_t>(syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0));
    if (pid < 0) return false;
    if (pid == 0) _exit(getpid() == 1 ? 0 : 1);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }();
  return available;
}

std::vector<pid_t> PodProcesses(const std::string& workflow, const std::set<std::string>& node_ids) {
  std::vector<pid_t> found;
  if (node_ids.empty()) return found;
  auto entries = ListDir("/proc");
  if (!entries.ok()) return found;
  const std::string want_workflow = "ARGO_WORKFLOW_NAME=" + workflow;
  const pid_t self = getpid();
  for (const std::string& e : *entries) {
    if (e.empty() || e.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::atol(e.c_str()));
    if (pid == self) continue;
    auto environ_text = ReadFile("/proc/" + e + "/environ");
    if (!environ_text.ok()) continue;  // gone, or not ours to read
    bool workflow_matches = false, node_matches = false;
    const std::string& env = *environ_text;
    for (size_t at = 0; at < env.size();) {
      size_t end = env.find('\0', at);
      if (end == std::string::npos) end = env.size();
      const std::string_view var(env.data() + at, end - at);
      if (var == want_workflow) workflow_matches = true;
      if (var.substr(0, 13) == "ARGO_NODE_ID=" && node_ids.count(std::string(var.substr(13)))) node_matches = true;
      at = end + 1;
    }
    if (workflow_matches && node_matches) found.push_back(pid);
  }
  return found;
}

void LocalPodRunner::Reclaim(const std::string& workflow, const std::set<std::string>& node_ids) {
  std::string why;
  if (options_.runtime != PodRunnerOptions::Runtime::kProcess && Podman(&why) != nullptr) {
    for (const std::string& node : node_ids) {
      Status s = podman_->RemoveLabelled({{"loom.workflow", workflow}, {"loom.node", node}});
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
  Status made = MakeDirs(request.pod_dir);
  if (!made.ok()) return Outcome("Error", made.message());
  if (request.tmpl.contains("resource")) return RunResourceTemplate(request, store);
  if (request.tmpl.contains("container") || request.tmpl.contains("script")) {
    auto in_container = InContainer(request.tmpl);
    if (!in_container.ok()) return Outcome("Error", in_container.status().message());
    if (!*in_container) return RunProcess(request, store);
    std::string why;
    return RunContainer(request, store, *Podman(&why));
  }
  return Outcome("Error", "template " + request.tmpl.value("name", "") + ": not a container, script or resource template");
}

PodResult LocalPodRunner::RunResourceTemplate(const PodRequest& request, Store& store) {
  LogSink log(store, request, options_.log_flush_secs);
  ResourceOptions resource_options;
  resource_options.jobs_dir = options_.jobs_dir;
  resource_options.kill_grace_secs = options_.kill_grace_secs;
  // TFJob replicas run `loom train`: the loom binary of bin_dir, as pods find it on their PATH.
  const std::string loom = JoinPath(options_.bin_dir, "loom");
  if (!options_.bin_dir.empty() && access(loom.c_str(), X_OK) == 0) resource_options.loom_binary = loom;
  ResourceResult r = RunResource(request.tmpl["resource"], resource_options, request.cancel,
                                 [&](std::string_view line) { log.Write(line); });
  Json outputs = Json::object();
  const Json& decl = request.tmpl.contains("outputs") ? request.tmpl["outputs"] : Json::object();
  if (r.phase == "Succeeded" && decl.contains("parameters")) {
    outputs["parameters"] = Json::array();
    for (const Json& p : decl["parameters"]) {
      Json out = {{"name", p.value("name", "")}};
      const Json vf = p.value("valueFrom", Json::object());
      if (vf.contains("jsonPath")) {
        auto v = JsonPathValue(vf["jsonPath"].get<std::string>(), r.object);
        if (!v.ok()) {
          if (!vf.contains("default")) {
            log.Flush();
            return Outcome("Error", "outputs.parameters." + out["name"].get<std::string>() + ": " + v.status().message());
          }
          out["value"] = vf["default"];
        } else {
          out["value"] = *v;
        }
      } else if (p.contains("value")) {
        out["value"] = p["value"];
      } else {
        log.Flush();
        return Outcome("Error", "outputs.parameters." + out["name"].get<std::string>() +
                                    ": a resource template's parameters come from valueFrom.jsonPath");
      }
      outputs["parameters"].push_back(out);
    }
  }
  log.Flush();
  return Outcome(r.phase, r.message, outputs);
}

PodResult LocalPodRunner::RunProcess(const PodRequest& request, Store& store) {
  const Json& tmpl = request.tmpl;
  const bool is_script = tmpl.contains("script");
  const std::string kind = is_script ? "script" : "container";
  const Json& c = tmpl[kind];
  LogSink log(store, request, options_.log_flush_secs);
  auto fail = [&](const std::string& phase, const std::string& message) {
    log.Flush();
    return Outcome(phase, message);
  };
  const bool daemon = IsDaemonTemplate(tmpl);
  std::optional<ProbeSpec> probe;
  if (daemon && c.contains("readinessProbe")) {
    auto parsed = ParseProbe(c["readinessProbe"], c, kind + ".readinessProbe");
    if (!parsed.ok()) return fail("Error", parsed.status().message());
    probe = std::move(*parsed);
  }
  for (const char* unsupported : {"sidecars", "initContainers"}) {
    if (tmpl.contains(unsupported) && !tmpl[unsupported].empty()) {
      return fail("Error", std::string(unsupported) + ": run in containers only (--pod-runtime container, or auto "
                                                      "with the images in the local image store)");
    }
  }

  Launch launch;
  auto command = StringList(c, "command", kind);
  if (!command.ok()) return fail("Error", command.status().message());
  auto args = StringList(c, "args", kind);
  if (!args.ok()) return fail("Error", args.status().message());
  launch.argv = *command;
  if (is_script) {
    if (launch.argv.empty()) launch.argv = {"sh"};
    // Where Argo's executor puts it: /argo/staging/script (bind-mounted from the pod directory).
    const std::string script_path = JoinPath(request.pod_dir, "script");
    Status s = WriteFileAtomic(script_path, c.value("source", ""));
    if (!s.ok()) return fail("Error", s.message());
    if (isolated_) {
      launch.mounts.push_back({script_path, "/argo/staging/script", true});
      launch.argv.push_back("/argo/staging/script");
    } else {
      launch.argv.push_back(script_path);
    }
  }
  launch.argv.insert(launch.argv.end(), args->begin(), args->end());
  if (launch.argv.empty()) {
    return fail("Error", kind + ".command: empty (a process cannot run an image's entrypoint: --pod-runtime container or auto runs the image)");
  }

  // What the process runtime is asked to enforce, and can.
  auto security = container::ParseSecurityContext(tmpl.value("securityContext", Json()),
                                                  c.value("securityContext", Json()), "securityContext",
                                                  kind + ".securityContext");
  if (!security.ok()) return fail("Error", security.status().message());
  Status allowed = ProcessRuntimeCanEnforce(tmpl, c, kind, *security);
  if (!allowed.ok()) return fail("Error", allowed.message());
  if (security->run_as_user || security->run_as_group || !security->supplemental_groups.empty()) {
    launch.set_ids = true;
    launch.uid = static_cast<uid_t>(security->run_as_user.value_or(geteuid()));
    launch.gid = static_cast<gid_t>(security->run_as_group.value_or(security->run_as_user ? *security->run_as_user : getegid()));
    for (int64_t g : security->supplemental_groups) launch.groups.push_back(static_cast<gid_t>(g));
  }
  if (security->run_as_non_root) {
    // Kubernetes' kubelet words: the "image" here is the engine's own user.
    if (security->run_as_user && *security->run_as_user == 0) {
      return fail("Error", "container's runAsUser breaks non-root policy (pod: \"" + request.node_id + "\", container: main)");
    }
    if (!security->run_as_user && geteuid() == 0) {
      return fail("Error", "container has runAsNonRoot and image will run as root (pod: \"" + request.node_id +
                               "\", container: main)");
    }
  }
  launch.no_new_privs = security->allow_privilege_escalation.value_or(false) == false;
  launch.pid_namespace = isolated_ && options_.pid_namespace;

  // Environment: only what the spec sets (Secrets and ConfigMaps from the ConfigStore, never
  // this process's environment), then the runner's own variables.
  container::ConfigStore config(options_.objects_dir);
  auto spec_env = container::ResolveEnv(c, &config, PodFieldRefs(request), kind);
  if (!spec_env.ok()) return fail("Error", spec_env.status().message());
  std::map<std::string, std::string> env = ProcessEnvironment(options_, launch.set_ids ? launch.uid : geteuid());
  for (const container::EnvVar& e : *spec_env) env[e.name] = e.value;
  if (!options_.bin_dir.empty() && env["PATH"].rfind(options_.bin_dir + ":", 0) != 0) {
    env["PATH"] = options_.bin_dir + (env["PATH"].empty() ? "" : ":" + env["PATH"]);
  }
  env["ARGO_WORKFLOW_NAME"] = request.workflow;
  env["ARGO_NODE_ID"] = request.node_id;
  const std::string tmp_dir = JoinPath(request.pod_dir, "tmp");
  if (!isolated_) env["TMPDIR"] = tmp_dir;
  for (const auto& [k, v] : env) launch.env.push_back(k + "=" + v);
  launch.working_dir = c.value("workingDir", "");
  launch.pod_dir = request.pod_dir;

  // Mounts: /tmp, then volumes, then input artifacts (sorted so parents come first).
  Status s = MakeDirs(tmp_dir);
  // As an image's /tmp: any user may write it (securityContext.runAsUser).
  if (s.ok() && chmod(tmp_dir.c_str(), 01777) != 0) s = ErrnoStatus(tmp_dir, "chmod", errno);
  if (!s.ok()) return fail("Error", s.message());
  if (isolated_) {
    launch.mounts.insert(launch.mounts.begin(), {tmp_dir, "/tmp", false});
    // LoomHome() stays visible at its path even under /tmp (as in tests): pods run loom
    // commands that keep their state there.
    if (UnderPath(options_.home, "/tmp") && options_.home != "/tmp") {
      launch.mounts.push_back({options_.home, options_.home, false});
    }
    // So does the directory of the loom binary that bin_dir puts first on PATH (a checkout
    // cloned under /tmp, as CI may do): otherwise `loom` in a pod is "not found".
    if (!options_.bin_dir.empty() && UnderPath(options_.bin_dir, "/tmp") && options_.bin_dir != "/tmp" &&
        !UnderPath(options_.bin_dir, options_.home)) {
      launch.mounts.push_back({options_.bin_dir, options_.bin_dir, false});
    }
  }
  s = AddVolumesAndArtifacts(request, c, kind, options_, &launch.mounts);
  if (!s.ok()) return fail("Error", s.message());
  std::stable_sort(launch.mounts.begin(), launch.mounts.end(),
                   [](const Mount& a, const Mount& b) { return a.target.size() < b.target.size(); });
  if (launch.mounts.size() > 64) return fail("Error", "more than 64 volume mounts and artifacts in one pod");
  if (!isolated_ && !launch.mounts.empty()) {
    // A path of its own at an absolute place needs a mount namespace: a symlink on the host
    // would be every pod's at once.
    return fail("Error", "volumes and input artifacts at " + launch.mounts.front().target +
                             ": pods here have no mount namespace of their own (the engine needs root, or "
                             "CAP_SYS_ADMIN in a container), so no pod can have a path of its own");
  }
  // Start.
  int out_pipe[2], err_pipe[2], status_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return fail("Error", ErrnoStatus("pipe", "stdout", errno).message());
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]), close(out_pipe[1]);
    return fail("Error", ErrnoStatus("pipe", "stderr", errno).message());
  }
  if (pipe2(status_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]), close(out_pipe[1]), close(err_pipe[0]), close(err_pipe[1]);
    return fail("Error", ErrnoStatus("pipe", "status", errno).message());
  }
  std::vector<char*> argv, envp;
  for (std::string& a : launch.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (std::string& e : launch.env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t engine = getpid();
  // A PID namespace of its own: the child is the pod's pid 1 (RunInit). fork(2) by its system
  // call there, as glibc's fork takes no flags.
  pid_t pid = launch.pid_namespace ? static_cast<pid_t>(syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0)) : fork();
  if (pid == 0) Child(launch, isolated_, out_pipe[1], err_pipe[1], status_pipe[1], argv.data(), envp.data(), engine);
  close(out_pipe[1]);
  close(err_pipe[1]);
  close(status_pipe[1]);
  if (pid < 0) {
    close(out_pipe[0]), close(err_pipe[0]), close(status_pipe[0]);
    return fail("Error", ErrnoStatus("fork", "pod", errno).message());
  }
  setpgid(pid, pid);  // also in the child: whichever runs first

  // Collect output until both pipes close and the process has ended (its pidfd becomes
  // readable then); kill on cancel.
  int pid_fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  std::string stdout_text, start_error;
  pollfd fds[4] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}, {status_pipe[0], POLLIN, 0}, {pid_fd, POLLIN, 0}};
  int open_fds = 3;
  bool exited = false, cancelled = false;
  // A daemon: started (exec succeeded: the status pipe closed empty), ready (on_ready called),
  // its probe failed before it was ready (it is being stopped).
  bool started = false, ready = false, probe_failed = false;
  std::unique_ptr<Prober> prober;
  int wait_status = 0;
  Clock::time_point term_sent{}, exited_at{};
  char buf[1 << 16];
  while (open_fds > 0 || !exited) {
    if (!exited && waitpid(pid, &wait_status, WNOHANG) == pid) {
      exited = true;
      exited_at = Clock::now();
      kill(-pid, SIGKILL);  // the pod ends with its main process
      if (fds[3].fd >= 0) close(fds[3].fd), fds[3].fd = -1;
      continue;
    }
    if (!cancelled && request.cancel != nullptr && request.cancel->load()) {
      cancelled = true;
      term_sent = Clock::now();
      kill(-pid, SIGTERM);
    }
    if (daemon && started && !exited && !cancelled && !ready && !probe_failed) {
      if (!probe) {
        ready = true;
      } else if (!prober) {
        ProbeTarget target{pid, isolated_, launch.env};
        prober = std::make_unique<Prober>(*probe, std::move(target));
      } else if (prober->state() == Prober::kReady) {
        ready = true;
      } else if (prober->state() == Prober::kFailed) {
        probe_failed = true;
        term_sent = Clock::now();
        kill(-pid, SIGTERM);
      }
      if (ready) {
        log.Flush();
        if (request.on_ready) request.on_ready();
      }
    }
    if (probe_failed && !exited && SecondsSince(term_sent) >= options_.kill_grace_secs) kill(-pid, SIGKILL);
    if (cancelled && !exited && SecondsSince(term_sent) >= options_.kill_grace_secs) kill(-pid, SIGKILL);
    // Pipes held open by a process that left the group (setsid) must not hold the pod up.
    if (exited && SecondsSince(exited_at) > 0.5) break;
    // Without a pidfd (old kernels) the exit is noticed by polling every few milliseconds.
    int n = poll(fds, 4, fds[3].fd >= 0 || open_fds > 0 ? 50 : 2);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 3; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      ssize_t got = read(fds[i].fd, buf, sizeof(buf));
      if (got <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
        if (i == 2 && start_error.empty()) started = true;  // closed on exec
        continue;
      }
      const std::string_view chunk(buf, static_cast<size_t>(got));
      if (i == 2) {
        start_error.append(chunk);
      } else {
        log.Write(chunk);
        // outputs.result keeps at most kMaxResultBytes (Argo's results live in the node status
        // too); the log keeps everything.
        if (i == 0 && stdout_text.size() < kMaxResultBytes) {
          stdout_text.append(chunk.substr(0, kMaxResultBytes - stdout_text.size()));
        }
      }
    }
  }
  if (!exited) {  // gave up on the pipes of escaped processes; the main one is gone or going
    kill(-pid, SIGKILL);
    waitpid(pid, &wait_status, 0);
  }
  for (pollfd& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  std::string probe_failure;
  if (prober) {
    prober->Stop();
    probe_failure = prober->failure();
  }
  log.Flush();

  if (!start_error.empty()) return fail("Error", "failed to start the " + kind + ": " + start_error);
  const int exit_code = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status)
                        : WIFSIGNALED(wait_status) ? 128 + WTERMSIG(wait_status) : -1;
  Json outputs = Json::object();
  outputs["exitCode"] = std::to_string(exit_code);
  outputs["result"] = TrimTrailingNewlines(stdout_text);
  if (cancelled) return Outcome("Failed", "pod was stopped (exit code " + std::to_string(exit_code) + ")", outputs);
  if (probe_failed) return Outcome("Failed", kind + ".readinessProbe: " + probe_failure, outputs);
  if (daemon) {
    return Outcome("Failed", "Error (exit code " + std::to_string(exit_code) + "): the daemon exited" +
                                 (ready ? "" : " before it was ready"), outputs);
  }

  return ReadOutputs(request, launch.mounts, exit_code, std::move(outputs), options_.artifacts);
}


container::Podman* LocalPodRunner::Podman(std::string* why) {
  std::lock_guard<std::mutex> lock(podman_mu_);
  if (!podman_tried_) {
    podman_tried_ = true;
    auto made = container::Podman::Create(options_.podman);
    if (made.ok()) {
      podman_ = std::move(*made);
      LOOM_LOG(INFO) << "pods: containers run by podman with " << podman_->runtime();
    } else {
      podman_error_ = made.status().message();
    }
  }
  *why = podman_error_;
  return podman_.get();
}

StatusOr<bool> LocalPodRunner::InContainer(const Json& tmpl) {
  using Runtime = PodRunnerOptions::Runtime;
  const bool process = false;
  if (options_.runtime == Runtime::kProcess) return process;
  const std::string kind = tmpl.contains("script") ? "script" : "container";
  const bool must = options_.runtime == Runtime::kContainer;
  if (IsDaemonTemplate(tmpl)) {
    if (must) return InvalidArgument("daemon templates run as processes (--pod-runtime auto or process)");
    return process;
  }
  std::string why;
  container::Podman* podman = Podman(&why);
  if (podman == nullptr) {
    if (must) return FailedPrecondition(why);
    return process;
  }
  const std::string image = tmpl[kind].value("image", "");
  if (image.empty()) {
    if (must) return InvalidArgument(kind + ".image: required to run in a container");
    return process;
  }
  if (tmpl[kind].value("imagePullPolicy", "") == "Always") {
    if (must) return InvalidArgument(kind + ".imagePullPolicy: Always: images are not pulled here (no registry); use IfNotPresent");
    return process;
  }
  auto config = podman->InspectImage(image);
  if (config.ok()) return true;
  if (config.status().code() == StatusCode::kNotFound && !must) return process;
  return Status(config.status().code(), kind + ".image: " + config.status().message());
}

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
  LOOM_ASSIGN_OR_RETURN(spec.security, container::ParseSecurityContext(request.tmpl.value("securityContext", Json()),
                                                                       c.value("securityContext", Json()),
                                                                       "securityContext", field + ".securityContext"));
  LOOM_ASSIGN_OR_RETURN(spec.resources, container::ParseResources(c.value("resources", Json()), field + ".resources"));
  container::ConfigStore config(options.objects_dir);
  LOOM_ASSIGN_OR_RETURN(spec.env, container::ResolveEnv(c, &config, PodFieldRefs(request), field));
  spec.env.push_back({"ARGO_WORKFLOW_NAME", request.workflow});
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

}  // namespace

PodResult LocalPodRunner::RunContainer(const PodRequest& request, Store& store, container::Podman& podman) {
  const Json& tmpl = request.tmpl;
  const bool is_script = tmpl.contains("script");
  const std::string kind = is_script ? "script" : "container";
  const Json& c = tmpl[kind];
  LogSink log(store, request, options_.log_flush_secs);
  auto fail = [&](const std::string& phase, const std::string& message) {
    log.Flush();
    return Outcome(phase, message);
  };
  if (tmpl.contains("podSpecPatch")) return fail("Error", "podSpecPatch: not supported on one machine");

  // What every container of the pod sees: its /tmp, Loom's home at its path (pods run loom
  // commands on the engine's state) without the Secrets kept there, the script.
  const std::string tmp_dir = JoinPath(request.pod_dir, "tmp"), empty_dir = JoinPath(request.pod_dir, "empty");
  Status s = MakeDirs(tmp_dir);
  if (s.ok()) s = MakeDirs(empty_dir);
  if (s.ok() && chmod(tmp_dir.c_str(), 01777) != 0) s = ErrnoStatus(tmp_dir, "chmod", errno);
  if (!s.ok()) return fail("Error", s.message());
  std::vector<Mount> pod_mounts = {{tmp_dir, "/tmp", false}, {options_.home, options_.home, false}};
  if (IsDirectory(options_.objects_dir) && UnderPath(options_.objects_dir, options_.home)) {
    pod_mounts.push_back({empty_dir, options_.objects_dir, false});
  }
  std::vector<std::string> script;
  if (is_script) {
    const std::string script_path = JoinPath(request.pod_dir, "script");
    s = WriteFileAtomic(script_path, c.value("source", ""));
    if (!s.ok()) return fail("Error", s.message());
    pod_mounts.push_back({script_path, "/argo/staging/script", true});
    script = {"/argo/staging/script"};
  }
  auto main = ContainerSpecFor(request, c, kind, script, podman, options_, pod_mounts);
  if (!main.ok()) return fail("Error", main.status().message());
  main->name = "loom-" + request.node_id;
  auto output = [&](std::string* keep) {
    return [&log, keep](int, std::string_view bytes) {
      log.Write(bytes);
      if (keep != nullptr && keep->size() < kMaxResultBytes) keep->append(bytes.substr(0, kMaxResultBytes - keep->size()));
    };
  };

  // Init containers, one after the other, each to success (Kubernetes: a failed one fails the pod).
  const Json inits = tmpl.value("initContainers", Json::array());
  for (size_t i = 0; i < inits.size(); ++i) {
    const std::string field = JoinField("initContainers", i);
    auto spec = ContainerSpecFor(request, inits[i], field, {}, podman, options_, pod_mounts);
    if (!spec.ok()) return fail("Error", spec.status().message());
    spec->name = main->name + "-init-" + std::to_string(i);
    auto exit = podman.Run(*spec, request.cancel, output(nullptr));
    if (!exit.ok()) return fail("Error", exit.status().message());
    if (exit->stopped) return fail("Failed", "pod was stopped (exit code " + std::to_string(exit->exit_code) + ")");
    if (!exit->error.empty()) return fail("Error", "failed to start " + field + ": " + exit->error);
    if (exit->exit_code != 0) {
      return fail("Failed", field + " (" + inits[i].value("name", "") + "): " +
                                (exit->oom_killed ? "OOMKilled" : "Error") + " (exit code " + std::to_string(exit->exit_code) + ")");
    }
  }

  // Sidecars run beside the main container and are stopped when it ends, as Argo does.
  const Json sidecars = tmpl.value("sidecars", Json::array());
  std::vector<container::ContainerSpec> sidecar_specs;
  for (size_t i = 0; i < sidecars.size(); ++i) {
    const std::string field = JoinField("sidecars", i);
    auto spec = ContainerSpecFor(request, sidecars[i], field, {}, podman, options_, pod_mounts);
    if (!spec.ok()) return fail("Error", spec.status().message());
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
        log.Write(bytes);
      });
      if (!exit.ok()) LOOM_LOG(WARNING) << "workflow " << request.workflow << " " << spec.name << ": " << exit.status().message();
    });
  }
  std::string stdout_text;
  auto exit = podman.Run(*main, request.cancel, [&](int stream, std::string_view bytes) {
    std::lock_guard<std::mutex> lock(log_mu);
    log.Write(bytes);
    if (stream == 1 && stdout_text.size() < kMaxResultBytes) stdout_text.append(bytes.substr(0, kMaxResultBytes - stdout_text.size()));
  });
  stop_sidecars = true;
  for (std::thread& t : sidecar_threads) t.join();
  log.Flush();
  if (!exit.ok()) return fail("Error", exit.status().message());
  if (!exit->error.empty()) return fail("Error", "failed to start the " + kind + ": " + exit->error);
  Json outputs = Json::object();
  outputs["exitCode"] = std::to_string(exit->exit_code);
  outputs["result"] = TrimTrailingNewlines(stdout_text);
  if (exit->stopped) return Outcome("Failed", "pod was stopped (exit code " + std::to_string(exit->exit_code) + ")", outputs);
  // Argo's message for a main container the kernel killed at its memory limit.
  if (exit->oom_killed) return Outcome("Failed", "OOMKilled (exit code " + std::to_string(exit->exit_code) + ")", outputs);
  std::vector<Mount> mounts;
  for (const container::BindMount& m : main->mounts) mounts.push_back({m.source, m.target, false});
  return ReadOutputs(request, mounts, exit->exit_code, std::move(outputs), options_.artifacts);
}

}  // namespace loom::workflow
