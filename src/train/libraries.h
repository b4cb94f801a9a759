// The third-party libraries src/train wraps, each with the version it reports at run time
// (`loom version`); each is defined in the one file that includes that library.
#pragma once

#include <string>

namespace loom::train {

// gRPC's (parameter_server.cc)
std::string RpcLibraryVersion();
// libprotobuf's, the one proto/'s messages were generated for (parameter_server.cc)
std::string ProtobufLibraryVersion();

}  // namespace loom::train
