// The loom subcommands: each lives in its own file and turns flags into Options, then runs.
// Each returns the process exit code: 0 success, 1 failure, 2 bad usage.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/flags.h"
#include "core/status.h"

namespace loom::cli {

using Args = std::vector<std::string>;

int RunTrain(const Args& args);
int RunExport(const Args& args);
int RunEval(const Args& args);
int RunData(const Args& args);
int RunServe(const Args& args);
int RunPredict(const Args& args);
int RunJob(const Args& args);
int RunServer(const Args& args);  // server.cc, when src/ui is built

// Parses flags; on --help prints help and returns 0 through *exit_code; on error prints
// "loom <cmd>: <error>" and returns 2. Returns true when the command should go on.
bool ParseFlagsOrExit(FlagSet& flags, const Args& args, std::vector<std::string>* positional,
                      const char* command, int* exit_code);
// SIGTERM and SIGINT call on_signal (from one thread in sigwait) instead of killing: they are
// blocked in every thread, so a signal never lands in a compute thread's JIT-compiled math.
// Call before any thread starts (threads made later inherit the mask). In train.cc.
void WatchStopSignals(std::function<void()> on_signal);
// Prints "loom <cmd>: <status message>" to stderr and returns 1.
int Fail(const char* command, const Status& status);
// Where MNIST is unless --data_dir says otherwise: $LOOM_MNIST_DIR, else the directory that
// `make` fills (data/mnist in the source tree this binary was built from).
std::string DefaultDataDir();

}  // namespace loom::cli
