// loom job: the local TFJob, PyTorchJob and TrainJob controller (Kubeflow's training operator and
// Trainer v2 on one machine).
//   loom job run FILE [--detach] [--pod-runtime R]  run a TFJob, PyTorchJob or TrainJob; exit 0 when
//                                      it Succeeded (or a TrainJob is suspended)
//   loom job get NAME [-o json|yaml]   its status (conditions, replicaStatuses)
//   loom job list                      every job with its phase
//   loom job logs NAME [--replica R] [-f]  a replica's log (default: the chief, else worker-0 or node-0)
//   loom job delete NAME               kill what still runs and forget the job
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <thread>

#include "commands.h"
#include "core/file.h"
#include "core/yaml_lines.h"
#include "kinds.h"
#include "job/local_job.h"
#include "job/pytorchjob.h"
#include "job/tfjob.h"

namespace loom::cli {
namespace {

std::atomic<bool> g_job_stop{false};

std::string DefaultJobsDir() {
  if (const char* env = std::getenv("LOOM_JOBS_DIR"); env && *env) return env;
  return job::LocalJobOptions().jobs_dir;  // LoomHome()/jobs, where the UI and workflows look
}


// This executable's path: a replica whose command is "loom" runs the same binary as the job.
std::string SelfExecutable() {
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  return n > 0 ? std::string(path, static_cast<size_t>(n)) : "";
}

// Runs a created job until it ends. With `detach`, the job runs in a child of its own session
// (its output in the job's controller.log) and the parent returns 0 at once, *parent set.
int RunCreated(job::LocalJob& local, const job::TfJob& spec, bool detach, bool* parent) {
  if (detach) {
    pid_t pid = fork();
    if (pid < 0) return Fail("job run", ErrnoStatus("fork", "detach", errno));
    if (pid > 0) {
      *parent = true;
      return 0;
    }
    setsid();
    const std::string log = JoinPath(local.dir(), "controller.log");
    if (!freopen(log.c_str(), "a", stdout) || !freopen(log.c_str(), "a", stderr)) _exit(1);
  }
  WatchStopSignals([] { g_job_stop = true; });
  const std::string resource = job::KubectlResource(spec.kind);
  std::cout << resource << "/" << spec.name << " created; state in " << local.dir() << std::endl;
  auto status = local.Run();
  if (!status.ok()) return Fail("job run", status.status());
  const std::string phase = job::JobPhase(*status);
  const Json& last = (*status)["conditions"].back();
  std::cout << resource.substr(0, resource.find('.')) << " " << spec.name << ": " << phase << ": "
            << last.value("message", "") << std::endl;
  if (phase == "Succeeded" || phase == "Suspended") return 0;
  std::cerr << "loom job run: " << last.value("message", "") << std::endl;
  return 1;
}

// `loom apply` of a TFJob, PyTorchJob or TrainJob: started in the background as `loom job run
// --detach`; one that exists with the same manifest is unchanged, and a job's spec is not changed in place.
StatusOr<std::pair<std::string, std::string>> ApplyJob(const Document& doc) {
  auto spec = job::ParseJob(doc.object, doc.source);
  if (!spec.ok()) return WithFieldLine(spec.status(), doc.source, doc.text);
  job::LocalJobOptions options;
  options.jobs_dir = DefaultJobsDir();
  options.loom_binary = SelfExecutable();
  options.should_stop = [] { return g_job_stop.load(); };
  LOOM_ASSIGN_OR_RETURN(options.s3, S3OptionsFromEnv());
  if (auto kept = ReadFile(JoinPath(JoinPath(options.jobs_dir, spec->name), "tfjob.json")); kept.ok()) {
    auto old = ParseJson(*kept, "tfjob.json");
    if (old.ok() && *old == spec->manifest) return std::make_pair(spec->name, std::string("unchanged"));
    return FailedPrecondition(doc.source + ": " + job::KubectlResource(spec->kind) + "/" + spec->name +
                              ": exists with another spec, and a job is not changed while it is kept (loom job delete " +
                              spec->name + " first)");
  }
  LOOM_RETURN_IF_ERROR(job::DeleteExpiredJobs(options.jobs_dir, std::time(nullptr)).status());
  LOOM_ASSIGN_OR_RETURN(auto local, job::LocalJob::Create(*spec, options));
  bool parent = false;
  const int result = RunCreated(*local, *spec, true, &parent);
  if (!parent) std::exit(result);  // the detached controller, done
  return std::make_pair(spec->name, std::string("created"));
}

int JobRun(const Args& args) {
  job::LocalJobOptions options;
  options.jobs_dir = DefaultJobsDir();
  options.loom_binary = SelfExecutable();
  bool detach = false;
  FlagSet flags("loom job run FILE [flags]");
  flags.String("jobs_dir", &options.jobs_dir, "where job state and replica logs go ($LOOM_JOBS_DIR, else $LOOM_HOME/jobs)");
  flags.Bool("detach", &detach, "return once the replicas are started; the job runs on in the background");
  std::string pod_runtime = "process";
  flags.String("pod-runtime", &pod_runtime, kReplicaRuntimeHelp);
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "job run", &code)) return code;
  auto runtime = PodRuntimeFlag(pod_runtime);
  if (!runtime.ok()) return Fail("job run", runtime.status());
  options.runtime = *runtime;
  if (positional.size() != 1) return Fail("job run", InvalidArgument("expected one TFJob, PyTorchJob or TrainJob file"));
  auto spec = job::ReadJob(positional[0]);
  if (!spec.ok()) return Fail("job run", spec.status());
  // SIGTERM/SIGINT (or `loom job delete`) stop the job: every replica is killed. (Create takes
  // a copy of the options: this must be set before.)
  options.should_stop = [] { return g_job_stop.load(); };
  auto s3 = S3OptionsFromEnv();
  if (!s3.ok()) return Fail("job run", s3.status());
  options.s3 = *s3;
  if (auto expired = job::DeleteExpiredJobs(options.jobs_dir, std::time(nullptr)); !expired.ok())
    return Fail("job run", expired.status());
  auto local = job::LocalJob::Create(*spec, options);
  if (!local.ok()) return Fail("job run", local.status());
  bool parent = false;
  const int result = RunCreated(**local, *spec, detach, &parent);
  if (parent) std::cout << job::KubectlResource(spec->kind) << "/" << spec->name << " created" << std::endl;
  return result;
}

int JobGet(const Args& args) {
  std::string jobs_dir = DefaultJobsDir(), output = "yaml";
  FlagSet flags("loom job get NAME [flags]");
  flags.String("jobs_dir", &jobs_dir, "where job state is ($LOOM_JOBS_DIR, else $LOOM_HOME/jobs)");
  flags.String("o", &output, "json or yaml");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "job get", &code)) return code;
  if (positional.size() != 1) return Fail("job get", InvalidArgument("expected one job name"));
  auto status = job::ReadJobStatus(jobs_dir, positional[0]);
  if (!status.ok()) return Fail("job get", status.status());
  auto manifest = ReadFile(JoinPath(JoinPath(jobs_dir, positional[0]), "tfjob.json"));
  Json doc = manifest.ok() ? ParseJson(*manifest, "tfjob.json").value() : Json::object();
  doc["status"] = *status;
  if (output == "json") {
    std::cout << doc.dump(2) << std::endl;
  } else if (output == "yaml") {
    std::cout << ToYaml(doc) << std::flush;
  } else {
    return Fail("job get", InvalidArgument("-o: \"" + output + "\" is not json or yaml"));
  }
  return 0;
}

int JobList(const Args& args) {
  std::string jobs_dir = DefaultJobsDir();
  FlagSet flags("loom job list [flags]");
  flags.String("jobs_dir", &jobs_dir, "where job state is ($LOOM_JOBS_DIR, else $LOOM_HOME/jobs)");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "job list", &code)) return code;
  if (auto expired = job::DeleteExpiredJobs(jobs_dir, std::time(nullptr)); !expired.ok())
    return Fail("job list", expired.status());
  auto names = job::ListJobs(jobs_dir);
  if (!names.ok()) return Fail("job list", names.status());
  printf("%-30s %-12s %s\n", "NAME", "STATE", "AGE");
  for (const std::string& name : *names) {
    auto status = job::ReadJobStatus(jobs_dir, name);
    if (!status.ok()) continue;
    printf("%-30s %-12s %s\n", name.c_str(), job::JobPhase(*status).c_str(), status->value("startTime", "").c_str());
  }
  return 0;
}

int JobLogs(const Args& args) {
  std::string jobs_dir = DefaultJobsDir(), replica;
  bool follow = false;
  FlagSet flags("loom job logs NAME [flags]");
  flags.Bool("f", &follow, "follow: keep printing as the replica writes, until the job ends");
  flags.String("jobs_dir", &jobs_dir, "where job state is ($LOOM_JOBS_DIR, else $LOOM_HOME/jobs)");
  flags.String("replica", &replica, "e.g. worker-1 (default: chief-0, master-0, worker-0 or node-0)");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "job logs", &code)) return code;
  if (positional.size() != 1) return Fail("job logs", InvalidArgument("expected one job name"));
  const std::string logs = JoinPath(JoinPath(jobs_dir, positional[0]), "logs");
  if (!PathExists(logs)) return Fail("job logs", NotFound("job " + positional[0] + ": not found in " + jobs_dir));
  // With -f, a replica not started yet (a job just run with --detach) is waited for.
  auto job_over = [&] {
    auto status = job::ReadJobStatus(jobs_dir, positional[0]);
    const std::string phase = status.ok() ? job::JobPhase(*status) : "Failed";
    return phase == "Succeeded" || phase == "Failed" || phase == "Suspended";
  };
  std::string path;
  for (;;) {
    for (const std::string& r : replica.empty() ? std::vector<std::string>{"chief-0", "master-0", "worker-0", "node-0"}
                                                : std::vector<std::string>{replica}) {
      if (PathExists(JoinPath(logs, r + ".log"))) {
        path = JoinPath(logs, r + ".log");
        break;
      }
    }
    if (!path.empty() || !follow || job_over()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto text = path.empty() ? StatusOr<std::string>(NotFound("")) : ReadFile(path);
  if (!text.ok())
    return Fail("job logs", NotFound("--replica: job " + positional[0] + " has no replica \"" +
                                     (replica.empty() ? "chief-0, master-0, worker-0 or node-0" : replica) + "\""));
  std::cout << *text << std::flush;
  size_t printed = text->size();
  while (follow) {
    // The phase first: output written before the job ended is still printed below.
    const bool over = job_over();
    auto now = ReadFile(path);
    if (now.ok() && now->size() > printed) {
      std::cout << now->substr(printed) << std::flush;
      printed = now->size();
    }
    if (over) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return 0;
}

int JobDelete(const Args& args) {
  std::string jobs_dir = DefaultJobsDir();
  FlagSet flags("loom job delete NAME [flags]");
  flags.String("jobs_dir", &jobs_dir, "where job state is ($LOOM_JOBS_DIR, else $LOOM_HOME/jobs)");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "job delete", &code)) return code;
  if (positional.size() != 1) return Fail("job delete", InvalidArgument("expected one job name"));
  // The kind, for kubectl's message, from the manifest the controller kept.
  std::string kind = "TFJob";
  if (auto manifest = ReadFile(JoinPath(JoinPath(jobs_dir, positional[0]), "tfjob.json")); manifest.ok())
    if (auto doc = ParseJson(*manifest, "tfjob.json"); doc.ok() && doc->is_object()) kind = doc->value("kind", kind);
  Status st = job::DeleteJob(jobs_dir, positional[0]);
  if (!st.ok()) return Fail("job delete", st);
  std::cout << job::KubectlResource(kind) << " \"" << positional[0] << "\" deleted" << std::endl;
  return 0;
}

}  // namespace

void AddJobKinds(std::vector<KindHandler>* kinds) {
  auto remove = [](const std::string& ns, const std::string& name) {
    (void)ns;  // jobs are kept by name alone ($LOOM_HOME/jobs/<name>)
    return job::DeleteJob(DefaultJobsDir(), name);
  };
  for (const char* kind : {"TFJob", "PyTorchJob"}) {
    kinds->push_back({kind, "kubeflow.org", {"kubeflow.org/v1"}, ApplyJob, remove});
  }
  kinds->push_back({"TrainJob", "trainer.kubeflow.org", {"trainer.kubeflow.org/v1alpha1"}, ApplyJob, remove});
}

int RunJob(const Args& args) {
  const std::string usage =
      "usage: loom job run FILE [--detach] [--pod-runtime auto|container|process] | get NAME [-o json|yaml] | list | logs NAME [--replica R] [-f] | delete NAME\n";
  if (args.empty()) {
    fputs(usage.c_str(), stderr);
    return 2;
  }
  const Args rest(args.begin() + 1, args.end());
  if (args[0] == "run") return JobRun(rest);
  if (args[0] == "get") return JobGet(rest);
  if (args[0] == "list") return JobList(rest);
  if (args[0] == "logs") return JobLogs(rest);
  if (args[0] == "delete") return JobDelete(rest);
  if (args[0] == "--help" || args[0] == "-h") {
    fputs(usage.c_str(), stdout);
    return 0;
  }
  fprintf(stderr, "loom job: unknown subcommand \"%s\"\n%s", args[0].c_str(), usage.c_str());
  return 2;
}

}  // namespace loom::cli
