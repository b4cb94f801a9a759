#include "net/listen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace loom::net {

StatusOr<TcpListener> ListenTcp(const std::string& address, int port, int socket_flags, const std::string& where) {
  if (port < 0 || port > 65535) return InvalidArgument(where + ": port must be in [0, 65535]");
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    addr_len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    addr_len = sizeof(sockaddr_in6);
  } else {
    return InvalidArgument(where + ": \"" + address + "\" is not an IPv4 or IPv6 address");
  }
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | socket_flags, 0);
  if (fd < 0) return ErrnoStatus(where, "socket", errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const char* step = nullptr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0) {
    step = "bind";
  } else if (listen(fd, 4096) != 0) {
    step = "listen";
  }
  if (step != nullptr) {
    const int err = errno;
    close(fd);
    return ErrnoStatus(where, step, err);
  }
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  TcpListener out;
  out.fd = fd;
  out.ipv6 = addr.ss_family == AF_INET6;
  out.port = out.ipv6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                      : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return out;
}

}  // namespace loom::net
