// The third-party libraries src/net wraps, each with the version it reports at run time
// (`loom version`); each is defined in the one file that includes that library.
#pragma once

#include <string>

namespace loom::net {

// libcurl's (http_client.cc)
std::string HttpClientLibraryVersion();
// libmicrohttpd's (http_server.cc)
std::string HttpServerLibraryVersion();
// libnghttp2's (grpc_http2_server.cc)
std::string Http2LibraryVersion();

}  // namespace loom::net
