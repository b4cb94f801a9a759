#include "core/process.h"

#include <signal.h>

#include <string>

#include "core/file.h"

namespace loom {

bool ProcessRunning(int pid) {
  if (pid <= 0 || kill(pid, 0) != 0) return false;
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return true;
  const size_t paren = stat->rfind(')');
  return paren == std::string::npos || paren + 2 >= stat->size() || (*stat)[paren + 2] != 'Z';
}

}  // namespace loom
