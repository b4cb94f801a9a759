#include "ui/safe_path.h"

#include <climits>
#include <cstdlib>

#include "core/file.h"

namespace loom::ui {

bool IsSafeName(const std::string& name) {
  if (name.empty() || name == "." || name == "..") return false;
  for (char c : name) {
    if (c == '/' || c == '\\' || c == '\0') return false;
  }
  return true;
}

namespace {

std::string RealPath(const std::string& path) {
  char buffer[PATH_MAX];
  if (realpath(path.c_str(), buffer) == nullptr) return "";
  return buffer;
}

}  // namespace

StatusOr<std::string> ResolveUnder(const std::string& root, const std::string& relative,
                                   const std::string& what) {
  auto bad = [&]() { return InvalidArgument(what + ": \"" + relative + "\" is not a valid path"); };
  if (relative.empty() || relative.front() == '/') return bad();
  std::string path = root;
  size_t start = 0;
  while (start <= relative.size()) {
    size_t end = relative.find('/', start);
    if (end == std::string::npos) end = relative.size();
    if (!IsSafeName(relative.substr(start, end - start))) return bad();
    path = JoinPath(path, relative.substr(start, end - start));
    start = end + 1;
  }
  std::string real_root = RealPath(root);
  std::string real = RealPath(path);
  if (real_root.empty() || real.empty()) return NotFound(what + " \"" + relative + "\" not found");
  if (real != real_root && real.compare(0, real_root.size() + 1, real_root + "/") != 0) return bad();
  return path;
}

}  // namespace loom::ui
