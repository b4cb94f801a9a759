// Runs a real process for integration tests: the loom binary, python3, a server.
// Output goes to files in a scratch directory, so a chatty child never blocks on a pipe.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/file.h"

extern char** environ;

namespace loom::testing {

struct ProcessResult {
  int exit_code = -1;   // the exit status, or 128 + signal number
  std::string out;      // stdout
  std::string err;      // stderr
};

class Process {
 public:
  // Starts argv[0] (looked up in PATH) with stdout/stderr redirected to files under out_dir.
  // `env` entries ("K=V") are added to the current environment, over its own K.
  Process(const std::vector<std::string>& argv, const std::string& out_dir,
          const std::vector<std::string>& env = {}) {
    static int counter = 0;
    std::string base = JoinPath(out_dir, "proc" + std::to_string(counter++));
    out_path_ = base + ".out";
    err_path_ = base + ".err";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<std::string> env_strings;
    auto overridden = [&](const char* entry) {
      for (const auto& e : env) {
        const size_t eq = e.find('=');
        if (eq != std::string::npos && strncmp(entry, e.c_str(), eq + 1) == 0) return true;
      }
      return false;
    };
    for (char** e = environ; *e; ++e)
      if (!overridden(*e)) env_strings.push_back(*e);
    for (const auto& e : env) env_strings.push_back(e);
    std::vector<char*> cargv, cenv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    for (auto& e : env_strings) cenv.push_back(e.data());
    cenv.push_back(nullptr);
    if (posix_spawnp(&pid_, cargv[0], &actions, nullptr, cargv.data(), cenv.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Process() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      Wait();
    }
  }
  pid_t pid() const { return pid_; }
  void Signal(int sig) { if (pid_ > 0) kill(pid_, sig); }
  // Waits for exit and collects the output.
  ProcessResult Wait() {
    ProcessResult r;
    if (pid_ > 0) {
      int status = 0;
      while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {}
      r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      pid_ = -1;
    }
    auto out = ReadFile(out_path_);
    auto err = ReadFile(err_path_);
    r.out = out.ok() ? *out : "";
    r.err = err.ok() ? *err : "";
    return r;
  }
  // The output so far, while it runs.
  std::string OutSoFar() const {
    auto out = ReadFile(out_path_);
    return out.ok() ? *out : "";
  }

 private:
  pid_t pid_ = -1;
  std::string out_path_, err_path_;
};

inline ProcessResult Run(const std::vector<std::string>& argv, const std::string& out_dir,
                         const std::vector<std::string>& env = {}) {
  return Process(argv, out_dir, env).Wait();
}

}  // namespace loom::testing
