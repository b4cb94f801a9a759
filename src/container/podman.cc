#include "container/podman.h"

#include "container/command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "core/file.h"
#include "core/json.h"
#include "core/logging.h"

namespace loom::container {
namespace {

std::vector<std::string> Strings(const Json& j) {
  std::vector<std::string> out;
  if (j.is_array()) {
    for (const Json& v : j) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
  }
  return out;
}

// A new file only this user can read, from its creation on.
Status WritePrivateFile(const std::string& path, const std::string& text) {
  unlink(path.c_str());  // left by an attempt that died
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(path, "create", errno);
  const bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const int err = errno;
  close(fd);
  return ok ? OkStatus() : ErrnoStatus(path, "write", err);
}

bool IsNumber(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }

// A memory cgroup of the pod's own (cgroup v1), the container's parent: the limit is set here,
// and the kernel's OOM notification (an eventfd on memory.oom_control) says whether it killed.
class MemoryCgroup {
 public:
  static StatusOr<std::unique_ptr<MemoryCgroup>> Create(const std::string& parent, const std::string& name,
                                                        int64_t limit) {
    std::unique_ptr<MemoryCgroup> g(new MemoryCgroup(JoinPath(parent, name)));
    const std::string dir = JoinPath("/sys/fs/cgroup/memory", g->relative_);
    LOOM_RETURN_IF_ERROR(MakeDirs(dir));
    LOOM_RETURN_IF_ERROR(WriteValue(JoinPath(dir, "memory.limit_in_bytes"), std::to_string(limit)));
    // No swap beyond the limit, as Kubernetes runs without swap.
    const std::string memsw = JoinPath(dir, "memory.memsw.limit_in_bytes");
    if (PathExists(memsw)) LOOM_RETURN_IF_ERROR(WriteValue(memsw, std::to_string(limit)));
    g->control_fd_ = open(JoinPath(dir, "memory.oom_control").c_str(), O_RDONLY | O_CLOEXEC);
    g->event_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (g->control_fd_ < 0 || g->event_fd_ < 0) return ErrnoStatus(dir, "memory.oom_control", errno);
    LOOM_RETURN_IF_ERROR(WriteValue(JoinPath(dir, "cgroup.event_control"),
                                    std::to_string(g->event_fd_) + " " + std::to_string(g->control_fd_)));
    return g;
  }
  ~MemoryCgroup() {
    if (event_fd_ >= 0) close(event_fd_);
    if (control_fd_ >= 0) close(control_fd_);
    // podman made the same path in every controller (and conmon's beside the container's).
    auto controllers = ListDir("/sys/fs/cgroup");
    if (!controllers.ok()) return;
    for (const std::string& c : *controllers) RemoveTree(JoinPath(JoinPath("/sys/fs/cgroup", c), relative_));
  }
  // "/loom/<name>", for --cgroup-parent.
  std::string parent_arg() const { return "/" + relative_; }
  bool OomKilled() const {
    uint64_t count = 0;
    return read(event_fd_, &count, sizeof(count)) == sizeof(count) && count > 0;
  }

 private:
  explicit MemoryCgroup(std::string relative) : relative_(std::move(relative)) {}
  static Status WriteValue(const std::string& path, const std::string& value) {
    const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(path, "open", errno);
    const bool ok = write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
    const int err = errno;
    close(fd);
    return ok ? OkStatus() : ErrnoStatus(path, "write", err);
  }
  // Cgroup directories go with rmdir, children first (their files cannot be unlinked).
  static void RemoveTree(const std::string& dir) {
    auto entries = ListDir(dir);
    if (!entries.ok()) return;
    for (const std::string& e : *entries) {
      if (IsDirectory(JoinPath(dir, e))) RemoveTree(JoinPath(dir, e));
    }
    rmdir(dir.c_str());
  }
  std::string relative_;
  int control_fd_ = -1;
  int event_fd_ = -1;
};

// The nofile and nproc limits containers get, first choice first: this process's own, then
// 1024 of each. podman would raise them to its defaults, which a sandbox may refuse
// ("setrlimit RLIMIT_NOFILE: Operation not permitted"), and the runtime's own hard limits may
// be lower than this process's.
std::vector<std::vector<std::string>> UlimitChoices() {
  std::vector<std::string> own;
  for (int resource : {RLIMIT_NOFILE, RLIMIT_NPROC}) {
    struct rlimit l;
    if (getrlimit(resource, &l) != 0) continue;
    auto text = [](rlim_t v) { return v == RLIM_INFINITY ? std::string("-1") : std::to_string(v); };
    own.insert(own.end(), {"--ulimit", std::string(resource == RLIMIT_NOFILE ? "nofile=" : "nproc=") +
                                           text(l.rlim_cur) + ":" + text(l.rlim_max)});
  }
  return {own, {"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"}};
}

bool CgroupV1Memory() { return IsDirectory("/sys/fs/cgroup/memory") && !PathExists("/sys/fs/cgroup/cgroup.controllers"); }

}  // namespace

StatusOr<std::vector<std::string>> ContainerArgv(const ImageConfig& image, const std::vector<std::string>& command,
                                                 const std::vector<std::string>& args, const std::string& field) {
  std::vector<std::string> argv = command.empty() ? image.entrypoint : command;
  const std::vector<std::string>& rest = command.empty() && args.empty() ? image.cmd : args;
  argv.insert(argv.end(), rest.begin(), rest.end());
  if (argv.empty()) {
    return InvalidArgument(field + ".command: empty, and the image has no ENTRYPOINT or CMD");
  }
  return argv;
}

Status CheckRunAsNonRoot(const SecurityContext& security, const ImageConfig& image, const std::string& pod) {
  if (!security.run_as_non_root) return OkStatus();
  const std::string where = " (pod: \"" + pod + "\", container: main)";
  if (security.run_as_user) {
    if (*security.run_as_user == 0) return FailedPrecondition("container's runAsUser breaks non-root policy" + where);
    return OkStatus();
  }
  const std::string user = image.user.substr(0, image.user.find(':'));
  if (user.empty() || user == "root" || user == "0") {
    return FailedPrecondition("container has runAsNonRoot and image will run as root" + where);
  }
  if (!IsNumber(user)) {
    return FailedPrecondition("container has runAsNonRoot and image has non-numeric user (" + user +
                              "), cannot verify user is non-root" + where);
  }
  return OkStatus();
}

StatusOr<std::unique_ptr<Podman>> Podman::Create(const PodmanOptions& options) {
  std::vector<std::string> candidates = {options.runtime};
  if (options.runtime.empty()) candidates = {"crun", "runc"};
  const std::string rootfs = TempPathFor("/tmp/loom-runtime-probe");
  LOOM_RETURN_IF_ERROR(MakeDirs(rootfs));
  std::string tried;
  std::string chosen;
  std::vector<std::string> ulimits;
  for (const std::string& runtime : candidates) {
    for (const std::vector<std::string>& limits : UlimitChoices()) {
      // An empty root file system: a runtime that works gets as far as exec (127: not found).
      std::vector<std::string> probe = {options.podman, "--runtime", runtime, "run", "--rm", "--network", "none"};
      probe.insert(probe.end(), limits.begin(), limits.end());
      probe.insert(probe.end(), {"--rootfs", rootfs, "/loom-runtime-probe"});
      auto r = RunCommand(probe);
      if (!r.ok()) {
        (void)RemoveAll(rootfs);
        return FailedPrecondition("container runtime: " + r.status().message() + " (is podman installed?)");
      }
      if (r->exit_code == 127) {
        chosen = runtime;
        ulimits = limits;
        break;
      }
      const std::string error = CommandError(*r);
      tried += (tried.empty() ? "" : "; ") + runtime + ": " + error;
      if (error.find("rlimit") == std::string::npos) break;  // not a matter of limits: the next runtime
    }
    if (!chosen.empty()) break;
  }
  (void)RemoveAll(rootfs);
  if (chosen.empty()) return FailedPrecondition("container runtime: no OCI runtime works here: " + tried);
  return std::unique_ptr<Podman>(new Podman(options, chosen, ulimits));
}

std::vector<std::string> Podman::Base() const { return {options_.podman, "--runtime", runtime_}; }

StatusOr<ImageConfig> Podman::InspectImage(const std::string& image) const {
  std::vector<std::string> args = Base();
  args.insert(args.end(), {"image", "inspect", "--format", "{{.Id}} {{json .Config}}", image});
  LOOM_ASSIGN_OR_RETURN(CommandResult r, RunCommand(args));
  if (r.exit_code != 0) {
    if (r.err.find("no such image") != std::string::npos || r.err.find("image not known") != std::string::npos) {
      return NotFound("image " + image + " is not in the local image store");
    }
    return Unavailable("podman image inspect " + image + ": " + CommandError(r));
  }
  const size_t space = r.out.find(' ');
  if (space == std::string::npos) return Unavailable("podman image inspect " + image + ": unexpected answer");
  LOOM_ASSIGN_OR_RETURN(Json config, ParseJson(r.out.substr(space + 1), "podman image inspect"));
  ImageConfig c;
  c.id = r.out.substr(0, space);
  if (config.is_object()) {
    c.entrypoint = Strings(config.value("Entrypoint", Json()));
    c.cmd = Strings(config.value("Cmd", Json()));
    c.env = Strings(config.value("Env", Json()));
    c.working_dir = config.value("WorkingDir", "");
    c.user = config.value("User", "");
  }
  return c;
}

StatusOr<ContainerExit> Podman::Run(const ContainerSpec& spec, const std::atomic<bool>* cancel,
                                    const std::function<void(int, std::string_view)>& output) const {
  LOOM_RETURN_IF_ERROR(CheckRunAsNonRoot(spec.security, spec.image_config, spec.name));
  std::vector<std::string> create = Base();
  create.insert(create.end(), {"create", "--name", spec.name, "--network", "host", "--pull", "never"});
  for (const auto& [k, v] : spec.labels) create.insert(create.end(), {"--label", k + "=" + v});
  create.insert(create.end(), ulimits_.begin(), ulimits_.end());
  if (!spec.sandbox.empty()) {
    create.insert(create.end(), {"--ipc", "container:" + spec.sandbox, "--pid", "container:" + spec.sandbox});
  }
  // The argv as Kubernetes resolved it: the entrypoint is its first word, the rest are args.
  create.insert(create.end(), {"--entrypoint", Json(std::vector<std::string>{spec.argv.front()}).dump()});
  if (!spec.working_dir.empty()) create.insert(create.end(), {"--workdir", spec.working_dir});
  for (const BindMount& m : spec.mounts) {
    if (m.source.find(',') != std::string::npos || m.target.find(',') != std::string::npos) {
      return InvalidArgument(spec.field + ": mount " + m.target + ": a path with a comma cannot be mounted by podman");
    }
    create.insert(create.end(), {"--mount", "type=bind,source=" + m.source + ",destination=" + m.target +
                                                (m.read_only ? ",ro=true" : "")});
  }
  // Security.
  const SecurityContext& sc = spec.security;
  if (sc.run_as_user || sc.run_as_group) {
    std::string user = sc.run_as_user ? std::to_string(*sc.run_as_user)
                                      : spec.image_config.user.substr(0, spec.image_config.user.find(':'));
    if (user.empty()) user = "0";
    if (sc.run_as_group) user += ":" + std::to_string(*sc.run_as_group);
    create.insert(create.end(), {"--user", user});
  }
  for (int64_t g : sc.supplemental_groups) create.insert(create.end(), {"--group-add", std::to_string(g)});
  if (sc.read_only_root_filesystem) create.insert(create.end(), {"--read-only", "--read-only-tmpfs=false"});
  if (sc.privileged) create.push_back("--privileged");
  for (const std::string& c : sc.capabilities_add) create.insert(create.end(), {"--cap-add", c});
  for (const std::string& c : sc.capabilities_drop) create.insert(create.end(), {"--cap-drop", c});
  if (!sc.privileged && !sc.allow_privilege_escalation.value_or(false)) {
    create.insert(create.end(), {"--security-opt", "no-new-privileges"});
  }
  // Resources.
  const Resources& res = spec.resources;
  std::unique_ptr<MemoryCgroup> cgroup;
  if (res.memory_limit > 0) {
    if (CgroupV1Memory()) {
      LOOM_ASSIGN_OR_RETURN(cgroup, MemoryCgroup::Create(options_.cgroup_parent, spec.name, res.memory_limit));
      create.insert(create.end(), {"--cgroup-parent", cgroup->parent_arg()});
    } else {
      create.insert(create.end(), {"--memory", std::to_string(res.memory_limit), "--memory-swap",
                                   std::to_string(res.memory_limit)});
    }
  }
  if (res.memory_request > 0) create.insert(create.end(), {"--memory-reservation", std::to_string(res.memory_request)});
  if (res.cpu_limit > 0) create.insert(create.end(), {"--cpus", std::to_string(res.cpu_limit)});
  if (res.cpu_request > 0) {
    create.insert(create.end(), {"--cpu-shares", std::to_string(std::max<int64_t>(2, static_cast<int64_t>(res.cpu_request * 1024)))});
  }
  // The environment, from a file only the engine can read, gone once the container exists.
  const std::string env_file = JoinPath(spec.scratch_dir, "." + spec.name + ".env");
  std::string env_text;
  for (const EnvVar& e : spec.env) {
    if (e.value.find('\n') != std::string::npos || e.name.find('=') != std::string::npos) {
      return InvalidArgument(spec.field + ".env: " + e.name + ": a value with a line break cannot be passed to podman");
    }
    env_text += e.name + "=" + e.value + "\n";
  }
  LOOM_RETURN_IF_ERROR(WritePrivateFile(env_file, env_text));
  create.insert(create.end(), {"--env-file", env_file, spec.image});
  create.insert(create.end(), spec.argv.begin() + 1, spec.argv.end());

  std::vector<std::string> rm = Base();
  rm.insert(rm.end(), {"rm", "--force", "--time", "0", spec.name});
  (void)RunCommand(rm);  // an earlier attempt's, left by an engine that died
  auto created = RunCommand(create);
  unlink(env_file.c_str());
  if (!created.ok()) return created.status();
  ContainerExit exit;
  if (created->exit_code != 0) {
    exit.error = CommandError(*created);
    return exit;
  }

  // Attached: stdout and stderr as they come. Cancel: podman stop on a thread of its own.
  std::thread stopper;
  std::vector<std::string> start = Base();
  start.insert(start.end(), {"start", "--attach", spec.name});
  std::string stderr_tail;  // podman's own error, when the container could not start
  auto started = RunCommand(start, [&](int stream, std::string_view bytes) {
    if (stream == 2) {
      stderr_tail.append(bytes);
      if (stderr_tail.size() > 4096) stderr_tail.erase(0, stderr_tail.size() - 4096);
    }
    output(stream, bytes);
  }, [&] {
    if (cancel != nullptr && cancel->load() && !exit.stopped) {
      exit.stopped = true;
      std::vector<std::string> stop = Base();
      stop.insert(stop.end(), {"stop", "--time", std::to_string(static_cast<int>(options_.stop_grace_secs + 0.999)),
                               spec.name});
      stopper = std::thread([stop] { (void)RunCommand(stop); });
    }
  });
  if (stopper.joinable()) stopper.join();
  std::vector<std::string> inspect = Base();
  inspect.insert(inspect.end(), {"inspect", "--format", "{{json .State}}", spec.name});
  auto state = RunCommand(inspect);
  (void)RunCommand(rm);
  if (!started.ok()) return started.status();
  if (!state.ok()) return state.status();
  if (state->exit_code != 0) return Unavailable("podman inspect " + spec.name + ": " + CommandError(*state));
  LOOM_ASSIGN_OR_RETURN(Json s, ParseJson(state->out, "podman inspect"));
  exit.exit_code = s.value("ExitCode", -1);
  // A process the kernel killed at the limit, and the container ended by that kill (137): what
  // Kubernetes reports as OOMKilled. A container whose main process outlived the kill is not.
  exit.oom_killed = (s.value("OOMKilled", false) || (cgroup && cgroup->OomKilled())) && exit.exit_code == 137;
  if (s.value("Status", "") == "created" && started->exit_code != 0) {
    // Never started (the runtime could not exec it): Kubernetes' StartError, exit code 128.
    CommandResult failed;
    failed.err = stderr_tail.substr(stderr_tail.rfind("Error: ") == std::string::npos ? 0 : stderr_tail.rfind("Error: "));
    exit.error = CommandError(failed);
    exit.exit_code = 128;
  } else if (!s.value("Error", "").empty()) {
    exit.error = s.value("Error", "");
  }
  return exit;
}

Status Podman::StartSandbox(const std::string& name, const std::string& root_dir,
                            const std::vector<std::pair<std::string, std::string>>& labels) const {
  std::string pause;
  for (const char* path : {"/usr/bin/catatonit", "/usr/libexec/podman/catatonit"}) {
    if (access(path, X_OK) == 0) {
      pause = path;
      break;
    }
  }
  if (pause.empty()) return FailedPrecondition("sandbox " + name + ": catatonit not found (scripts/install_deps.sh installs it)");
  LOOM_RETURN_IF_ERROR(MakeDirs(root_dir));
  std::vector<std::string> rm = Base();
  rm.insert(rm.end(), {"rm", "--force", "--time", "0", name});
  (void)RunCommand(rm);  // an earlier one, left by a controller that died
  std::vector<std::string> run = Base();
  run.insert(run.end(), {"run", "--detach", "--name", name, "--network", "host", "--ipc", "shareable"});
  for (const auto& [k, v] : labels) run.insert(run.end(), {"--label", k + "=" + v});
  run.insert(run.end(), ulimits_.begin(), ulimits_.end());
  run.insert(run.end(), {"--security-opt", "no-new-privileges", "--mount",
                         "type=bind,source=" + pause + ",destination=/pause,ro=true", "--rootfs", root_dir, "/pause", "-P"});
  LOOM_ASSIGN_OR_RETURN(CommandResult r, RunCommand(run));
  if (r.exit_code != 0) return Unavailable("sandbox " + name + ": " + CommandError(r));
  return OkStatus();
}

Status Podman::RemoveLabelled(const std::vector<std::pair<std::string, std::string>>& labels) const {
  std::vector<std::string> ps = Base();
  ps.insert(ps.end(), {"ps", "--all", "--quiet"});
  for (const auto& [k, v] : labels) ps.insert(ps.end(), {"--filter", "label=" + k + "=" + v});
  LOOM_ASSIGN_OR_RETURN(CommandResult found, RunCommand(ps));
  if (found.exit_code != 0) return Unavailable("podman ps: " + CommandError(found));
  std::vector<std::string> rm = Base();
  rm.insert(rm.end(), {"rm", "--force", "--time", "0"});
  size_t n = rm.size();
  for (size_t at = 0; at < found.out.size();) {
    size_t end = found.out.find('\n', at);
    if (end == std::string::npos) end = found.out.size();
    if (end > at) rm.push_back(found.out.substr(at, end - at));
    at = end + 1;
  }
  if (rm.size() == n) return OkStatus();
  LOOM_ASSIGN_OR_RETURN(CommandResult removed, RunCommand(rm));
  if (removed.exit_code != 0) return Unavailable("podman rm: " + CommandError(removed));
  return OkStatus();
}

}  // namespace loom::container
