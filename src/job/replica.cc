#include "job/replica.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <thread>

#include "container/pod_spec.h"
#include "core/file.h"
#include "core/logging.h"

namespace loom::job {
namespace {

int ExitCode(int wait_status) {
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

// A replica's process, in a process group of its own (a kill reaches its children too).
class ProcessReplica : public RunningReplica {
 public:
  explicit ProcessReplica(pid_t pid) : pid_(pid) {}
  ~ProcessReplica() override {
    if (exit_code_) return;
    kill(-pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  pid_t pid() const override { return pid_; }
  std::string container() const override { return ""; }
  std::optional<int> Poll() override {
    if (exit_code_) return exit_code_;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
    exit_code_ = ExitCode(status);
    kill(-pid_, SIGKILL);  // what it left behind in its group
    return exit_code_;
  }
  void Terminate() override {
    if (!exit_code_) kill(-pid_, SIGTERM);
  }
  void Kill() override {
    if (!exit_code_) kill(-pid_, SIGKILL);
  }

 private:
  const pid_t pid_;
  std::optional<int> exit_code_;
};

// A replica's container: podman runs it to its end on a thread of its own.
class ContainerReplica : public RunningReplica {
 public:
  ContainerReplica(container::Podman& podman, container::ContainerSpec spec, int log_fd)
      : podman_(podman), spec_(std::move(spec)), log_fd_(log_fd) {
    thread_ = std::thread([this] { Run(); });
  }
  ~ContainerReplica() override {
    if (!done_) Kill();
    thread_.join();
    close(log_fd_);
  }
  pid_t pid() const override { return -1; }
  std::string container() const override { return spec_.name; }
  std::optional<int> Poll() override {
    if (!done_) return std::nullopt;
    return exit_code_;
  }
  void Terminate() override { stop_ = true; }
  void Kill() override {
    killed_ = true;
    stop_ = true;
    Status s = podman_.RemoveLabelled(spec_.labels);
    if (!s.ok()) LOOM_LOG(WARNING) << spec_.name << ": " << s.message();
  }

 private:
  void Log(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = write(log_fd_, bytes.data(), bytes.size());
      if (n <= 0) return;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }
  void Run() {
    auto exit = podman_.Run(spec_, &stop_, [this](int, std::string_view bytes) { Log(bytes); });
    int code = 0;
    if (!exit.ok()) {
      // Removed under it (Kill), or podman failed: the replica is gone either way.
      code = killed_ ? 128 + SIGKILL : 128;
      if (!killed_) Log("loom: " + spec_.name + ": " + exit.status().message() + "\n");
    } else if (!exit->error.empty()) {
      code = exit->exit_code > 0 ? exit->exit_code : 128;
      Log("loom: " + spec_.name + ": " + exit->error + "\n");
    } else {
      code = exit->exit_code;
      if (exit->oom_killed) Log("loom: " + spec_.name + ": OOMKilled\n");
    }
    exit_code_ = code;
    done_ = true;
  }

  container::Podman& podman_;
  const container::ContainerSpec spec_;
  const int log_fd_;
  std::atomic<bool> stop_{false}, killed_{false}, done_{false};
  int exit_code_ = -1;  // written before done_
  std::thread thread_;
};

// The replica's environment ("K=V" by name): `vars` (what its image or the host gives it),
// LOOM_HOME, the container's env (each expanded against what comes before), the operator's.
std::map<std::string, std::string> ReplicaEnvironment(std::map<std::string, std::string> vars,
                                                      const ReplicaLaunch& launch, const std::string& home) {
  vars["LOOM_HOME"] = home;
  for (const auto& [k, v] : launch.env) vars[k] = ExpandVariables(v, vars);
  for (const auto& [k, v] : launch.operator_env) vars[k] = v;
  return vars;
}

std::vector<std::string> Expanded(const std::vector<std::string>& words, const std::map<std::string, std::string>& vars) {
  std::vector<std::string> out;
  for (const std::string& w : words) out.push_back(ExpandVariables(w, vars));
  return out;
}

// A short, stable name for a job's state directory: two jobs of one name in two LOOM_HOMEs
// (tests run side by side) never share a container name.
std::string DirTag(const std::string& dir) {
  char buf[17];
  snprintf(buf, sizeof(buf), "%08zx", std::hash<std::string>()(dir) & 0xffffffffu);
  return buf;
}

}  // namespace

std::string ExpandVariables(const std::string& text, const std::map<std::string, std::string>& env) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    if (text[i + 1] == '$') {  // $$: an escaped $
      out += '$';
      ++i;
      continue;
    }
    const size_t close = text[i + 1] == '(' ? text.find(')', i + 2) : std::string::npos;
    if (close == std::string::npos) {
      out += '$';
      continue;
    }
    const std::string name = text.substr(i + 2, close - i - 2);
    auto it = env.find(name);
    out += it != env.end() ? it->second : text.substr(i, close - i + 1);
    i = close;
  }
  return out;
}

ReplicaLauncher::ReplicaLauncher(ReplicaLauncherOptions options) : options_(std::move(options)) {
  if (options_.home.empty()) options_.home = LoomHome();
  if (!options_.podman) {
    container::PodmanOptions podman;
    podman.stop_grace_secs = options_.kill_grace_secs;
    options_.podman = std::make_shared<container::SharedPodman>(podman);
  }
}

ReplicaLauncher::~ReplicaLauncher() {
  std::string why;
  container::Podman* podman = sandboxes_.empty() ? nullptr : options_.podman->Get(&why);
  for (const auto& [job_dir, name] : sandboxes_) {
    if (name.empty() || podman == nullptr) continue;
    Status s = podman->RemoveLabelled({{"loom.job-dir", job_dir}, {"loom.replica", "sandbox"}});
    if (!s.ok()) LOOM_LOG(WARNING) << name << ": " << s.message();
  }
}

std::string ReplicaLauncher::Sandbox(const std::string& job_dir, container::Podman& podman) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sandboxes_.find(job_dir);
  if (it != sandboxes_.end()) return it->second;
  const std::string name = "loom-job-" + DirTag(job_dir) + "-sandbox";
  Status s = podman.StartSandbox(name, JoinPath(job_dir, "sandbox-root"), {{"loom.job-dir", job_dir}, {"loom.replica", "sandbox"}});
  if (!s.ok()) {
    LOOM_LOG(WARNING) << s.message() << "; each replica has IPC and PID namespaces of its own, so a ps task's "
                      << "steps go through gRPC";
  }
  return sandboxes_[job_dir] = s.ok() ? name : "";
}

StatusOr<bool> ReplicaLauncher::InContainer(const ReplicaLaunch& launch) {
  return container::RunsInContainer(options_.runtime, *options_.podman, launch.image, launch.pull_policy,
                                    launch.replica);
}

StatusOr<std::unique_ptr<RunningReplica>> ReplicaLauncher::Start(const ReplicaLaunch& launch) {
  LOOM_ASSIGN_OR_RETURN(bool in_container, InContainer(launch));
  if (in_container) {
    std::string why;
    container::Podman* podman = options_.podman->Get(&why);
    container::ContainerSpec spec;
    spec.field = launch.replica;
    spec.name = "loom-job-" + DirTag(launch.job_dir) + "-" + launch.replica;
    spec.image = launch.image;
    LOOM_ASSIGN_OR_RETURN(spec.image_config, podman->InspectImage(launch.image));
    const std::map<std::string, std::string> vars = ReplicaEnvironment({}, launch, options_.home);
    LOOM_ASSIGN_OR_RETURN(spec.argv, container::ContainerArgv(spec.image_config, Expanded(launch.command, vars),
                                                              Expanded(launch.args, vars), launch.replica));
    for (const auto& [k, v] : vars) spec.env.push_back({k, v});
    spec.working_dir = launch.working_dir;
    spec.mounts.push_back({options_.home, options_.home, false});
    spec.labels = {{"loom.job-dir", launch.job_dir}, {"loom.replica", launch.replica}};
    spec.scratch_dir = launch.job_dir;
    spec.sandbox = Sandbox(launch.job_dir, *podman);
    const int log_fd = open(launch.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) return ErrnoStatus(launch.log_path, "open", errno);
    return std::unique_ptr<RunningReplica>(new ContainerReplica(*podman, std::move(spec), log_fd));
  }

  // What the host gives a process as an image gives a container, never the controller's own
  // environment (its S3 keys stay in it); `loom` first on PATH as in loom:latest.
  std::map<std::string, std::string> host = container::HostProcessEnvironment(options_.home, geteuid());
  if (!options_.loom_binary.empty()) container::PutFirstOnPath(Dirname(options_.loom_binary), &host);
  const std::map<std::string, std::string> vars = ReplicaEnvironment(std::move(host), launch, options_.home);
  std::vector<std::string> env;
  for (const auto& [k, v] : vars) env.push_back(k + "=" + v);
  std::vector<std::string> argv = Expanded(launch.command, vars);
  for (const std::string& a : Expanded(launch.args, vars)) argv.push_back(a);
  if (argv.empty()) return InvalidArgument(launch.replica + ": the container has no command or args");
  if (argv[0] == "loom" && !options_.loom_binary.empty()) argv[0] = options_.loom_binary;
  std::vector<char*> cargv, cenv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  for (auto& e : env) cenv.push_back(e.data());
  cenv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, launch.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  if (!launch.working_dir.empty()) posix_spawn_file_actions_addchdir_np(&actions, launch.working_dir.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&attr, 0);  // its own group: a kill reaches its children too
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  pid_t pid = -1;
  const int err = posix_spawnp(&pid, cargv[0], &actions, &attr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) return ErrnoStatus(argv[0], launch.replica + ": cannot start", err);
  return std::unique_ptr<RunningReplica>(new ProcessReplica(pid));
}

Status ReplicaLauncher::RemoveContainers(const std::string& job_dir) {
  if (options_.runtime == container::PodRuntime::kProcess) return OkStatus();
  std::string why;
  container::Podman* podman = options_.podman->Get(&why);
  if (podman == nullptr) return OkStatus();
  return podman->RemoveLabelled({{"loom.job-dir", job_dir}});
}

}  // namespace loom::job
