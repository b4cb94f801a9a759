// Processes of this machine, as /proc shows them.
#pragma once

namespace loom {

// Whether process `pid` runs: a zombie (ended, not yet reaped by a parent that is not the
// caller) does not.
bool ProcessRunning(int pid);

}  // namespace loom
