// The third-party libraries src/data wraps, each with the version it reports at run time
// (`loom version`); each is defined in the one file that includes that library.
#pragma once

#include <string>

namespace loom {

// zlib's (idx.cc: gzip IDX files)
std::string ZlibLibraryVersion();
// libpng's (png.cc)
std::string PngLibraryVersion();

}  // namespace loom
