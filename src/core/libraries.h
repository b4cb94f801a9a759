// The third-party libraries src/core wraps, each with the version it reports at run time
// (`loom version`); each is defined in the one file that includes that library.
#pragma once

#include <string>

namespace loom {

// "nlohmann_json X.Y.Z, yaml-cpp X.Y.Z": the JSON and YAML libraries (json.cc)
std::string JsonLibraryVersions();

}  // namespace loom
