// Small images built offline with buildah from the static busybox (no registry, no base image),
// shared by the tests that run containers.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/file.h"
#include "test_util/subprocess.h"
#include "test_util/test_env.h"

namespace loom::testing {

// Builds `name` (e.g. "localhost/loom-test-hello:1") from /bin/busybox with its applets linked
// under /bin, an /etc/passwd for root and user 1000, and `config` given to `buildah config`
// (e.g. {"--entrypoint", "[\"/bin/echo\",\"hello\"]"}). Returns false, with the reason
// recorded as a test failure, when buildah fails.
inline bool BuildBusyboxImage(const std::string& name, const std::vector<std::string>& config) {
  ScratchDir root, logs;
  EXPECT_TRUE(MakeDirs(root.Join("bin")).ok());
  EXPECT_TRUE(MakeDirs(root.Join("etc")).ok());
  EXPECT_TRUE(MakeDirs(root.Join("tmp")).ok());
  ProcessResult cp = Run({"cp", "/bin/busybox", root.Join("bin/busybox")}, logs.path());
  EXPECT_EQ(cp.exit_code, 0) << "busybox-static is needed (scripts/install_deps.sh): " << cp.err;
  if (cp.exit_code != 0) return false;
  for (const char* applet : {"sh", "echo", "cat", "ls", "id", "sleep", "dd", "head", "touch", "pwd", "env", "grep",
                             "mkdir", "tr", "wc", "test", "true", "false"}) {
    EXPECT_EQ(symlink("busybox", root.Join(std::string("bin/") + applet).c_str()), 0);
  }
  EXPECT_TRUE(WriteFileAtomic(root.Join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n").ok());
  EXPECT_TRUE(WriteFileAtomic(root.Join("etc/group"), "root:x:0:\nuser:x:1000:\n").ok());
  // The image of an earlier run goes first: committed over, it would stay behind unnamed.
  (void)Run({"podman", "rmi", "--force", name}, logs.path());
  ProcessResult from = Run({"buildah", "from", "scratch"}, logs.path());
  EXPECT_EQ(from.exit_code, 0) << from.err;
  if (from.exit_code != 0) return false;
  const std::string c = from.out.substr(0, from.out.find('\n'));
  std::vector<std::vector<std::string>> steps = {{"buildah", "copy", c, root.path(), "/"}};
  std::vector<std::string> configure = {"buildah", "config"};
  configure.insert(configure.end(), config.begin(), config.end());
  configure.push_back(c);
  steps.push_back(configure);
  steps.push_back({"buildah", "commit", "-q", c, name});
  bool ok = true;
  for (const auto& step : steps) {
    ProcessResult r = Run(step, logs.path());
    EXPECT_EQ(r.exit_code, 0) << step[1] << ": " << r.err;
    if (r.exit_code != 0) ok = false;
    if (!ok) break;
  }
  (void)Run({"buildah", "rm", c}, logs.path());
  return ok;
}

}  // namespace loom::testing
