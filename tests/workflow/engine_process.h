// The engine in a process of its own (tests/workflow/engine_run_main.cc, built as
// workflow_engine_run; ctest gives its path in $WORKFLOW_ENGINE_RUN), for the tests that kill an
// engine with SIGKILL and resume the workflow in another.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace loom::workflow {

// Starts `workflow_engine_run HOME NAME`; returns its pid (-1, and the test fails, without
// $WORKFLOW_ENGINE_RUN).
inline pid_t StartEngineProcess(const std::string& home, const std::string& name) {
  const char* bin = std::getenv("WORKFLOW_ENGINE_RUN");
  EXPECT_NE(bin, nullptr) << "WORKFLOW_ENGINE_RUN is not set (ctest sets it)";
  if (!bin) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    execl(bin, bin, home.c_str(), name.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

}  // namespace loom::workflow
