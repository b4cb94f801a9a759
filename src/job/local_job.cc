#include "job/local_job.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <thread>

#include "core/file.h"
#include "core/logging.h"
#include "core/process.h"
#include "core/time.h"
#include "job/dataset_initializer.h"
#include "job/trainjob.h"

namespace loom::job {
namespace {

using Clock = std::chrono::steady_clock;

std::string Now() { return Rfc3339(static_cast<double>(std::time(nullptr))); }

// A port free on `host` a moment ago: the kernel's pick for port 0.
StatusOr<int> FreePort(const std::string& host) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return ErrnoStatus(host, "socket", errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    close(fd);
    return InvalidArgument("--host: \"" + host + "\" is not an IPv4 address");
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    Status s = ErrnoStatus(host, "bind", errno);
    close(fd);
    return s;
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Nothing of the job runs and its controller is done with it: it ended, or is suspended.
bool AtRest(const std::string& phase) { return phase == "Succeeded" || phase == "Failed" || phase == "Suspended"; }

enum class State { kPending, kRunning, kSucceeded, kFailed };
const char* StateName(State s) {
  switch (s) {
    case State::kPending: return "Pending";
    case State::kRunning: return "Running";
    case State::kSucceeded: return "Succeeded";
    case State::kFailed: return "Failed";
  }
  return "?";
}

struct Replica {
  const ReplicaSpec* spec = nullptr;
  int index = 0;
  std::string name;     // "worker-1"
  std::string address;  // host:port ("" for an evaluator)
  std::unique_ptr<RunningReplica> running;  // its last start
  pid_t pid = -1;                           // of its last start (-1: a container)
  std::string container;                    // of its last start ("": a process)
  State state = State::kPending;
  int exit_code = 0;
  int restarts = 0;
};

}  // namespace

struct LocalJob::Impl {
  TfJob job;
  LocalJobOptions options;
  std::unique_ptr<ReplicaLauncher> launcher;
  std::string dir;
  std::vector<Replica> replicas;
  Json conditions = Json::array();
  std::string start_time, completion_time;
  int restarts = 0;
  std::string dataset_dir;     // a TrainJob's dataset, once its initializer has fetched it
  std::string initializer;     // its initializer's state: "", Running, Succeeded or Failed

  std::string LogPath(const Replica& r) const { return JoinPath(JoinPath(dir, "logs"), r.name + ".log"); }

  void AddCondition(const std::string& type, const std::string& reason, const std::string& message) {
    for (Json& c : conditions)
      if (c["status"] == "True" && (c["type"] == "Running" || c["type"] == "Restarting")) c["status"] = "False";
    const std::string now = Now();
    conditions.push_back({{"type", type}, {"status", "True"}, {"reason", reason}, {"message", message},
                          {"lastUpdateTime", now}, {"lastTransitionTime", now}});
    LOOM_LOG(INFO) << "job " << job.name << ": " << type << ": " << message;
  }

  Json StatusJson() const {
    Json status = Json::object();
    status["conditions"] = conditions;
    Json replica_statuses = Json::object();
    for (const ReplicaSpec& spec : job.replicas) replica_statuses[spec.type] = {{"active", 0}, {"succeeded", 0}, {"failed", 0}};
    Json local = Json::array();
    for (const Replica& r : replicas) {
      Json& counts = replica_statuses[r.spec->type];
      if (r.state == State::kRunning) counts["active"] = counts["active"].get<int>() + 1;
      if (r.state == State::kSucceeded) counts["succeeded"] = counts["succeeded"].get<int>() + 1;
      if (r.state == State::kFailed) counts["failed"] = counts["failed"].get<int>() + 1;
      Json replica = {{"name", r.name}, {"state", StateName(r.state)}, {"pid", r.pid}, {"address", r.address},
                      {"exitCode", r.exit_code}, {"restarts", r.restarts}, {"log", LogPath(r)}};
      if (r.running) replica["runtime"] = r.container.empty() ? "process" : "container";
      if (!r.container.empty()) replica["container"] = r.container;
      local.push_back(std::move(replica));
    }
    if (!job.dataset_uri.empty())
      replica_statuses["dataset-initializer"] = {{"active", initializer == "Running" ? 1 : 0},
                                                 {"succeeded", initializer == "Succeeded" ? 1 : 0},
                                                 {"failed", initializer == "Failed" ? 1 : 0}};
    status["replicaStatuses"] = replica_statuses;
    if (!start_time.empty()) status["startTime"] = start_time;
    if (!completion_time.empty()) status["completionTime"] = completion_time;
    status["local"] = {{"controllerPid", static_cast<int>(getpid())}, {"replicas", local}};
    if (job.kind == "TrainJob") ToTrainJobStatus(&status);
    return status;
  }

  Status WriteStatus() const { return WriteFileAtomic(JoinPath(dir, "status.json"), StatusJson().dump(2) + "\n"); }

  // TF_CONFIG of replica r: every listed replica's address (evaluators are not listed, as the
  // operator does), and r's task.
  std::string TfConfig(const Replica& r) const {
    Json cluster = Json::object();
    for (const Replica& other : replicas) {
      if (other.spec->task_type == train::TaskType::kEvaluator) continue;
      cluster[Lower(other.spec->type)].push_back(other.address);
    }
    Json config = {{"cluster", cluster},
                   {"task", {{"type", Lower(r.spec->type)}, {"index", r.index}}},
                   {"environment", "cloud"}};
    return config.dump();
  }

  // What the operator of the job's kind adds to each replica's environment: TF_CONFIG for a
  // TFJob; for a PyTorchJob what the Training Operator sets (the Master is rank 0, worker i is
  // rank i+1; WORLD_SIZE counts nprocPerNode processes per replica where it is a number).
  std::vector<std::pair<std::string, std::string>> ReplicaEnv(const Replica& r) const {
    if (job.kind == "TrainJob") {
      std::vector<TrainJobPod> pods;
      size_t which = 0;
      for (const Replica& other : replicas) {
        if (&other == &r) which = pods.size();
        pods.push_back({other.spec->type, other.index, other.address});
      }
      return TrainJobPodEnv(job, pods, which, dataset_dir);
    }
    if (job.kind != "PyTorchJob") return {{"TF_CONFIG", TfConfig(r)}};
    const Replica& master = replicas.front();  // the parser puts the Master first
    const size_t colon = master.address.rfind(':');
    const std::string addr = master.address.substr(0, colon), port = master.address.substr(colon + 1);
    const bool numeric = job.nproc_per_node.find_first_not_of("0123456789") == std::string::npos;
    const int nodes = static_cast<int>(replicas.size());
    const int rank = r.spec->task_type == train::TaskType::kChief ? 0 : r.index + 1;
    return {{"PYTHONUNBUFFERED", "1"},
            {"MASTER_ADDR", addr},
            {"MASTER_PORT", port},
            {"PET_MASTER_ADDR", addr},
            {"PET_MASTER_PORT", port},
            {"WORLD_SIZE", std::to_string(nodes * (numeric ? std::stoi(job.nproc_per_node) : 1))},
            {"RANK", std::to_string(rank)},
            {"PET_NPROC_PER_NODE", job.nproc_per_node},
            {"PET_NODE_RANK", std::to_string(rank)},
            {"PET_NNODES", std::to_string(nodes)}};
  }

  Status Start(Replica& r) {
    ReplicaLaunch launch;
    launch.job = job.name;
    launch.replica = r.name;
    launch.image = r.spec->image;
    launch.pull_policy = r.spec->image_pull_policy;
    launch.command = r.spec->command;
    launch.args = r.spec->args;
    launch.env = r.spec->env;
    launch.operator_env = ReplicaEnv(r);
    launch.working_dir = r.spec->working_dir;
    launch.log_path = LogPath(r);
    launch.job_dir = dir;
    auto running = launcher->Start(launch);
    if (!running.ok()) return running.status();
    r.running = std::move(*running);
    r.pid = r.running->pid();
    r.container = r.running->container();
    r.state = State::kRunning;
    return OkStatus();
  }

  // Whether replica r (running) has ended: its state and exit code set.
  bool Ended(Replica& r) {
    std::optional<int> code = r.running->Poll();
    if (!code) return false;
    r.exit_code = *code;
    r.state = r.exit_code == 0 ? State::kSucceeded : State::kFailed;
    return true;
  }

  // SIGTERM to every running replica's group, SIGKILL to what is left after the grace period.
  void KillAll() {
    for (Replica& r : replicas)
      if (r.state == State::kRunning) r.running->Terminate();
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(options.kill_grace_secs));
    bool killed = false;
    for (;;) {
      bool any = false;
      for (Replica& r : replicas) {
        if (r.state != State::kRunning) continue;
        if (Ended(r)) {
          r.state = State::kFailed;
          continue;
        }
        any = true;
      }
      if (!any) return;
      if (!killed && Clock::now() >= deadline) {
        killed = true;
        for (Replica& r : replicas)
          if (r.state == State::kRunning) r.running->Kill();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // Whether the job has replicas of this type.
  bool Has(train::TaskType type) const {
    const ReplicaSpec* spec = job.Find(type);
    return spec != nullptr && spec->replicas > 0;
  }

  // Whether this replica's exit 0 is part of what makes the job succeed (see Succeeded).
  bool CountsTowardSuccess(const Replica& r) const {
    const bool has_chief = Has(train::TaskType::kChief), has_workers = Has(train::TaskType::kWorker);
    const train::TaskType type = r.spec->task_type;
    if (type == train::TaskType::kChief) return true;
    if (type == train::TaskType::kWorker)
      return job.success_policy == "AllWorkers" || (!has_chief && r.index == 0);
    return !has_chief && !has_workers;
  }

  bool Succeeded() const {
    auto done = [&](train::TaskType type, bool all) {
      bool any = false;
      for (const Replica& r : replicas) {
        if (r.spec->task_type != type) continue;
        if (!all && r.index != 0) continue;
        if (r.state != State::kSucceeded) return false;
        any = true;
      }
      return any;
    };
    const bool has_chief = Has(train::TaskType::kChief), has_workers = Has(train::TaskType::kWorker);
    if (job.success_policy == "AllWorkers")
      return (!has_chief || done(train::TaskType::kChief, true)) && (!has_workers || done(train::TaskType::kWorker, true)) &&
             (has_chief || has_workers);
    if (has_chief) return done(train::TaskType::kChief, true);
    if (has_workers) return done(train::TaskType::kWorker, false);
    return std::all_of(replicas.begin(), replicas.end(), [](const Replica& r) { return r.state == State::kSucceeded; });
  }
};

LocalJob::LocalJob(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LocalJob::~LocalJob() {
  if (impl_) impl_->KillAll();
}

const std::string& LocalJob::dir() const { return impl_->dir; }

StatusOr<std::unique_ptr<LocalJob>> LocalJob::Create(const TfJob& job, const LocalJobOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->job = job;
  impl->options = options;
  ReplicaLauncherOptions launcher;
  launcher.runtime = options.runtime;
  launcher.loom_binary = options.loom_binary;
  launcher.kill_grace_secs = options.kill_grace_secs;
  launcher.podman = options.podman;
  impl->launcher = std::make_unique<ReplicaLauncher>(std::move(launcher));
  impl->dir = JoinPath(options.jobs_dir, job.name);
  if (PathExists(JoinPath(impl->dir, "status.json"))) {
    auto old = ReadJobStatus(options.jobs_dir, job.name);
    if (old.ok()) {
      const std::string phase = JobPhase(*old);
      const int pid = old->contains("local") ? (*old)["local"].value("controllerPid", 0) : 0;
      if (!AtRest(phase) && ProcessRunning(pid))
        return AlreadyExists("job " + job.name + " is running (controller pid " + std::to_string(pid) +
                             "); `loom job delete " + job.name + "` first");
    }
  }
  // A suspended TrainJob run again without suspend is resumed (Trainer's Suspended=False, Resumed).
  bool resumed = false;
  if (auto old = ReadJobStatus(options.jobs_dir, job.name); old.ok()) resumed = JobPhase(*old) == "Suspended" && !job.suspend;
  LOOM_RETURN_IF_ERROR(RemoveAll(impl->dir));
  LOOM_RETURN_IF_ERROR(MakeDirs(JoinPath(impl->dir, "logs")));
  LOOM_RETURN_IF_ERROR(WriteFileAtomic(JoinPath(impl->dir, "tfjob.json"), job.manifest.dump(2) + "\n"));
  for (const ReplicaSpec& spec : impl->job.replicas) {
    for (int i = 0; i < spec.replicas; ++i) {
      Replica r;
      r.spec = &spec;
      r.index = i;
      r.name = Lower(spec.type) + "-" + std::to_string(i);
      if (spec.task_type != train::TaskType::kEvaluator) {
        int port = spec.task_type == train::TaskType::kChief ? job.master_port : 0;
        if (port == 0) {
          LOOM_ASSIGN_OR_RETURN(port, FreePort(options.host));
        }
        r.address = options.host + ":" + std::to_string(port);
      }
      impl->replicas.push_back(std::move(r));
    }
  }
  impl->AddCondition("Created", job.kind + "Created", job.kind + " " + job.name + " is created.");
  if (resumed) impl->AddCondition("Resumed", "Resumed", job.kind + " " + job.name + " is resumed.");
  LOOM_RETURN_IF_ERROR(impl->WriteStatus());
  return std::unique_ptr<LocalJob>(new LocalJob(std::move(impl)));
}

StatusOr<Json> LocalJob::Run() {
  Impl& s = *impl_;
  if (s.job.suspend) {  // a suspended TrainJob: no node runs until it is run again without suspend
    s.AddCondition("Suspended", "Suspended", s.job.kind + " " + s.job.name + " is suspended.");
    LOOM_RETURN_IF_ERROR(s.WriteStatus());
    return s.StatusJson();
  }
  s.start_time = Now();
  const auto start = Clock::now();
  if (!s.job.dataset_uri.empty()) {  // Trainer's dataset initializer, before every other job
    s.initializer = "Running";
    LOOM_RETURN_IF_ERROR(s.WriteStatus());
    std::string log;
    auto dir = RunDatasetInitializer(s.job, s.options.s3, JoinPath(LoomHome(), "datasets"),
                                     JoinPath(LoomHome(), "objects"), &log);
    if (!dir.ok()) log += dir.status().message() + "\n";
    LOOM_RETURN_IF_ERROR(WriteFileAtomic(JoinPath(JoinPath(s.dir, "logs"), "dataset-initializer.log"), log));
    if (!dir.ok()) {
      s.initializer = "Failed";
      s.AddCondition("Failed", s.job.kind + "Failed", "dataset-initializer: " + dir.status().message());
      s.completion_time = Now();
      LOOM_RETURN_IF_ERROR(s.WriteStatus());
      return s.StatusJson();
    }
    s.initializer = "Succeeded";
    s.dataset_dir = *dir;
  }
  for (Replica& r : s.replicas) {
    Status st = s.Start(r);
    if (!st.ok()) {
      s.KillAll();
      r.state = State::kFailed;
      s.AddCondition("Failed", s.job.kind + "Failed", st.message());
      s.completion_time = Now();
      LOOM_RETURN_IF_ERROR(s.WriteStatus());
      return s.StatusJson();
    }
  }
  s.AddCondition("Running", s.job.kind + "Running", s.job.kind + " " + s.job.name + " is running.");
  LOOM_RETURN_IF_ERROR(s.WriteStatus());

  std::string failure;  // set when the job fails
  std::string failure_reason = s.job.kind + "Failed";
  for (;;) {
    // Reap every replica that ended first, then decide: a chief and a ps ending in the same
    // poll must not restart the ps of a job that has just succeeded.
    std::vector<Replica*> ended;
    for (Replica& r : s.replicas) {
      if (r.state == State::kRunning && s.Ended(r)) ended.push_back(&r);
    }
    const bool changed = !ended.empty();
    const bool succeeded = s.Succeeded();
    for (Replica* ended_replica : ended) {
      Replica& r = *ended_replica;
      const RestartPolicy policy = r.spec->restart_policy;
      // Always restarts whatever the exit code (kubelet's rule), except a replica whose success
      // is the job's: on Kubernetes that chief would be restarted forever and the job never end.
      if (r.exit_code == 0 && (policy != RestartPolicy::kAlways || succeeded || s.CountsTowardSuccess(r))) continue;
      const bool restart = policy == RestartPolicy::kOnFailure || policy == RestartPolicy::kAlways ||
                           (policy == RestartPolicy::kExitCode && r.exit_code >= 128);
      const std::string why = r.name + " exited with code " + std::to_string(r.exit_code);
      if (!restart) {
        failure = s.job.kind + " " + s.job.name + " has failed because 1 " + r.spec->type + " replica(s) failed: " + why +
                  (policy == RestartPolicy::kExitCode ? " (ExitCode: 1-127 is permanent)" : "");
        break;
      }
      if (s.job.run_policy.backoff_limit >= 0 && s.restarts >= s.job.run_policy.backoff_limit) {
        failure = s.job.kind + " " + s.job.name + " has failed because it has reached the specified backoff limit (" +
                  std::to_string(s.job.run_policy.backoff_limit) + "): " + why;
        failure_reason = "BackoffLimitExceeded";
        break;
      }
      ++s.restarts;
      ++r.restarts;
      s.AddCondition("Restarting", s.job.kind + "Restarting",
                     s.job.kind + " " + s.job.name + " is restarting because " + why + "; restart " + std::to_string(r.restarts));
      Status st = s.Start(r);
      if (!st.ok()) {
        failure = st.message();
        break;
      }
    }
    if (failure.empty() && s.job.run_policy.active_deadline_seconds > 0 &&
        std::chrono::duration<double>(Clock::now() - start).count() >= static_cast<double>(s.job.run_policy.active_deadline_seconds)) {
      failure = s.job.kind + " " + s.job.name + " has failed because it was active longer than activeDeadlineSeconds (" +
                std::to_string(s.job.run_policy.active_deadline_seconds) + ")";
      failure_reason = "DeadlineExceeded";
    }
    if (failure.empty() && s.options.should_stop && s.options.should_stop()) {
      failure = s.job.kind + " " + s.job.name + " was stopped";
      failure_reason = "Stopped";
    }
    if (!failure.empty()) {
      s.KillAll();
      s.AddCondition("Failed", failure_reason, failure);
      break;
    }
    if (s.Succeeded()) {
      // cleanPodPolicy None: the rest (ps tasks told by the chief) may end by themselves.
      if (s.job.run_policy.clean_pod_policy == "None") {
        const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                              std::chrono::duration<double>(s.options.finish_grace_secs));
        while (Clock::now() < until) {
          bool running = false;
          for (Replica& r : s.replicas) {
            if (r.state == State::kRunning && !s.Ended(r)) running = true;
          }
          if (!running) break;
          std::this_thread::sleep_for(std::chrono::duration<double>(s.options.poll_secs));
        }
      }
      s.KillAll();
      s.AddCondition("Succeeded", s.job.kind + "Succeeded", s.job.kind + " " + s.job.name + " successfully completed.");
      break;
    }
    if (changed) LOOM_RETURN_IF_ERROR(s.WriteStatus());
    std::this_thread::sleep_for(std::chrono::duration<double>(s.options.poll_secs));
  }
  s.completion_time = Now();
  LOOM_RETURN_IF_ERROR(s.WriteStatus());
  return s.StatusJson();
}

std::string JobPhase(const Json& status) {
  if (status.contains("jobsStatus")) return TrainJobPhase(status);
  if (!status.contains("conditions") || !status["conditions"].is_array() || status["conditions"].empty()) return "";
  return status["conditions"].back().value("type", "");
}

StatusOr<Json> ReadJobStatus(const std::string& jobs_dir, const std::string& name) {
  const std::string path = JoinPath(JoinPath(jobs_dir, name), "status.json");
  if (!PathExists(path)) return NotFound("job " + name + ": not found in " + jobs_dir);
  LOOM_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseJson(text, path);
}

StatusOr<std::vector<std::string>> ListJobs(const std::string& jobs_dir) {
  std::vector<std::string> out;
  if (!PathExists(jobs_dir)) return out;
  LOOM_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(jobs_dir));
  for (const std::string& n : names)
    if (PathExists(JoinPath(JoinPath(jobs_dir, n), "status.json"))) out.push_back(n);
  std::sort(out.begin(), out.end());
  return out;
}

StatusOr<std::vector<std::string>> DeleteExpiredJobs(const std::string& jobs_dir, std::time_t now) {
  std::vector<std::string> deleted;
  LOOM_ASSIGN_OR_RETURN(std::vector<std::string> names, ListJobs(jobs_dir));
  for (const std::string& name : names) {
    auto status = ReadJobStatus(jobs_dir, name);
    auto manifest = ReadFile(JoinPath(JoinPath(jobs_dir, name), "tfjob.json"));
    if (!status.ok() || !manifest.ok()) continue;  // being written or removed right now
    const std::string phase = JobPhase(*status);
    if (phase != "Succeeded" && phase != "Failed") continue;
    auto doc = ParseJson(*manifest, "tfjob.json");
    if (!doc.ok()) continue;
    const Json* ttl = &*doc;
    for (const char* key : {"spec", "runPolicy", "ttlSecondsAfterFinished"})
      ttl = ttl != nullptr && ttl->is_object() && ttl->contains(key) ? &(*ttl)[key] : nullptr;
    if (ttl == nullptr || !ttl->is_number_integer()) continue;
    const double done = ParseRfc3339(status->value("completionTime", ""));
    if (done == 0) continue;  // not a time
    if (now - done < ttl->get<int64_t>()) continue;
    LOOM_RETURN_IF_ERROR(RemoveAll(JoinPath(jobs_dir, name)));
    deleted.push_back(name);
  }
  return deleted;
}

Status DeleteJob(const std::string& jobs_dir, const std::string& name) {
  LOOM_ASSIGN_OR_RETURN(Json status, ReadJobStatus(jobs_dir, name));
  const std::string phase = JobPhase(status);
  const int controller = status.contains("local") ? status["local"].value("controllerPid", 0) : 0;
  if (controller > 0 && controller != getpid() && !AtRest(phase) && ProcessRunning(controller)) {
    // The controller first, so it restarts nothing: SIGTERM makes it kill its replicas (SIGTERM,
    // SIGKILL after its grace period) and write the final status. Then SIGKILL if it hangs.
    kill(controller, SIGTERM);
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (ProcessRunning(controller) && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (ProcessRunning(controller)) kill(controller, SIGKILL);
    if (auto last = ReadJobStatus(jobs_dir, name); last.ok()) status = *last;
  }
  // Whatever still runs (a controller that was killed, or had died): each replica's group, and
  // its containers.
  bool containers = false;
  if (status.contains("local") && status["local"].contains("replicas")) {
    for (const Json& r : status["local"]["replicas"]) {
      if (r.value("state", "") != "Running") continue;
      if (r.value("pid", -1) > 0) kill(-r.value("pid", -1), SIGKILL);
      if (r.contains("container")) containers = true;
    }
  }
  if (containers) {
    ReplicaLauncherOptions options;
    options.runtime = container::PodRuntime::kContainer;
    Status removed = ReplicaLauncher(options).RemoveContainers(JoinPath(jobs_dir, name));
    if (!removed.ok()) LOOM_LOG(WARNING) << "job " << name << ": " << removed.message();
  }
  return RemoveAll(JoinPath(jobs_dir, name));
}

}  // namespace loom::job
