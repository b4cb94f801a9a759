// Probe: Kubernetes' container Probe (core/v1 Probe) on one machine, for the readinessProbe of a
// daemon template (`daemon: true`): the workflow goes on past a daemon step once its probe passes.
//
// Handlers: httpGet {path, port, host, scheme: HTTP, httpHeaders} (passes on a status 200-399, as
// the kubelet's), tcpSocket {port, host} (passes when a connection opens) and exec {command}
// (passes on exit code 0; it runs with the pod's environment, working directory and, when the pod
// has one, mount namespace). Pods share the host's network, so host defaults to 127.0.0.1 where
// Kubernetes uses the pod's IP. grpc and scheme HTTPS are refused with an error naming the field.
// Timing fields keep Kubernetes' defaults: initialDelaySeconds 0, periodSeconds 10,
// timeoutSeconds 1, successThreshold 1, failureThreshold 3.
//
// Thread-safety: ProbeOnce may run from many threads at once.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace loom::workflow {

struct ProbeSpec {
  enum class Kind { kHttpGet, kTcpSocket, kExec };
  Kind kind = Kind::kTcpSocket;
  std::string host = "127.0.0.1";                            // httpGet / tcpSocket
  int port = 0;                                              // httpGet / tcpSocket
  std::string path = "/";                                    // httpGet
  std::vector<std::pair<std::string, std::string>> headers;  // httpGet.httpHeaders
  std::vector<std::string> command;                          // exec
  double initial_delay_secs = 0;
  double period_secs = 10;
  double timeout_secs = 1;
  int success_threshold = 1;
  int failure_threshold = 3;
};

// Checks a probe's shape: known fields, exactly one handler, one Loom runs. Values that are still
// {{...}} variables are not judged (Lint calls this before substitution). Errors name
// `field` ("spec.templates[1].container.readinessProbe.httpGet.scheme: ...").
Status CheckProbe(const Json& probe, const std::string& field);

// Parses a probe whose variables are resolved. A port is a number, or the name of one of
// `container`'s ports (container.ports[].name -> containerPort).
StatusOr<ProbeSpec> ParseProbe(const Json& probe, const Json& container, const std::string& field);

// Where an exec probe runs: in the pod of process `pid` (its working directory; its mount
// namespace when `enter_mount_namespace`), with the pod's environment ("K=V").
struct ProbeTarget {
  pid_t pid = 0;
  bool enter_mount_namespace = false;
  std::vector<std::string> env;
};

// One attempt, bounded by timeout_secs: OK when the probe passes, else why not, as the kubelet
// says it: `Get "http://127.0.0.1:8080/": connection refused`, `HTTP probe failed with
// statuscode: 503`, `dial tcp 127.0.0.1:6379: connection refused`, `command "test" exited with 1`.
Status ProbeOnce(const ProbeSpec& probe, const ProbeTarget& target);

// A daemon's readinessProbe, run on a thread of its own from when its pod started: every
// periodSeconds after initialDelaySeconds, until successThreshold passes in a row (kReady) or
// failureThreshold failures in a row (kFailed), or Stop.
//
// Thread-safety: state() and failure() may be called from any thread.
class Prober {
 public:
  enum State { kProbing, kReady, kFailed };
  Prober(ProbeSpec spec, ProbeTarget target);
  ~Prober() { Stop(); }
  // Ends the loop; waits for a probe under way (at most timeoutSeconds).
  void Stop();
  State state() const { return state_.load(); }
  // Why it failed: "failed 3 times: <the last attempt's error>". REQUIRES: state() == kFailed.
  std::string failure();

 private:
  // Sleeps `secs`; false when stopped meanwhile.
  bool Sleep(double secs);
  void Loop();

  const ProbeSpec spec_;
  const ProbeTarget target_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::atomic<State> state_{kProbing};
  std::string failure_;
  std::thread thread_;
};

}  // namespace loom::workflow
