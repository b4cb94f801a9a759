// RunCommand: a program run to its end with its output streamed or kept, for the container
// tools this module drives (podman, buildah) and nothing else.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace loom::container {

struct CommandResult {
  int exit_code = -1;    // or 128 + the signal that ended it
  std::string out, err;  // what was not streamed
};

// Runs args (args[0] looked up in PATH) with this process's environment and stdin from
// /dev/null. stdout/stderr go to `output` (stream 1 or 2) as they come when it is given, else
// are kept in the result; `tick` is called about every 50 ms while it runs.
StatusOr<CommandResult> RunCommand(const std::vector<std::string>& args,
                                   const std::function<void(int stream, std::string_view bytes)>& output = nullptr,
                                   const std::function<void()>& tick = nullptr);

// The tool's own words for a failure: its stderr (else stdout) trimmed, without podman's and
// buildah's "Error: " prefix.
std::string CommandError(const CommandResult& r);

}  // namespace loom::container
