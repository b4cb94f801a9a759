// loom version / loom --version: what this binary is, printed as `argo version` prints itself
// (name: version, then indented Key: value lines), with the version of every library it runs on
// as that library reports it at run time. --short prints the first line only.
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "commands.h"
#include "core/libraries.h"
#include "data/libraries.h"
#include "net/libraries.h"
#include "nn/libraries.h"
#include "storage/libraries.h"
#include "train/libraries.h"
#include "version_info.h"
#ifdef LOOM_HAVE_WORKFLOW
#include "workflow/libraries.h"
#endif

namespace loom::cli {
namespace {

std::string Compiler() {
#if defined(__clang__)
  return "clang " __clang_version__;
#elif defined(__GNUC__)
  return "gcc " + std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__) + "." +
         std::to_string(__GNUC_PATCHLEVEL__);
#else
  return "unknown";
#endif
}

std::string Platform() {
#if defined(__x86_64__)
  return "linux/amd64";
#elif defined(__aarch64__)
  return "linux/arm64";
#else
  return "linux/unknown";
#endif
}

}  // namespace

int RunVersion(const Args& args) {
  bool short_form = false;
  FlagSet flags("loom version [flags]");
  flags.Bool("short", &short_form, "print the version only");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "version", &code)) return code;
  if (!positional.empty()) {
    fprintf(stderr, "loom version: unexpected argument \"%s\"\n", positional[0].c_str());
    return 2;
  }
  printf("loom: v%s\n", LOOM_VERSION);
  if (short_form) return 0;
  const std::vector<std::pair<const char*, std::string>> lines = {
      {"GitCommit", LOOM_GIT_COMMIT},
      {"GitTreeState", LOOM_GIT_TREE_STATE},
      {"BuildType", LOOM_BUILD_TYPE},
      {"Compiler", Compiler()},
      {"Platform", Platform()},
      {"oneDNN", nn::kernels::MathLibraryVersion()},
      {"gRPC", train::RpcLibraryVersion()},
      {"protobuf", train::ProtobufLibraryVersion()},
      {"libcurl", net::HttpClientLibraryVersion()},
      {"libmicrohttpd", net::HttpServerLibraryVersion()},
      {"nghttp2", net::Http2LibraryVersion()},
      {"OpenSSL", storage::CryptoLibraryVersion()},
      {"expat", storage::XmlLibraryVersion()},
#ifdef LOOM_HAVE_WORKFLOW
      {"SQLite", workflow::StoreLibraryVersion()},
      {"libarchive", workflow::ArchiveLibraryVersion()},
#endif
      {"libpng", PngLibraryVersion()},
      {"zlib", ZlibLibraryVersion()},
      {"JSON/YAML", JsonLibraryVersions()},
  };
  for (const auto& [key, value] : lines) printf("  %s: %s\n", key, value.c_str());
  return 0;
}

}  // namespace loom::cli
