// Paths built from request input (a run name, a job name, a replica log) must stay inside the
// directory the server serves them from. Everything that turns a URL part into a file name goes
// through here.
#pragma once

#include <string>

#include "core/status.h"

namespace loom::ui {

// True when `name` is one plain path component: not empty, not "." or "..", no '/', '\\' or NUL.
bool IsSafeName(const std::string& name);

// root/relative, where `relative` may have several components ("mnist/train") but none of them
// may be empty, ".", "..", absolute, or hold '\\' or NUL; and the real path of the result (after
// symlinks, when it exists) must still lie under the real path of root.
// InvalidArgument (-> 400) names `what` ("run") on a bad path; NotFound when it does not exist.
StatusOr<std::string> ResolveUnder(const std::string& root, const std::string& relative,
                                   const std::string& what);

}  // namespace loom::ui
