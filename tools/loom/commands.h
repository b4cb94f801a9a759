// The loom subcommands: each lives in its own file and turns flags into Options, then runs.
// Each returns the process exit code: 0 success, 1 failure, 2 bad usage.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/flags.h"
#include "core/json.h"
#include "core/status.h"
#include "storage/s3_store.h"
#include "workflow/pod_runner.h"

namespace loom::cli {

using Args = std::vector<std::string>;

int RunTrain(const Args& args);
int RunExport(const Args& args);
int RunEval(const Args& args);
int RunData(const Args& args);
int RunServe(const Args& args);
int RunPredict(const Args& args);
int RunJob(const Args& args);
int RunRuntime(const Args& args);
int RunServer(const Args& args);  // server.cc, when src/ui is built
int RunWorkflow(const Args& args);  // workflow.cc: loom workflow / loom wf
int RunTemplate(const Args& args);  // workflow.cc: loom template
int RunClusterTemplate(const Args& args);  // workflow.cc: loom cluster-template
int RunApply(const Args& args);     // apply.cc: loom apply -f (every kind of kinds.h)
int RunDelete(const Args& args);    // apply.cc: loom delete -f
int RunConfigMap(const Args& args);
int RunCron(const Args& args);      // cron.cc: loom cron (CronWorkflows)  // secret.cc: ConfigMaps for pods and parameters
int RunDemo(const Args& args);      // demo.cc
int RunVersion(const Args& args);   // version.cc: loom version / loom --version
int RunSecret(const Args& args);    // secret.cc: Secrets for pods (secretKeyRef, envFrom)
int RunImage(const Args& args);     // image.cc: loom image build (buildah, offline)

// Parses flags; on --help prints help and returns 0 through *exit_code; on error prints
// "loom <cmd>: <error>" and returns 2. Returns true when the command should go on.
bool ParseFlagsOrExit(FlagSet& flags, const Args& args, std::vector<std::string>* positional,
                      const char* command, int* exit_code);
// Makes ParseFlagsOrExit print --help as a Markdown table (FlagSet::Markdown) instead of text:
// `loom help --markdown`. In common.cc.
void SetHelpMarkdown(bool markdown);
// SIGTERM and SIGINT call on_signal (from one thread in sigwait) instead of killing: they are
// blocked in every thread, so a signal never lands in a compute thread's JIT-compiled math.
// Call before any thread starts (threads made later inherit the mask). In train.cc.
void WatchStopSignals(std::function<void()> on_signal);
// Block-style YAML of a JSON document (strings quoted as JSON, which YAML reads the same), as
// `-o yaml` prints it (loom job get, loom workflow get, loom template get). In common.cc.
std::string ToYaml(const Json& doc);
// kubectl's and argo's AGE column: "5s", "3m", "2h", "4d". In common.cc.
std::string KubeAge(int64_t secs);
// --pod-runtime of the commands that run pods (workflow submit/run/resume/retry/resubmit, server).
StatusOr<workflow::PodRunnerOptions::Runtime> PodRuntimeFlag(const std::string& value);
inline constexpr const char* kPodRuntimeHelp =
    "process (pods are processes on this machine), container (podman; the images must be in the local "
    "image store) or auto (a container when the image is there, else a process)";
inline constexpr const char* kReplicaRuntimeHelp =
    "process (replicas are processes on this machine), container (podman; the images must be in the local "
    "image store) or auto (a container when the image is there, else a process)";
// kubectl's and argo's -n/--namespace: names are unique per namespace, so a name means one in
// "default" unless -n says which. In common.cc.
void NamespaceFlags(FlagSet& flags, std::string* ns);
// kubectl's and argo's -l/--selector, a label query: comma-separated requirements, each `k=v`,
// `k==v`, `k!=v`, `k` (has the label) or `!k` (has not). Matches() takes metadata.labels (an
// object of strings, or null). In common.cc.
struct LabelSelector {
  struct Requirement {
    std::string key, value;
    enum Op { kEquals, kNotEquals, kExists, kNotExists } op;
  };
  std::vector<Requirement> requirements;
  bool Matches(const Json& labels) const;
};
// Errors name the flag and the part that does not parse.
StatusOr<LabelSelector> ParseLabelSelector(const std::string& text);
// Prints "loom <cmd>: <status message>" to stderr and returns 1.
int Fail(const char* command, const Status& status);
// Where MNIST is unless --data_dir says otherwise: $LOOM_MNIST_DIR, else the directory that
// `make` fills (data/mnist in the source tree this binary was built from).
std::string DefaultDataDir();
// --data_dir as the training commands take it: a local path as is; an s3:// or file:// URL is
// cached (verified, locked) under LoomHome()/datasets with the S3 settings from the AWS_*/S3_*
// environment, and that directory returned. Says what it fetched on stderr. In data.cc.
StatusOr<std::string> ResolveDataDir(const std::string& data_dir, const char* command);
// S3 settings from the environment, the one reading of them for every command (data, serve,
// workflow): AWS_ENDPOINT_URL (else S3_ENDPOINT with S3_USE_HTTPS=0|false for http), AWS_REGION
// (else AWS_DEFAULT_REGION, else us-east-1), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN, S3_VERIFY_SSL=0|false. A non-empty endpoint_flag / region_flag overrides the
// environment; anonymous leaves the credentials out. Error: a key id without its secret. In common.cc.
StatusOr<storage::S3Options> S3OptionsFromEnv(const std::string& endpoint_flag = "",
                                              const std::string& region_flag = "", bool anonymous = false);

}  // namespace loom::cli
