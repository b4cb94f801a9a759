// The third-party libraries src/net wraps, each with the version it reports at run time
// (`loom version`); each is defined in the one file that includes that library.
#pragma once

#include <string>

namespace loom::net {

// libcurl's (http_client.cc)
std::string HttpClientLibraryVersion();
// libmicrohttpd's (http_server.cc)
std::string HttpServerLibraryVersion();

}  // namespace loom::net
