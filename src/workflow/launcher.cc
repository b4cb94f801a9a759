#include "workflow/launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "core/file.h"
#include "core/json.h"
#include "core/logging.h"
#include "core/time.h"
#include "net/auth_token.h"
#include "workflow/engine.h"

extern char** environ;

namespace loom::workflow {

std::string SafeFileName(const std::string& name) {
  std::string out;
  for (char c : name) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return out;
}

std::string KeyFileName(const std::string& key) {
  const size_t slash = key.find('/');
  if (slash == std::string::npos) return SafeFileName(key);
  return SafeFileName(key.substr(0, slash)) + "~" + SafeFileName(key.substr(slash + 1));
}

namespace {

std::string RunDir(const std::string& home) { return JoinPath(home, "run"); }
std::string ServerInfoPath(const std::string& home) { return JoinPath(home, "server.json"); }

}  // namespace

std::string RunLockPath(const std::string& home, const std::string& workflow) {
  return JoinPath(RunDir(home), KeyFileName(workflow) + ".lock");
}

std::string EngineLogPath(const std::string& home, const std::string& workflow) {
  return JoinPath(RunDir(home), KeyFileName(workflow) + ".engine.log");
}

std::string WorkflowPodsDir(const std::string& home, const std::string& workflow) {
  return JoinPath(JoinPath(home, "pods"), KeyFileName(workflow));
}

std::string PodDir(const std::string& home, const std::string& workflow, const std::string& node_id) {
  return JoinPath(WorkflowPodsDir(home, workflow), SafeFileName(node_id));
}

// ---- the run lock ------------------------------------------------------------------------

StatusOr<std::unique_ptr<RunLock>> RunLock::Acquire(const std::string& home, const std::string& workflow) {
  LOOM_RETURN_IF_ERROR(MakeDirs(RunDir(home)));
  const std::string path = RunLockPath(home, workflow);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(path, "open", errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {0};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    std::string pid = n > 0 ? std::string(buf, n) : "?";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    return FailedPrecondition("workflow " + workflow + " is being run by pid " + pid);
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    Status s = ErrnoStatus(path, "write", errno);
    ::close(fd);
    return s;
  }
  return std::unique_ptr<RunLock>(new RunLock(fd));
}

RunLock::~RunLock() { ::close(fd_); }

StatusOr<bool> BeingRun(const std::string& home, const std::string& workflow) {
  const std::string path = RunLockPath(home, workflow);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;  // no engine has ever run it here
    return ErrnoStatus(path, "stat", errno);
  }
  // /proc/locks: "1: FLOCK  ADVISORY  WRITE 22463 fe:00:10953377 0 EOF", the device as
  // major:minor in hex, then the inode.
  LOOM_ASSIGN_OR_RETURN(std::string table, ReadFile("/proc/locks"));
  char want[64];
  snprintf(want, sizeof want, " %02x:%02x:%llu ", major(st.st_dev), minor(st.st_dev),
           static_cast<unsigned long long>(st.st_ino));
  size_t start = 0;
  while (start < table.size()) {
    size_t end = table.find('\n', start);
    if (end == std::string::npos) end = table.size();
    const std::string_view line(table.data() + start, end - start);
    if (line.find(" FLOCK ") != std::string_view::npos && line.find(want) != std::string_view::npos) return true;
    start = end + 1;
  }
  return false;
}

// ---- a detached engine -------------------------------------------------------------------

StatusOr<pid_t> StartDetached(const std::vector<std::string>& args, const std::vector<std::string>& env,
                              const std::string& log) {
  if (args.empty()) return InvalidArgument("StartDetached: no command");
  // Everything the child needs is built before fork: after it only async-signal-safe calls.
  std::vector<std::string> env_strings = env, arg_strings = args;
  std::vector<char*> envp, argv;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  for (std::string& a : arg_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  int pid_pipe[2];
  if (pipe2(pid_pipe, O_CLOEXEC) != 0) return ErrnoStatus("pipe", args[0], errno);
  pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    close(pid_pipe[0]), close(pid_pipe[1]);
    return ErrnoStatus("fork", args[0], err);
  }
  if (pid == 0) {
    setsid();
    // The process is adopted by init (no zombie left with the caller); its pid goes back
    // through the pipe.
    const pid_t grandchild = fork();
    if (grandchild != 0) {
      (void)!write(pid_pipe[1], &grandchild, sizeof(grandchild));
      _exit(0);
    }
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
    if (null_fd >= 0) dup2(null_fd, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(pid_pipe[1]);
  pid_t started = -1;
  ssize_t n = -1;
  do {
    n = read(pid_pipe[0], &started, sizeof(started));
  } while (n < 0 && errno == EINTR);
  close(pid_pipe[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (n != static_cast<ssize_t>(sizeof(started)) || started < 0) return Internal(args[0] + ": could not be started");
  return started;
}

Status StartDetachedEngine(const std::string& home, const std::string& workflow, const std::string& binary) {
  LOOM_RETURN_IF_ERROR(MakeDirs(RunDir(home)));
  std::string exe = binary;
  if (exe.empty()) {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) return ErrnoStatus("/proc/self/exe", "readlink", errno);
    exe.assign(self, static_cast<size_t>(n));
  }
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "LOOM_HOME=", 10) != 0) env.emplace_back(*e);
  }
  env.push_back("LOOM_HOME=" + home);
  return StartDetached({exe, "workflow", "run", KeyName(workflow), "-n", KeyNamespace(workflow)}, env,
                       EngineLogPath(home, workflow))
      .status();
}

// ---- the server's server.json ------------------------------------------------------------

Status WriteServerInfo(const std::string& home, const ServerInfo& info) {
  Json j = {{"address", info.address}, {"url", info.url}, {"pid", static_cast<int>(info.pid)},
            {"authMode", info.wants_token ? "client" : "server"}};
  if (!info.cert.empty()) j["cert"] = info.cert;
  return WriteFileAtomic(ServerInfoPath(home), j.dump() + "\n");
}

Status RemoveServerInfo(const std::string& home) { return RemoveAll(ServerInfoPath(home)); }

StatusOr<ServerInfo> FindRunningServer(const std::string& home) {
  const std::string path = ServerInfoPath(home);
  auto text = ReadFile(path);
  if (!text.ok()) return NotFound("no loom server runs for " + home);
  auto parsed = ParseJson(*text, path);
  if (!parsed.ok() || !parsed->is_object()) return NotFound(path + ": not a server's description");
  const Json& j = *parsed;
  auto pid_it = j.find("pid");
  auto address_it = j.find("address");
  if (pid_it == j.end() || !pid_it->is_number_integer() || address_it == j.end() || !address_it->is_string())
    return NotFound(path + ": no pid or address");
  ServerInfo info;
  info.pid = pid_it->get<pid_t>();
  info.address = address_it->get<std::string>();
  auto text_of = [&](const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  info.url = text_of("url");
  if (info.url.empty()) info.url = "http://" + info.address;
  info.cert = text_of("cert");
  info.wants_token = text_of("authMode") != "server";
  if (info.pid <= 0 || (kill(info.pid, 0) != 0 && errno == ESRCH))
    return NotFound("the loom server of " + path + " (pid " + std::to_string(info.pid) + ") is gone");
  if (info.wants_token) {
    auto token = net::ReadToken(net::TokenPath(home));
    // Distinct from "no server": one is up, and this process cannot talk to it.
    if (!token.ok())
      return FailedPrecondition("the loom server at " + info.url + " wants its token: " + token.status().message());
    info.token = *token;
  }
  return info;
}

StatusOr<net::HttpResponse> CallServer(const ServerInfo& server, net::HttpRequest request) {
  net::HttpClientOptions options;
  options.ca_file = server.cert;
  LOOM_ASSIGN_OR_RETURN(auto client, net::HttpClient::Create(options));
  request.url = server.url + request.url;
  if (!server.token.empty()) request.headers.push_back({"Authorization", "Bearer " + server.token});
  auto response = client->Send(request);
  if (!response.ok()) return response.status().WithPrefix("loom server at " + server.url);
  return response;
}

Status DeleteWorkflowData(Store& store, const std::string& home, const std::string& workflow) {
  LOOM_RETURN_IF_ERROR(store.DeleteWorkflow(workflow));
  return RemoveAll(WorkflowPodsDir(home, workflow));
}

// ---- Launcher ----------------------------------------------------------------------------

Launcher::Launcher(Store* store, Engine* engine, std::string home)
    : store_(store), engine_(engine), home_(home.empty() ? LoomHome() : std::move(home)) {}

Launcher::~Launcher() { Shutdown(); }

void Launcher::Start(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shutting_down_) return;
  auto it = runs_.find(name);
  if (it != runs_.end()) {
    if (!it->second.done->load()) return;  // already running here
    it->second.thread.join();
    runs_.erase(it);
  }
  auto done = std::make_shared<std::atomic<bool>>(false);
  std::thread thread([this, name, done] { Finish(name, engine_->Run(name), done); });
  runs_[name] = Run{std::move(thread), done};
}

void Launcher::Finish(const std::string& name, Status status, const std::shared_ptr<std::atomic<bool>>& done) {
  // Deleted, but another process holds the run lock (it was told to terminate): wait for it to
  // let go, then take the lock, so nothing runs the workflow while it is removed. Run on a
  // workflow that has ended returns at once.
  auto waiting_for_another_process = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    return status.code() == StatusCode::kFailedPrecondition && deleting_.count(name) > 0 && !shutting_down_;
  };
  while (waiting_for_another_process()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    status = engine_->Run(name);
  }
  if (!status.ok() && status.code() != StatusCode::kCancelled)
    LOOM_LOG(INFO) << "workflow " << name << ": " << status.message();
  {
    // Checked and marked done under one lock with Delete's look at the run: a deletion is
    // either seen here or started again by Delete.
    std::lock_guard<std::mutex> lock(mu_);
    if (deleting_.count(name) == 0) {
      done->store(true);
      return;
    }
    if (status.code() == StatusCode::kFailedPrecondition) {
      // Shutting down while another process still runs it: it stays, terminated.
      deleting_.erase(name);
      done->store(true);
      return;
    }
  }
  if (Status s = DeleteWorkflowData(*store_, home_, name); !s.ok() && s.code() != StatusCode::kNotFound)
    LOOM_LOG(WARNING) << "deleting workflow " << name << ": " << s.message();
  std::lock_guard<std::mutex> lock(mu_);
  deleting_.erase(name);
  done->store(true);
}

bool Launcher::IsDeleting(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  return deleting_.count(name) > 0;
}

Status Launcher::Delete(const std::string& name) {
  LOOM_ASSIGN_OR_RETURN(Json wf, store_->GetWorkflow(name));
  const std::string phase = wf["status"].value("phase", "");
  bool ended = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (deleting_.count(name)) return NotFound("workflow \"" + name + "\" not found");
    auto it = runs_.find(name);
    const bool running_here = it != runs_.end() && !it->second.done->load();
    ended = !running_here && IsCompletedPhase(phase);
    if (!ended) deleting_.insert(name);
  }
  if (ended) return DeleteWorkflowData(*store_, home_, name);
  // FailedPrecondition when it has just ended: there is nothing left to terminate.
  (void)engine_->Terminate(name);
  // A no-op when it runs here; else this process takes the run over (and ends it: a run left
  // by an engine that died has its leftover processes reclaimed) or waits for the process that
  // has it.
  Start(name);
  return OkStatus();
}

std::optional<double> TtlExpiry(const Json& wf) {
  const Json status = wf.value("status", Json::object());
  const Json spec = wf.value("spec", Json::object());
  const Json ttl = spec.is_object() ? spec.value("ttlStrategy", Json()) : Json();
  if (!ttl.is_object() || !status.is_object()) return std::nullopt;
  const std::string phase = status.value("phase", "");
  const double finished = ParseRfc3339(status.value("finishedAt", ""));
  if (!IsCompletedPhase(phase) || finished <= 0) return std::nullopt;
  auto seconds = [&ttl](const char* f) -> std::optional<double> {
    if (!ttl.contains(f) || !ttl[f].is_number()) return std::nullopt;
    return ttl[f].get<double>();
  };
  std::optional<double> after;
  if (phase == "Failed") after = seconds("secondsAfterFailure");
  if (!after && phase == "Succeeded") after = seconds("secondsAfterSuccess");
  if (!after) after = seconds("secondsAfterCompletion");
  if (!after) return std::nullopt;
  return finished + *after;
}

int Launcher::DeleteExpired(double now) {
  StatusOr<std::vector<Json>> all = store_->ListWorkflows();
  if (!all.ok()) return 0;
  int deleted = 0;
  for (const Json& wf : *all) {
    std::optional<double> expiry = TtlExpiry(wf);
    if (!expiry || now < *expiry) continue;
    const std::string key = ObjectKey(wf);
    if (IsDeleting(key)) continue;
    Status s = Delete(key);
    if (s.ok()) {
      LOOM_LOG(INFO) << "workflow " << key << ": deleted by its ttlStrategy";
      ++deleted;
    } else if (s.code() != StatusCode::kNotFound) {
      LOOM_LOG(WARNING) << "workflow " << key << ": ttlStrategy: " << s.message();
    }
  }
  return deleted;
}

int Launcher::ResumeUnfinished() {
  auto list = store_->ListWorkflows();
  if (!list.ok()) {
    LOOM_LOG(WARNING) << "resuming workflows: " << list.status().message();
    return 0;
  }
  int started = 0;
  for (const Json& wf : *list) {
    std::string phase = wf.contains("status") ? wf["status"].value("phase", "") : "";
    if (phase == "" || phase == "Pending" || phase == "Running") {
      // A run lock held by another process makes Run return FailedPrecondition at once.
      Start(ObjectKey(wf));
      ++started;
    }
  }
  return started;
}

void Launcher::Shutdown() {
  std::map<std::string, Run> runs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutting_down_ = true;
    runs.swap(runs_);
  }
  engine_->RequestShutdown();
  for (auto& [name, run] : runs) run.thread.join();
}

int Launcher::active_runs() {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (const auto& [name, run] : runs_) n += run.done->load() ? 0 : 1;
  return n;
}

int Launcher::pending_deletions() {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(deleting_.size());
}

}  // namespace loom::workflow
