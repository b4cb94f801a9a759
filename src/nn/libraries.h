// The third-party libraries src/nn wraps, each with the version it reports at run time
// (`loom version`); each is defined in the one file that includes that library.
#pragma once

#include <string>

namespace loom::nn::kernels {

// oneDNN's version, and its commit when the build recorded one (kernels.cc)
std::string MathLibraryVersion();

}  // namespace loom::nn::kernels
