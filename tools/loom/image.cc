// loom image build: loom:latest made offline with buildah (no base image, no registry): this
// loom binary and its shared libraries, a static busybox for the script steps' sh and commands,
// curl (the serve step's readiness check), CA certificates, and MNIST's four files (where
// `loom train` and `loom eval` in the image find them by default, as a TFJob's replicas do).
// deploy/Dockerfile builds the same image where a registry is reachable.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "container/image_build.h"
#include "core/file.h"
#include "data/mnist.h"

namespace loom::cli {
namespace {

std::string Which(const std::string& name) {
  for (const char* dir : {"/usr/local/bin", "/usr/bin", "/bin"}) {
    const std::string p = JoinPath(dir, name);
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

int ImageBuild(const Args& args) {
  container::ImageBuildOptions options;
  options.tag = "localhost/loom:latest";
  std::string binary;
  FlagSet flags("loom image build [flags]");
  flags.String("tag", &options.tag, "the image's name (pods say image: loom:latest)");
  flags.String("binary", &binary, "the loom binary to put in it (default: this one)");
  flags.String("busybox", &options.busybox, "a static busybox for sh and the usual commands (busybox-static)");
  std::string mnist = DefaultDataDir();
  flags.String("mnist", &mnist, "MNIST's four IDX files to put in the image, where its loom train looks by default "
                                "($LOOM_MNIST_DIR, else the checkout's data/mnist; \"\": none)");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "image build", &code)) return code;
  if (!positional.empty()) return Fail("image build", InvalidArgument("unexpected argument \"" + positional[0] + "\""));
  if (binary.empty()) {
    char self[4096];
    const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) return Fail("image build", ErrnoStatus("/proc/self/exe", "readlink", errno));
    binary.assign(self, static_cast<size_t>(n));
  }
  options.programs.push_back({binary, "/usr/local/bin/loom"});
  const std::string curl = Which("curl");
  if (curl.empty()) return Fail("image build", FailedPrecondition("curl: not found (scripts/install_deps.sh installs it)"));
  options.programs.push_back({curl, "/usr/bin/curl"});
  options.env.push_back("LOOM_HOME=/var/lib/loom");
  if (!mnist.empty()) {
    const std::string in_image = "/usr/share/loom/mnist";
    for (const char* name : {kMnistTrainImages, kMnistTrainLabels, kMnistTestImages, kMnistTestLabels}) {
      auto file = FindMnistFile(mnist, name);
      if (!file.ok()) {
        return Fail("image build", file.status().WithPrefix("--mnist (scripts/fetch_mnist.sh fetches it; \"\" builds without)"));
      }
      options.data.push_back({*file, JoinPath(in_image, Basename(*file))});
    }
    options.env.push_back(std::string("LOOM_MNIST_DIR=") + in_image);
  }
  options.cmd = {"loom", "--help"};
  auto id = container::BuildImage(options, [](std::string_view line) { std::cerr << line << std::endl; });
  if (!id.ok()) return Fail("image build", id.status());
  std::cout << *id << std::endl;
  return 0;
}

}  // namespace

int RunImage(const Args& args) {
  const std::string usage = "usage: loom image build [--tag NAME] [--binary PATH] [--busybox PATH] [--mnist DIR]\n";
  if (!args.empty() && args[0] == "build") return ImageBuild(Args(args.begin() + 1, args.end()));
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    fputs(usage.c_str(), stdout);
    return 0;
  }
  fputs(usage.c_str(), stderr);
  return 2;
}

}  // namespace loom::cli
