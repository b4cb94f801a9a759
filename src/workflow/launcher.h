// Launcher: where engines run and how the CLI and `loom server` find them, in one place.
//
// The files an engine keeps beside the store are named here only: a workflow's run lock
// (<home>/run/<name>.lock, held by the engine that runs it), its detached engine's log, its pods'
// directories (<home>/pods/<name>/<node id>/), and <home>/server.json, which says that a
// `loom server` runs workflows for this home. The CLI asks here whether an engine runs a
// workflow, starts a detached engine, and finds the server; the server runs its workflows
// through a Launcher (one thread per workflow calling Engine::Run).
//
// Names: a workflow is known by its key (store.h's ObjectKey: "<namespace>/<name>", the bare
// name in "default"), which becomes one file name through KeyFileName for the lock and the pods
// alike: SafeFileName's (characters other than letters, digits, '-', '_' and '.' become '_'),
// the namespace's '/' a '~', which SafeFileName never writes, so a workflow of one namespace
// never takes another's files.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "core/status.h"
#include "net/http_client.h"
#include "workflow/store.h"

namespace loom::workflow {

class Engine;

// `name` as one file name: letters, digits, '-', '_' and '.' kept, anything else '_'.
std::string SafeFileName(const std::string& name);

// A workflow's key as one file name: "hello" -> "hello", "team/hello" -> "team~hello".
std::string KeyFileName(const std::string& key);

// Below, `workflow` is a workflow's key (ObjectKey), <key> its KeyFileName.
// <home>/run/<key>.lock: the run lock an engine holds while it runs the workflow.
std::string RunLockPath(const std::string& home, const std::string& workflow);
// <home>/run/<key>.engine.log: what a detached engine writes.
std::string EngineLogPath(const std::string& home, const std::string& workflow);
// <home>/pods/<key>: the directories of the workflow's pods.
std::string WorkflowPodsDir(const std::string& home, const std::string& workflow);
// <home>/pods/<key>/<node id>: one pod's directory.
std::string PodDir(const std::string& home, const std::string& workflow, const std::string& node_id);

// The exclusive run lock of one workflow (flock on RunLockPath, the holder's pid written in it),
// released when this object goes or the process dies.
class RunLock {
 public:
  // FailedPrecondition "workflow X is being run by pid N" when another holder has it.
  static StatusOr<std::unique_ptr<RunLock>> Acquire(const std::string& home, const std::string& workflow);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  explicit RunLock(int fd) : fd_(fd) {}
  int fd_;
};

// Does some engine (this process or another) hold the workflow's run lock? Read from the
// kernel's table of locks (/proc/locks), so asking never takes the lock: an engine starting at
// that moment is not turned away.
StatusOr<bool> BeingRun(const std::string& home, const std::string& workflow);

// Starts `args` (args[0] a path) with `env` ("K=V") in a session of its own, adopted by init so
// that it outlives the caller, stdin /dev/null and stdout and stderr appended to `log`; returns
// its pid. An exec that fails ends it with 127 (the caller sees it gone).
StatusOr<pid_t> StartDetached(const std::vector<std::string>& args, const std::vector<std::string>& env,
                              const std::string& log);

// Starts `<binary> workflow run NAME -n NAMESPACE` with LOOM_HOME=home in a session of its own
// (adopted by init, so it outlives the caller), its output appended to EngineLogPath. `binary`
// empty: this process's own executable.
Status StartDetachedEngine(const std::string& home, const std::string& workflow,
                           const std::string& binary = "");

// A `loom server` that runs workflows for a home, as its server.json says.
struct ServerInfo {
  std::string address;  // host:port it listens on
  std::string url;      // how this machine reaches it: http(s)://host:port (loopback for 0.0.0.0)
  pid_t pid = 0;
  std::string cert;     // with TLS (--secure): the certificate its clients trust (PEM file)
  bool wants_token = true;  // --auth-mode client (server: false)
  std::string token;    // filled by FindRunningServer when wanted: <home>/server.token
};
// Written by the server once it listens; removed (RemoveServerInfo) before it stops. The token
// is not written there (it stays in its 0600 file).
Status WriteServerInfo(const std::string& home, const ServerInfo& info);
Status RemoveServerInfo(const std::string& home);
// The server for `home`, or NotFound when none is up (no server.json, or its pid is gone);
// another error when it wants a token this process cannot read.
StatusOr<ServerInfo> FindRunningServer(const std::string& home);
// Sends `request` (its url a path on the server: "/api/v1/...") to the server with its token
// and, over TLS, trusting its certificate. Transport errors name the server.
StatusOr<net::HttpResponse> CallServer(const ServerInfo& server, net::HttpRequest request);

// Removes a workflow for good: its rows and logs in the store and its pods' directories.
// REQUIRES: no engine runs it.
Status DeleteWorkflowData(Store& store, const std::string& home, const std::string& workflow);

// When a finished workflow is due to go by its spec.ttlStrategy (Argo's): status.finishedAt plus
// secondsAfterFailure (Failed), secondsAfterSuccess (Succeeded), else secondsAfterCompletion;
// nullopt when none applies or it has not finished.
std::optional<double> TtlExpiry(const Json& workflow);

// Runs workflows in this process, one thread per workflow calling Engine::Run: what `loom
// server` does with the workflows submitted to it and, on start, with those left unfinished.
// Deleting a running workflow terminates it and removes it once its run has ended (waiting for
// another process that holds its run lock to let go), on the run's thread, so the caller does
// not wait for its pods to stop. Thread-safe.
class Launcher {
 public:
  // REQUIRES: store and engine outlive the Launcher.
  Launcher(Store* store, Engine* engine, std::string home);
  ~Launcher();  // Shutdown()

  // Runs `name` on a thread of its own unless this process already does.
  void Start(const std::string& name);
  // Starts every stored workflow that is Pending or Running (one whose run lock another process
  // holds ends at once). Returns how many it started.
  int ResumeUnfinished();
  // Removes a workflow that nothing runs now; terminates one that runs and removes it when its
  // run ends. From then on IsDeleting holds until it is gone.
  Status Delete(const std::string& name);
  // True while `name` is deleted but its run has not ended.
  bool IsDeleting(const std::string& name);
  // Argo's TTL controller: deletes (Delete) every finished workflow whose spec.ttlStrategy time
  // has passed (TtlExpiry). `loom server` calls it once a second; a workflow that expired while
  // no server ran goes on the next call. Returns how many it deleted.
  int DeleteExpired(double now);
  // Asks every run to stop (workflows stay Running in the store and resume on the next start)
  // and waits for the threads.
  void Shutdown();

  // Workflows whose Run is going on in this process (for tests).
  int active_runs();
  // Workflows deleted whose run has not ended yet (for tests).
  int pending_deletions();

 private:
  struct Run {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  // The end of a run's thread: the deletion asked for meanwhile, if any, then `done`.
  void Finish(const std::string& name, Status status, const std::shared_ptr<std::atomic<bool>>& done);

  Store* store_;
  Engine* engine_;
  std::string home_;
  std::mutex mu_;
  std::map<std::string, Run> runs_;
  std::set<std::string> deleting_;  // deleted, run not ended yet
  bool shutting_down_ = false;
};

}  // namespace loom::workflow
