#include "workflow/probe.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <set>

#include "net/http_client.h"

namespace loom::workflow {
namespace {

using Clock = std::chrono::steady_clock;

const std::set<std::string> kProbeKeys = {"exec", "httpGet", "tcpSocket", "grpc", "initialDelaySeconds",
                                          "periodSeconds", "timeoutSeconds", "successThreshold",
                                          "failureThreshold", "terminationGracePeriodSeconds"};
const std::set<std::string> kHttpGetKeys = {"path", "port", "host", "scheme", "httpHeaders"};
const std::set<std::string> kTcpSocketKeys = {"port", "host"};
const std::set<std::string> kExecKeys = {"command"};

bool IsVariable(const Json& v) { return v.is_string() && v.get<std::string>().find("{{") != std::string::npos; }

Status CheckKeys(const Json& obj, const std::string& field, const std::set<std::string>& keys) {
  if (!obj.is_object()) return InvalidArgument(field + ": must be an object");
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (!keys.count(it.key())) return InvalidArgument(JoinField(field, it.key()) + ": unknown field \"" + it.key() + "\"");
  }
  return OkStatus();
}

// The handler a probe names ("httpGet", "tcpSocket", "exec"), checked to be the only one.
StatusOr<std::string> Handler(const Json& probe, const std::string& field) {
  LOOM_RETURN_IF_ERROR(CheckKeys(probe, field, kProbeKeys));
  if (probe.contains("grpc")) return InvalidArgument(JoinField(field, "grpc") + ": grpc probes are not supported by Loom (use httpGet, tcpSocket or exec)");
  std::string handler;
  for (const char* h : {"httpGet", "tcpSocket", "exec"}) {
    if (!probe.contains(h)) continue;
    if (!handler.empty()) return InvalidArgument(field + ": has both " + handler + " and " + h + " (a probe has one handler)");
    handler = h;
  }
  if (handler.empty()) return InvalidArgument(field + ": needs one of httpGet, tcpSocket or exec");
  return handler;
}

// A number of seconds or a count: an integer (or a string of digits, as substitution leaves it).
Status Number(const Json& probe, const char* key, const std::string& field, int min, double* out) {
  if (!probe.contains(key)) return OkStatus();
  const Json& v = probe[key];
  long long n = -1;
  if (v.is_number_integer()) {
    n = v.get<long long>();
  } else if (v.is_string() && !v.get<std::string>().empty() &&
             v.get<std::string>().find_first_not_of("0123456789") == std::string::npos) {
    n = std::atoll(v.get<std::string>().c_str());
  } else {
    return InvalidArgument(JoinField(field, key) + ": must be an integer");
  }
  if (n < min) return InvalidArgument(JoinField(field, key) + ": must be at least " + std::to_string(min));
  *out = static_cast<double>(n);
  return OkStatus();
}

StatusOr<int> Port(const Json& v, const Json& container, const std::string& field) {
  if (v.is_number_integer()) {
    const long long p = v.get<long long>();
    if (p < 1 || p > 65535) return InvalidArgument(field + ": " + std::to_string(p) + " is not a port (1-65535)");
    return static_cast<int>(p);
  }
  if (!v.is_string() || v.get<std::string>().empty()) return InvalidArgument(field + ": must be a port number or the name of a container port");
  const std::string s = v.get<std::string>();
  if (s.find_first_not_of("0123456789") == std::string::npos) return Port(Json(std::atoll(s.c_str())), container, field);
  if (container.is_object() && container.contains("ports") && container["ports"].is_array()) {
    for (const Json& p : container["ports"]) {
      if (p.is_object() && p.value("name", "") == s && p.contains("containerPort")) return Port(p["containerPort"], container, field);
    }
  }
  return InvalidArgument(field + ": no container port named \"" + s + "\"");
}

double SecondsLeft(Clock::time_point deadline) {
  return std::chrono::duration<double>(deadline - Clock::now()).count();
}

int MillisLeft(Clock::time_point deadline) {
  const double s = SecondsLeft(deadline);
  return s <= 0 ? 0 : static_cast<int>(s * 1000) + 1;
}

// A connected TCP socket to host:port, or why not ("connection refused", "timeout").
StatusOr<int> Connect(const std::string& host, int port, Clock::time_point deadline) {
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (rc != 0) return Unavailable(std::string("lookup ") + host + ": " + gai_strerror(rc));
  std::string why = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      why = strerror(errno);
      continue;
    }
    int err = 0;
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        pollfd p = {fd, POLLOUT, 0};
        const int n = poll(&p, 1, MillisLeft(deadline));
        if (n <= 0) {
          err = ETIMEDOUT;
        } else {
          socklen_t len = sizeof(err);
          getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        }
      }
    }
    if (err == 0) {
      freeaddrinfo(found);
      return fd;
    }
    why = err == ETIMEDOUT ? "i/o timeout" : strerror(err);
    close(fd);
  }
  freeaddrinfo(found);
  for (char& c : why) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return Unavailable(why);
}

// Through net::HttpClient (libcurl), which does not follow redirects: a 3xx passes, as with the
// kubelet.
Status HttpGet(const ProbeSpec& p, Clock::time_point deadline) {
  const std::string url = "http://" + p.host + ":" + std::to_string(p.port) + p.path;
  net::HttpClientOptions options;
  // Whole seconds (libcurl's connect and stall limits); probes' timeoutSeconds are whole too.
  const long seconds = std::max(1L, static_cast<long>(std::ceil(SecondsLeft(deadline))));
  options.connect_timeout_seconds = seconds;
  options.stall_timeout_seconds = seconds;
  auto client = net::HttpClient::Create(options);
  if (!client.ok()) return client.status();
  net::HttpRequest request;
  request.url = url;
  request.headers = {{"User-Agent", "kube-probe/loom"}, {"Accept", "*/*"}};
  for (const auto& header : p.headers) request.headers.push_back(header);
  auto response = (*client)->Send(request);
  if (!response.ok()) {
    std::string why = response.status().message();  // "GET <url>: connection refused"
    if (const std::string said = "GET " + url + ": "; why.rfind(said, 0) == 0) why.erase(0, said.size());
    return Unavailable("Get \"" + url + "\": " + why);
  }
  if (response->status >= 200 && response->status < 400) return OkStatus();
  return Unavailable("HTTP probe failed with statuscode: " + std::to_string(response->status));
}

Status TcpSocket(const ProbeSpec& p, Clock::time_point deadline) {
  auto fd = Connect(p.host, p.port, deadline);
  if (!fd.ok()) return Unavailable("dial tcp " + p.host + ":" + std::to_string(p.port) + ": " + fd.status().message());
  close(*fd);
  return OkStatus();
}

// The exec probe's child: system calls only (the parent is multithreaded).
[[noreturn]] void ExecChild(int ns_fd, int cwd_fd, int out_fd, char* const* argv, char* const* envp) {
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (ns_fd >= 0 && setns(ns_fd, CLONE_NEWNS) != 0) {
    const char msg[] = "cannot enter the pod's mount namespace";
    (void)!write(out_fd, msg, sizeof(msg) - 1);
    _exit(126);
  }
  if (cwd_fd >= 0) (void)!fchdir(cwd_fd);
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd >= 0) dup2(null_fd, 0);
  dup2(out_fd, 1);
  dup2(out_fd, 2);
  execvpe(argv[0], argv, envp);
  const char* e = strerror(errno);
  (void)!write(out_fd, "exec: ", 6);
  (void)!write(out_fd, e, strlen(e));
  _exit(127);
}

Status Exec(const ProbeSpec& p, const ProbeTarget& target, Clock::time_point deadline) {
  std::vector<std::string> args = p.command, env = target.env;
  std::vector<char*> argv, envp;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string proc = "/proc/" + std::to_string(target.pid);
  const int ns_fd = target.enter_mount_namespace ? open((proc + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC) : -1;
  if (target.enter_mount_namespace && ns_fd < 0) return Unavailable("exec probe: the pod is gone");
  const int cwd_fd = target.pid > 0 ? open((proc + "/cwd").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    if (ns_fd >= 0) close(ns_fd);
    if (cwd_fd >= 0) close(cwd_fd);
    return Unavailable(std::string("exec probe: pipe: ") + strerror(errno));
  }
  const pid_t pid = fork();
  if (pid == 0) ExecChild(ns_fd, cwd_fd, out[1], argv.data(), envp.data());
  close(out[1]);
  if (ns_fd >= 0) close(ns_fd);
  if (cwd_fd >= 0) close(cwd_fd);
  if (pid < 0) {
    close(out[0]);
    return Unavailable(std::string("exec probe: fork: ") + strerror(errno));
  }
  setpgid(pid, pid);
  std::string output;
  bool timed_out = false;
  while (true) {
    pollfd pfd = {out[0], POLLIN, 0};
    const int n = poll(&pfd, 1, MillisLeft(deadline));
    if (n == 0) {
      timed_out = true;
      break;
    }
    if (n < 0 && errno == EINTR) continue;
    char buf[512];
    const ssize_t r = n > 0 ? read(out[0], buf, sizeof(buf)) : 0;
    if (r <= 0) break;
    if (output.size() < 1024) output.append(buf, static_cast<size_t>(r));
  }
  close(out[0]);
  if (timed_out) kill(-pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) return Unavailable("command \"" + p.command[0] + "\" timed out");
  while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) output.pop_back();
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return OkStatus();
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return Unavailable("command \"" + p.command[0] + "\" exited with " + std::to_string(code) +
                     (output.empty() ? "" : ": " + output));
}

}  // namespace

Status CheckProbe(const Json& probe, const std::string& field) {
  LOOM_ASSIGN_OR_RETURN(std::string handler, Handler(probe, field));
  const std::string hf = JoinField(field, handler);
  const Json& h = probe[handler];
  double ignored = 0;
  for (const char* key : {"initialDelaySeconds", "periodSeconds", "timeoutSeconds", "successThreshold",
                          "failureThreshold", "terminationGracePeriodSeconds"}) {
    if (probe.contains(key) && IsVariable(probe[key])) continue;
    const bool counts_from_one = std::string(key) != "initialDelaySeconds" && std::string(key) != "terminationGracePeriodSeconds";
    LOOM_RETURN_IF_ERROR(Number(probe, key, field, counts_from_one ? 1 : 0, &ignored));
  }
  if (handler == "exec") {
    LOOM_RETURN_IF_ERROR(CheckKeys(h, hf, kExecKeys));
    const std::string cf = JoinField(hf, "command");
    if (!h.contains("command") || !h["command"].is_array() || h["command"].empty()) {
      return InvalidArgument(cf + ": must be a non-empty list of strings");
    }
    for (size_t i = 0; i < h["command"].size(); ++i) {
      if (!h["command"][i].is_string()) return InvalidArgument(JoinField(cf, i) + ": expected a string");
    }
    return OkStatus();
  }
  LOOM_RETURN_IF_ERROR(CheckKeys(h, hf, handler == "httpGet" ? kHttpGetKeys : kTcpSocketKeys));
  if (!h.contains("port")) return InvalidArgument(JoinField(hf, "port") + ": is required");
  if (!IsVariable(h["port"]) && !h["port"].is_string()) LOOM_RETURN_IF_ERROR(Port(h["port"], Json(), JoinField(hf, "port")).status());
  if (h.contains("scheme") && !IsVariable(h["scheme"]) && h["scheme"] != "HTTP") {
    return InvalidArgument(JoinField(hf, "scheme") + ": only HTTP is supported by Loom, not " + h["scheme"].dump());
  }
  if (h.contains("httpHeaders")) {
    const std::string f = JoinField(hf, "httpHeaders");
    if (!h["httpHeaders"].is_array()) return InvalidArgument(f + ": must be a list of {name, value}");
    for (size_t i = 0; i < h["httpHeaders"].size(); ++i) {
      const Json& e = h["httpHeaders"][i];
      if (!e.is_object() || !e.contains("name") || !e["name"].is_string()) return InvalidArgument(JoinField(f, i) + ".name: is required");
    }
  }
  for (const char* key : {"path", "host"}) {
    if (h.contains(key) && !h[key].is_string()) return InvalidArgument(JoinField(hf, key) + ": must be a string");
  }
  return OkStatus();
}

StatusOr<ProbeSpec> ParseProbe(const Json& probe, const Json& container, const std::string& field) {
  LOOM_RETURN_IF_ERROR(CheckProbe(probe, field));
  ProbeSpec spec;
  LOOM_RETURN_IF_ERROR(Number(probe, "initialDelaySeconds", field, 0, &spec.initial_delay_secs));
  LOOM_RETURN_IF_ERROR(Number(probe, "periodSeconds", field, 1, &spec.period_secs));
  LOOM_RETURN_IF_ERROR(Number(probe, "timeoutSeconds", field, 1, &spec.timeout_secs));
  double n = spec.success_threshold;
  LOOM_RETURN_IF_ERROR(Number(probe, "successThreshold", field, 1, &n));
  spec.success_threshold = static_cast<int>(n);
  n = spec.failure_threshold;
  LOOM_RETURN_IF_ERROR(Number(probe, "failureThreshold", field, 1, &n));
  spec.failure_threshold = static_cast<int>(n);
  if (probe.contains("exec")) {
    spec.kind = ProbeSpec::Kind::kExec;
    spec.command = probe["exec"]["command"].get<std::vector<std::string>>();
    return spec;
  }
  const bool http = probe.contains("httpGet");
  spec.kind = http ? ProbeSpec::Kind::kHttpGet : ProbeSpec::Kind::kTcpSocket;
  const std::string hf = JoinField(field, http ? "httpGet" : "tcpSocket");
  const Json& h = probe[http ? "httpGet" : "tcpSocket"];
  if (h.contains("scheme") && h["scheme"] != "HTTP") {
    return InvalidArgument(JoinField(hf, "scheme") + ": only HTTP is supported by Loom, not " + h["scheme"].dump());
  }
  LOOM_ASSIGN_OR_RETURN(spec.port, Port(h["port"], container, JoinField(hf, "port")));
  if (!h.value("host", "").empty()) spec.host = h["host"].get<std::string>();
  if (http) {
    spec.path = h.value("path", "/");
    if (spec.path.empty() || spec.path[0] != '/') spec.path = "/" + spec.path;
    for (const Json& e : h.value("httpHeaders", Json::array())) {
      spec.headers.emplace_back(e.value("name", ""), e.contains("value") && e["value"].is_string() ? e["value"].get<std::string>() : "");
    }
  }
  return spec;
}

Status ProbeOnce(const ProbeSpec& probe, const ProbeTarget& target) {
  const Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(probe.timeout_secs));
  switch (probe.kind) {
    case ProbeSpec::Kind::kHttpGet: return HttpGet(probe, deadline);
    case ProbeSpec::Kind::kTcpSocket: return TcpSocket(probe, deadline);
    case ProbeSpec::Kind::kExec: return Exec(probe, target, deadline);
  }
  return Internal("probe: unknown kind");
}

Prober::Prober(ProbeSpec spec, ProbeTarget target) : spec_(std::move(spec)), target_(std::move(target)) {
  thread_ = std::thread([this] { Loop(); });
}

void Prober::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string Prober::failure() {
  std::lock_guard<std::mutex> lock(mu_);
  return failure_;
}

bool Prober::Sleep(double secs) {
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, std::chrono::duration<double>(secs), [&] { return stop_; });
}

void Prober::Loop() {
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

}  // namespace loom::workflow
