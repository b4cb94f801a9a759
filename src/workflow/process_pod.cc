// The process runtime: a container or script template as a process on the host (pod_runner.h).
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include "core/file.h"
#include "workflow/pod_common.h"
#include "workflow/pod_runner.h"
#include "workflow/probe.h"

namespace loom::workflow {
namespace {

// Everything the child needs, computed before fork: the child only makes system calls.
struct Launch {
  std::vector<std::string> argv;
  // Where argv[0] is looked for, in turn: itself when it has a '/', else each directory of the
  // pod's PATH (execvpe would search the engine's).
  std::vector<std::string> exec_paths;
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

// Whether this kernel makes overlays with whiteouts in a mount namespace (tried once, in `dir`).
bool OverlaysAvailable(const std::string& dir) {
  static const bool available = [&dir] {
    const std::string lower = JoinPath(dir, "lower"), upper = JoinPath(dir, "upper"), work = JoinPath(dir, "work");
    if (!MakeDirs(lower).ok() || !MakeDirs(upper).ok() || !MakeDirs(work).ok()) return false;
    if (mknod(JoinPath(upper, "hidden").c_str(), S_IFCHR, makedev(0, 0)) != 0) return false;
    const std::string options = "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work;
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
      if (unshare(CLONE_NEWNS) != 0) _exit(1);
      if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) _exit(1);
      _exit(mount("overlay", lower.c_str(), "overlay", 0, options.c_str()) == 0 ? 0 : 1);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }();
  return available;
}

// The top directories of the template's output paths outside its mounts become overlays of the
// host's, so a pod's outputs there are its own as in Argo (each pod has its image's root): the
// entry of the top directory holding each output path (/mnt/out for /mnt/out/part.json) is
// hidden by a whiteout, so the pod finds nothing there, whatever the host or an earlier pod left,
// and may mkdir it; the rest of the host's directory stays visible. Nothing is made at the output
// paths themselves. Where the kernel makes no overlays, the pod writes to the host's paths.
Status AddOutputOverlays(const PodRequest& request, const std::string& home, std::vector<Mount>* mounts) {
  std::vector<std::string> paths;
  if (request.tmpl.outputs) {
    for (const Artifact& a : request.tmpl.outputs->artifacts) paths.push_back(a.path.value_or(""));
    for (const Parameter& p : request.tmpl.outputs->parameters) {
      if (p.value_from && p.value_from->path) paths.push_back(*p.value_from->path);
    }
  }
  for (const std::string& path : paths) {
    if (path.size() < 2 || path[0] != '/') continue;
    const size_t slash = path.find('/', 1);
    if (slash == std::string::npos || slash + 1 >= path.size()) continue;  // at / itself: the host's
    const std::string top = path.substr(0, slash);
    const std::string entry = path.substr(slash + 1, path.find('/', slash + 1) - slash - 1);
    if (top == "/proc" || top == "/sys" || top == "/dev" || entry == "." || entry == "..") continue;
    // Loom's state (which pods' loom commands write) and the pod's directory stay the host's.
    if (UnderPath(home, top) || UnderPath(request.pod_dir, top)) continue;
    const Mount* covering = nullptr;
    for (const Mount& m : *mounts) {
      if (UnderPath(path, m.target)) covering = &m;
    }
    if (covering != nullptr && covering->overlay_options.empty()) continue;  // a volume, an artifact, /tmp
    const std::string base = JoinPath(JoinPath(request.pod_dir, "overlays"), top.substr(1));
    const std::string upper = JoinPath(base, "upper"), work = JoinPath(base, "work");
    if (covering == nullptr) {
      if (!OverlaysAvailable(JoinPath(JoinPath(request.pod_dir, "overlays"), ".probe"))) return OkStatus();
      LOOM_RETURN_IF_ERROR(MakeDirs(upper));
      LOOM_RETURN_IF_ERROR(MakeDirs(work));
      mounts->push_back({upper, top, false, "lowerdir=" + top + ",upperdir=" + upper + ",workdir=" + work});
    }
    const std::string whiteout = JoinPath(upper, entry);
    if (mknod(whiteout.c_str(), S_IFCHR, makedev(0, 0)) != 0 && errno != EEXIST) {
      return ErrnoStatus(whiteout, "mknod (whiteout)", errno);
    }
  }
  return OkStatus();
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
    if (isolated && m.overlay_options[0] != '\0') {
      if (mount("overlay", m.target.c_str(), "overlay", 0, m.overlay_options.c_str()) != 0) {
        ChildFail(status_fd, "mount overlay", m.target.c_str());
      }
    } else if (isolated) {
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
    // The system calls themselves: glibc's wrappers would ask every thread of the engine (whose
    // memory this child shares) to change its ids too.
    if (syscall(SYS_setgroups, launch.groups.size(), launch.groups.data()) != 0) {
      ChildFail(status_fd, "setgroups", "securityContext");
    }
    if (syscall(SYS_setgid, launch.gid) != 0) ChildFail(status_fd, "setgid", "securityContext.runAsGroup");
    if (syscall(SYS_setuid, launch.uid) != 0) ChildFail(status_fd, "setuid", "securityContext.runAsUser");
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
  int exec_errno = ENOENT;
  for (const std::string& path : launch.exec_paths) {
    execve(path.c_str(), argv, envp);
    if (errno == EACCES) exec_errno = EACCES;  // as execvp: a later one may still run
    else if (errno != ENOENT && errno != ENOTDIR) {
      exec_errno = errno;
      break;
    }
  }
  errno = exec_errno;
  ChildFail(status_fd, "exec", argv[0]);
}

// Child's arguments through clone(2).
struct ChildArgs {
  const Launch* launch;
  bool isolated;
  int out_fd, err_fd, status_fd;
  char* const* argv;
  char* const* envp;
  pid_t engine;
};

int ChildEntry(void* arg) {
  const ChildArgs* a = static_cast<const ChildArgs*>(arg);
  Child(*a->launch, a->isolated, a->out_fd, a->err_fd, a->status_fd, a->argv, a->envp, a->engine);
}

// Starts Child without copying the engine's address space: CLONE_VM | CLONE_VFORK runs it on
// the engine's memory, on a stack of its own, while this thread waits for its exec (or exit).
// fork's copy of the page tables grew with the engine (about 100 MiB at 10,000 nodes), so each
// pod cost more the bigger the workflow (bench/workflow/README.md). Child makes system calls
// only and writes nothing of the engine's memory but its stack.
pid_t SpawnChild(ChildArgs* args) {
  constexpr size_t kStack = 256 << 10;
  void* stack = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return -1;
  const pid_t pid = clone(ChildEntry, static_cast<char*>(stack) + kStack, CLONE_VM | CLONE_VFORK | SIGCHLD, args);
  const int saved = errno;
  munmap(stack, kStack);
  errno = saved;
  return pid;
}

// What the process runtime refuses rather than ignores: a pod on the host cannot have its own
// root file system, capabilities or cgroup limits here.
Status ProcessRuntimeCanEnforce(const Template& tmpl, const Json& c, const std::string& kind,
                                const container::SecurityContext& sc) {
  const std::string why = ": the process runtime cannot enforce this (pods run as processes on the host); refused "
                          "rather than ignored";
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

namespace {

// An init container or a sidecar of a process pod: a process of the same pod (its node, its
// directory and volumes), with none of main's inputs, outputs or daemon.
PodRequest HelperRequest(const PodRequest& pod, const Json& c, const std::atomic<bool>* cancel) {
  PodRequest r = pod;
  r.tmpl.kind = TemplateKind::kContainer;
  r.tmpl.container = c;
  r.tmpl.init_containers.clear();
  r.tmpl.sidecars.clear();
  r.tmpl.inputs.artifacts.clear();
  r.tmpl.outputs.reset();
  r.tmpl.daemon.reset();
  r.on_ready = nullptr;
  r.before_outputs = nullptr;
  r.cancel = cancel;
  return r;
}

// Whether `program` (a command's first word) is a program on this host: an absolute path, or a
// name found on the pods' PATH.
bool HostHasProgram(const std::string& program, const std::string& bin_dir) {
  if (program.find('/') != std::string::npos) return access(program.c_str(), X_OK) == 0;
  std::string path = (bin_dir.empty() ? "" : bin_dir + ":") + "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  size_t at = 0;
  while (at <= path.size()) {
    const size_t end = std::min(path.find(':', at), path.size());
    const std::string dir = path.substr(at, end - at);
    if (!dir.empty() && access(JoinPath(dir, program).c_str(), X_OK) == 0) return true;
    at = end + 1;
  }
  return false;
}

}  // namespace

PodResult LocalPodRunner::RunProcessPodWith(const PodRequest& request, TemplatePod& pod) {
  // Init containers, one after the other, each to success (Kubernetes: a failed one fails the pod).
  const std::vector<Json>& inits = request.tmpl.init_containers;
  for (size_t i = 0; i < inits.size(); ++i) {
    const std::string field = JoinField("initContainers", i);
    PodRequest sub = HelperRequest(request, inits[i], request.cancel);
    TemplatePod init(sub, pod.log.store(), options_.log_flush_secs);
    init.kind = field;
    PodResult r = RunProcess(sub, init);
    if (r.phase == "Succeeded") continue;
    if (!r.outputs.contains("exitCode") || r.message.rfind("pod was stopped", 0) == 0) return pod.Fail(r.phase, r.message);
    return pod.Fail("Failed", field + " (" + inits[i].value("name", "") + "): Error (exit code " +
                                  r.outputs["exitCode"].get<std::string>() + ")");
  }
  // Sidecars run beside main as processes of their own and are stopped when it ends, as Argo
  // does. Their program must be on this host: a process pod has no image to take it from.
  const std::vector<Json>& sidecars = request.tmpl.sidecars;
  for (size_t i = 0; i < sidecars.size(); ++i) {
    const std::string field = JoinField("sidecars", i);
    auto command = StringList(sidecars[i], "command", field);
    if (!command.ok()) return pod.Fail("Error", command.status().message());
    if (command->empty()) {
      return pod.Fail("Error", field + ".command: empty (a process cannot run an image's entrypoint: --pod-runtime "
                                       "container or auto runs the image)");
    }
    if (!HostHasProgram(command->front(), options_.bin_dir)) {
      return pod.Fail("Error", field + " (" + sidecars[i].value("name", "") + "): " + command->front() +
                                   ": not found on this host (a process pod runs a sidecar's command on the host; "
                                   "--pod-runtime container or auto runs its image)");
    }
  }
  std::atomic<bool> stop_sidecars{false};
  std::vector<std::thread> threads;
  for (size_t i = 0; i < sidecars.size(); ++i) {
    threads.emplace_back([&, i] {
      PodRequest sub = HelperRequest(request, sidecars[i], &stop_sidecars);
      TemplatePod sidecar(sub, pod.log.store(), options_.log_flush_secs);
      sidecar.kind = JoinField("sidecars", i);
      RunProcess(sub, sidecar);
    });
  }
  PodRequest main = request;
  main.tmpl.init_containers.clear();
  main.tmpl.sidecars.clear();
  PodResult result = RunProcess(main, pod);
  stop_sidecars = true;
  for (std::thread& t : threads) t.join();
  return result;
}

PodResult LocalPodRunner::RunProcess(const PodRequest& request, TemplatePod& pod) {
  const bool daemon = request.tmpl.IsDaemon();
  std::optional<ProbeSpec> probe;
  if (daemon && pod.container.contains("readinessProbe")) {
    auto parsed = ParseProbe(pod.container["readinessProbe"], pod.container, pod.kind + ".readinessProbe");
    if (!parsed.ok()) return pod.Fail("Error", parsed.status().message());
    probe = std::move(*parsed);
  }
  if (!request.tmpl.sidecars.empty() || !request.tmpl.init_containers.empty()) return RunProcessPodWith(request, pod);

  Launch launch;
  auto command = StringList(pod.container, "command", pod.kind);
  if (!command.ok()) return pod.Fail("Error", command.status().message());
  auto args = StringList(pod.container, "args", pod.kind);
  if (!args.ok()) return pod.Fail("Error", args.status().message());
  launch.argv = *command;
  if (pod.is_script) {
    if (launch.argv.empty()) launch.argv = {"sh"};
    // Where Argo's executor puts it (bind-mounted from the pod directory).
    auto script_path = StageScript(request, pod.container);
    if (!script_path.ok()) return pod.Fail("Error", script_path.status().message());
    if (isolated_) {
      launch.mounts.push_back({*script_path, kScriptPodPath, true});
      launch.argv.push_back(kScriptPodPath);
    } else {
      launch.argv.push_back(*script_path);
    }
  }
  launch.argv.insert(launch.argv.end(), args->begin(), args->end());
  if (launch.argv.empty()) {
    return pod.Fail("Error", pod.kind + ".command: empty (a process cannot run an image's entrypoint: --pod-runtime container or auto runs the image)");
  }

  // What the process runtime is asked to enforce, and can.
  auto security = container::ParseSecurityContext(request.tmpl.security_context.value_or(Json()),
                                                  pod.container.value("securityContext", Json()), "securityContext",
                                                  pod.kind + ".securityContext");
  if (!security.ok()) return pod.Fail("Error", security.status().message());
  Status allowed = ProcessRuntimeCanEnforce(request.tmpl, pod.container, pod.kind, *security);
  if (!allowed.ok()) return pod.Fail("Error", allowed.message());
  if (security->run_as_user || security->run_as_group || !security->supplemental_groups.empty()) {
    launch.set_ids = true;
    launch.uid = static_cast<uid_t>(security->run_as_user.value_or(geteuid()));
    launch.gid = static_cast<gid_t>(security->run_as_group.value_or(security->run_as_user ? *security->run_as_user : getegid()));
    for (int64_t g : security->supplemental_groups) launch.groups.push_back(static_cast<gid_t>(g));
  }
  if (security->run_as_non_root) {
    // Kubernetes' kubelet words: the "image" here is the engine's own user.
    if (security->run_as_user && *security->run_as_user == 0) {
      return pod.Fail("Error", "container's runAsUser breaks non-root policy (pod: \"" + request.node_id + "\", container: main)");
    }
    if (!security->run_as_user && geteuid() == 0) {
      return pod.Fail("Error", "container has runAsNonRoot and image will run as root (pod: \"" + request.node_id +
                               "\", container: main)");
    }
  }
  launch.no_new_privs = security->allow_privilege_escalation.value_or(false) == false;
  launch.pid_namespace = isolated_ && options_.pid_namespace;

  // Environment: only what the spec sets (Secrets and ConfigMaps from the ConfigStore, never
  // this process's environment), then the runner's own variables.
  container::ConfigStore config(options_.objects_dir, KeyNamespace(request.workflow));
  auto spec_env = container::ResolveEnv(pod.container, &config, PodFieldRefs(request), pod.kind);
  if (!spec_env.ok()) return pod.Fail("Error", spec_env.status().message());
  std::map<std::string, std::string> env =
      container::HostProcessEnvironment(options_.home, launch.set_ids ? launch.uid : geteuid());
  for (const container::EnvVar& e : *spec_env) env[e.name] = e.value;
  container::PutFirstOnPath(options_.bin_dir, &env);
  env["ARGO_WORKFLOW_NAME"] = KeyName(request.workflow);
  env["ARGO_NODE_ID"] = request.node_id;
  const std::string tmp_dir = JoinPath(request.pod_dir, "tmp");
  if (!isolated_) env["TMPDIR"] = tmp_dir;
  for (const auto& [k, v] : env) launch.env.push_back(k + "=" + v);
  if (launch.argv[0].find('/') != std::string::npos) {
    launch.exec_paths = {launch.argv[0]};
  } else {
    const std::string& path = env["PATH"];
    for (size_t at = 0; at <= path.size();) {
      size_t end = path.find(':', at);
      if (end == std::string::npos) end = path.size();
      launch.exec_paths.push_back(JoinPath(end > at ? path.substr(at, end - at) : ".", launch.argv[0]));
      at = end + 1;
    }
  }
  launch.working_dir = pod.container.value("workingDir", "");
  launch.pod_dir = request.pod_dir;

  // Mounts: /tmp, then volumes, then input artifacts, then overlays (sorted so parents come first).
  Status s = MakeDirs(tmp_dir);
  // As an image's /tmp: any user may write it (securityContext.runAsUser).
  if (s.ok() && chmod(tmp_dir.c_str(), 01777) != 0) s = ErrnoStatus(tmp_dir, "chmod", errno);
  if (!s.ok()) return pod.Fail("Error", s.message());
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
  // In order: /tmp and the paths kept visible under it; what the pod must not see of the home;
  // then its volumes and artifacts (parents first), so that a hostPath holding the home shows it
  // masked as well.
  if (isolated_) {
    auto masks = MaskHome(request, options_);
    if (!masks.ok()) return pod.Fail("Error", masks.status().message());
    launch.mounts.insert(launch.mounts.end(), masks->begin(), masks->end());
  }
  const size_t first_volume = launch.mounts.size();
  s = AddVolumesAndArtifacts(request, pod.container, pod.kind, options_, &launch.mounts);
  if (s.ok() && isolated_) s = AddOutputOverlays(request, options_.home, &launch.mounts);
  if (!s.ok()) return pod.Fail("Error", s.message());
  // Overlays first: their upper directories must be reached before /tmp is covered (they are
  // top directories of the root, under no other mount). Then /tmp and what it keeps visible,
  // the masks, then the volumes and artifacts, parents first.
  const auto overlays_end = std::stable_partition(launch.mounts.begin(), launch.mounts.end(),
                                                  [](const Mount& m) { return !m.overlay_options.empty(); });
  const long overlays = overlays_end - launch.mounts.begin();
  std::stable_sort(launch.mounts.begin() + static_cast<long>(first_volume) + overlays, launch.mounts.end(),
                   [](const Mount& a, const Mount& b) { return a.target.size() < b.target.size(); });
  if (launch.mounts.size() > 64) return pod.Fail("Error", "more than 64 volume mounts and artifacts in one pod");
  if (!isolated_ && options_.isolation == PodRunnerOptions::Isolation::kAuto) {
    // Refused rather than leaked: in the host's mount namespace, as the engine's user, a pod
    // reads the server's token, the state store and every other pod's files.
    return pod.Fail("Error", "pods here have no mount namespace of their own (the engine needs root, or "
                             "CAP_SYS_ADMIN in a container), so a pod would read the engine's token, its state "
                             "and other pods' files: refused");
  }
  if (!isolated_ && !launch.mounts.empty()) {
    // A path of its own at an absolute place needs a mount namespace: a symlink on the host
    // would be every pod's at once.
    return pod.Fail("Error", "volumes and input artifacts at " + launch.mounts.front().target +
                             ": pods here have no mount namespace of their own (the engine needs root, or "
                             "CAP_SYS_ADMIN in a container), so no pod can have a path of its own");
  }
  // Start.
  int out_pipe[2], err_pipe[2], status_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return pod.Fail("Error", ErrnoStatus("pipe", "stdout", errno).message());
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]), close(out_pipe[1]);
    return pod.Fail("Error", ErrnoStatus("pipe", "stderr", errno).message());
  }
  if (pipe2(status_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]), close(out_pipe[1]), close(err_pipe[0]), close(err_pipe[1]);
    return pod.Fail("Error", ErrnoStatus("pipe", "status", errno).message());
  }
  std::vector<char*> argv, envp;
  for (std::string& a : launch.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (std::string& e : launch.env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t engine = getpid();
  // A PID namespace of its own: the child is the pod's pid 1 (RunInit), which never execs, so it
  // is a copy of the engine (fork(2) by its system call, as glibc's fork takes no flags).
  // Otherwise SpawnChild: no copy.
  ChildArgs child_args{&launch, isolated_, out_pipe[1], err_pipe[1], status_pipe[1], argv.data(), envp.data(), engine};
  pid_t pid = launch.pid_namespace ? static_cast<pid_t>(syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0))
                                   : SpawnChild(&child_args);
  if (pid == 0) Child(launch, isolated_, out_pipe[1], err_pipe[1], status_pipe[1], argv.data(), envp.data(), engine);
  close(out_pipe[1]);
  close(err_pipe[1]);
  close(status_pipe[1]);
  if (pid < 0) {
    close(out_pipe[0]), close(err_pipe[0]), close(status_pipe[0]);
    return pod.Fail("Error", ErrnoStatus("fork", "pod", errno).message());
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
        pod.log.Flush();
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
        pod.log.Write(chunk);
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
  pod.log.Flush();

  if (!start_error.empty()) return pod.Fail("Error", "failed to start the " + pod.kind + ": " + start_error);
  const int exit_code = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status)
                        : WIFSIGNALED(wait_status) ? 128 + WTERMSIG(wait_status) : -1;
  Json outputs = Json::object();
  outputs["exitCode"] = std::to_string(exit_code);
  outputs["result"] = TrimTrailingNewlines(stdout_text);
  if (cancelled) return Outcome("Failed", "pod was stopped (exit code " + std::to_string(exit_code) + ")", outputs);
  if (probe_failed) return Outcome("Failed", pod.kind + ".readinessProbe: " + probe_failure, outputs);
  if (daemon) {
    return Outcome("Failed", "Error (exit code " + std::to_string(exit_code) + "): the daemon exited" +
                                 (ready ? "" : " before it was ready"), outputs);
  }

  if (request.before_outputs) request.before_outputs();
  return ReadOutputs(request, launch.mounts, exit_code, std::move(outputs), options_.artifacts);
}

}  // namespace loom::workflow
