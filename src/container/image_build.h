// BuildImage: an image made offline with buildah from files of this machine, no base image and
// no registry: programs with the shared libraries `ldd` names for them, a static busybox for
// sh and the usual commands, CA certificates. `loom image build` makes loom:latest with it.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace loom::container {

struct ImageProgram {
  std::string host_path;   // e.g. the loom binary of this build
  std::string image_path;  // e.g. /usr/local/bin/loom
};

struct ImageBuildOptions {
  std::string tag = "localhost/loom:latest";
  std::vector<ImageProgram> programs;             // each with its shared libraries
  std::string busybox = "/bin/busybox";           // must be static; its applets linked in /bin
  std::vector<std::string> files = {"/etc/ssl/certs/ca-certificates.crt"};  // copied as they are
  std::vector<ImageProgram> data;                 // files copied to image_path as they are (no libraries)
  std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin"};
  std::vector<std::string> cmd;                   // the image's CMD (no ENTRYPOINT)
  std::string buildah = "buildah";
  std::string work_dir = "/tmp";                  // where the root file system is put together
};

// The shared libraries of a dynamically linked program and its loader (absolute paths, as ldd
// resolves them); empty for a static one.
StatusOr<std::vector<std::string>> SharedLibraries(const std::string& program);

// Builds and commits the image; returns its id. `progress` gets one line per step.
StatusOr<std::string> BuildImage(const ImageBuildOptions& options, const std::function<void(std::string_view)>& progress);

}  // namespace loom::container
