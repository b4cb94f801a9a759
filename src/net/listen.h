// The listening TCP socket both servers of this module start from (http_server.cc,
// grpc_http2_server.cc): bound to an address literal, SO_REUSEADDR, a deep backlog.
#pragma once

#include <string>

#include "core/status.h"

namespace loom::net {

struct TcpListener {
  int fd = -1;
  int port = 0;       // the port bound (port 0 picks one)
  bool ipv6 = false;
};

// Binds address (an IPv4 or IPv6 literal) and port and listens; `socket_flags` are added to
// socket()'s type (SOCK_NONBLOCK, ...), SOCK_CLOEXEC always. Errors start with `where`:
// "127.0.0.1:8501: bind: Address already in use".
StatusOr<TcpListener> ListenTcp(const std::string& address, int port, int socket_flags, const std::string& where);

}  // namespace loom::net
