// The third-party libraries src/workflow wraps, each with the version it reports at run time
// (`loom version`); each is defined in the one file that includes that library.
#pragma once

#include <string>

namespace loom::workflow {

// SQLite's (store.cc)
std::string StoreLibraryVersion();
// libarchive's (artifacts.cc: tgz artifacts)
std::string ArchiveLibraryVersion();

}  // namespace loom::workflow
