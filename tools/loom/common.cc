#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "commands.h"
#include "core/file.h"

#ifndef LOOM_SOURCE_DIR
#define LOOM_SOURCE_DIR "."
#endif

namespace loom::cli {

bool ParseFlagsOrExit(FlagSet& flags, const Args& args, std::vector<std::string>* positional,
                      const char* command, int* exit_code) {
  Status s = flags.Parse(args, positional);
  if (!s.ok()) {
    fprintf(stderr, "loom %s: %s\n", command, s.message().c_str());
    *exit_code = 2;
    return false;
  }
  if (flags.help_requested()) {
    std::cout << flags.Help();
    *exit_code = 0;
    return false;
  }
  return true;
}

int Fail(const char* command, const Status& status) {
  fprintf(stderr, "loom %s: %s\n", command, status.message().c_str());
  return 1;
}

std::string DefaultDataDir() {
  if (const char* env = std::getenv("LOOM_MNIST_DIR"); env != nullptr && *env != '\0') return env;
  return JoinPath(LOOM_SOURCE_DIR, "data/mnist");
}

}  // namespace loom::cli
