#include "container/image_build.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <set>

#include "container/command.h"
#include "core/file.h"
#include "core/json.h"

namespace loom::container {
namespace {

// The file at `from` (symlinks followed) at `to` under root, its mode kept.
Status CopyInto(const std::string& root, const std::string& from, const std::string& to) {
  if (to.empty() || to[0] != '/') return InvalidArgument(to + ": a path in the image must be absolute");
  const std::string target = root + to;  // under root (JoinPath would keep an absolute `to` as is)
  LOOM_RETURN_IF_ERROR(MakeDirs(Dirname(target)));
  // cp: the bytes behind any symlink, the mode kept.
  LOOM_ASSIGN_OR_RETURN(CommandResult r, RunCommand({"cp", "--dereference", "--preserve=mode", from, target}));
  if (r.exit_code != 0) return FailedPrecondition(from + ": copy to the image: " + CommandError(r));
  return OkStatus();
}

// busybox --list: the applets it has.
StatusOr<std::vector<std::string>> Applets(const std::string& busybox) {
  LOOM_ASSIGN_OR_RETURN(CommandResult r, RunCommand({busybox, "--list"}));
  if (r.exit_code != 0) return FailedPrecondition(busybox + " --list: " + CommandError(r));
  std::vector<std::string> out;
  for (size_t at = 0; at < r.out.size();) {
    size_t end = r.out.find('\n', at);
    if (end == std::string::npos) end = r.out.size();
    if (end > at) out.push_back(r.out.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

}  // namespace

StatusOr<std::vector<std::string>> SharedLibraries(const std::string& program) {
  LOOM_ASSIGN_OR_RETURN(CommandResult r, RunCommand({"ldd", program}));
  std::vector<std::string> libs;
  if (r.exit_code != 0) {
    if (r.out.find("not a dynamic executable") != std::string::npos ||
        r.err.find("not a dynamic executable") != std::string::npos) {
      return libs;
    }
    return FailedPrecondition("ldd " + program + ": " + CommandError(r));
  }
  // "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)", "/lib64/ld-linux-x86-64.so.2 (0x...)",
  // "linux-vdso.so.1 (0x...)" (in the kernel: nothing to copy).
  for (size_t at = 0; at < r.out.size();) {
    size_t end = r.out.find('\n', at);
    if (end == std::string::npos) end = r.out.size();
    const std::string line = r.out.substr(at, end - at);
    at = end + 1;
    if (line.find("not found") != std::string::npos) {
      return FailedPrecondition("ldd " + program + ": a library is missing: " + line.substr(line.find_first_not_of(" \t")));
    }
    const size_t arrow = line.find("=> ");
    const size_t start = arrow != std::string::npos ? arrow + 3 : line.find('/');
    if (start == std::string::npos || start >= line.size() || line[start] != '/') continue;
    libs.push_back(line.substr(start, line.find(' ', start) - start));
  }
  return libs;
}

StatusOr<std::string> BuildImage(const ImageBuildOptions& options, const std::function<void(std::string_view)>& progress) {
  const std::string root = TempPathFor(JoinPath(options.work_dir, "loom-image-root"));
  struct Cleanup {
    std::string dir;
    ~Cleanup() { (void)RemoveAll(dir); }
  } cleanup{root};
  LOOM_RETURN_IF_ERROR(MakeDirs(root));
  std::set<std::string> copied;
  for (const ImageProgram& p : options.programs) {
    LOOM_RETURN_IF_ERROR(CopyInto(root, p.host_path, p.image_path));
    LOOM_ASSIGN_OR_RETURN(auto libs, SharedLibraries(p.host_path));
    for (const std::string& lib : libs) {
      if (copied.insert(lib).second) LOOM_RETURN_IF_ERROR(CopyInto(root, lib, lib));
    }
    progress(p.image_path + " (" + std::to_string(libs.size()) + " shared libraries)");
  }
  if (!options.busybox.empty()) {
    LOOM_ASSIGN_OR_RETURN(auto libs, SharedLibraries(options.busybox));
    if (!libs.empty()) return FailedPrecondition(options.busybox + ": not static (install busybox-static)");
    LOOM_RETURN_IF_ERROR(CopyInto(root, options.busybox, "/bin/busybox"));
    LOOM_ASSIGN_OR_RETURN(auto applets, Applets(options.busybox));
    int linked = 0;
    for (const std::string& a : applets) {
      const std::string link = JoinPath(JoinPath(root, "bin"), a);
      if (a == "busybox" || PathExists(link) || PathExists(JoinPath(JoinPath(root, "usr/bin"), a)) ||
          PathExists(JoinPath(JoinPath(root, "usr/local/bin"), a))) {
        continue;  // a program of its own wins over the applet
      }
      if (symlink("busybox", link.c_str()) != 0) return ErrnoStatus(link, "symlink", errno);
      ++linked;
    }
    progress("/bin/busybox (" + std::to_string(linked) + " commands)");
  }
  for (const std::string& f : options.files) LOOM_RETURN_IF_ERROR(CopyInto(root, f, f));
  for (const ImageProgram& d : options.data) LOOM_RETURN_IF_ERROR(CopyInto(root, d.host_path, d.image_path));
  if (!options.data.empty()) progress(std::to_string(options.data.size()) + " data files");
  for (const char* dir : {"tmp", "var/tmp"}) {
    LOOM_RETURN_IF_ERROR(MakeDirs(JoinPath(root, dir)));
    if (chmod(JoinPath(root, dir).c_str(), 01777) != 0) return ErrnoStatus(JoinPath(root, dir), "chmod", errno);
  }
  LOOM_RETURN_IF_ERROR(WriteFileAtomic(JoinPath(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n"));
  LOOM_RETURN_IF_ERROR(WriteFileAtomic(JoinPath(root, "etc/group"), "root:x:0:\nnogroup:x:65534:\n"));

  auto run = [&](std::vector<std::string> args) -> StatusOr<std::string> {
    LOOM_ASSIGN_OR_RETURN(CommandResult r, RunCommand(args));
    if (r.exit_code != 0) return FailedPrecondition(args[0] + " " + args[1] + ": " + CommandError(r));
    std::string out = r.out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  };
  LOOM_ASSIGN_OR_RETURN(std::string container, run({options.buildah, "from", "scratch"}));
  auto build = [&]() -> StatusOr<std::string> {
    LOOM_RETURN_IF_ERROR(run({options.buildah, "copy", container, root, "/"}).status());
    std::vector<std::string> config = {options.buildah, "config"};
    for (const std::string& e : options.env) config.insert(config.end(), {"--env", e});
    config.insert(config.end(), {"--entrypoint", "[]", "--cmd", Json(options.cmd).dump(), container});
    LOOM_RETURN_IF_ERROR(run(config).status());
    return run({options.buildah, "commit", "--quiet", container, options.tag});
  };
  auto id = build();
  (void)RunCommand({options.buildah, "rm", container});
  if (id.ok()) progress(options.tag + " " + id->substr(0, 12));
  return id;
}

}  // namespace loom::container
