// A tiny blocking HTTP/1.1 client over a raw socket, for tests that must control the bytes on
// the wire (slow clients, idle connections, huge bodies) and not depend on the libcurl client.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>
#include <string>

namespace loom::serving::testing {

struct RawResponse {
  int status = 0;  // 0: no response (connection closed or failed)
  std::string body;
};

// A connected socket to 127.0.0.1:port, or -1. Receives time out after 30 s so a broken
// server fails the test instead of hanging it.
inline int ConnectLocal(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

inline bool SendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads one response (status line, headers, Content-Length body) from fd.
inline RawResponse ReadResponse(int fd) {
  RawResponse r;
  std::string buf;
  char chunk[65536];
  size_t header_end = std::string::npos;
  size_t length = 0;
  while (true) {
    if (header_end == std::string::npos) {
      header_end = buf.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        std::string head = buf.substr(0, header_end);
        if (head.compare(0, 5, "HTTP/") != 0) return r;
        r.status = std::atoi(head.c_str() + head.find(' ') + 1);
        for (size_t p = 0; p != std::string::npos;) {
          size_t next = head.find("\r\n", p);
          std::string line = head.substr(p, next == std::string::npos ? next : next - p);
          if (strncasecmp(line.c_str(), "Content-Length:", 15) == 0)
            length = std::strtoul(line.c_str() + 15, nullptr, 10);
          p = next == std::string::npos ? next : next + 2;
        }
        header_end += 4;
      }
    }
    if (header_end != std::string::npos && buf.size() >= header_end + length) {
      r.body = buf.substr(header_end, length);
      return r;
    }
    ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      if (header_end == std::string::npos) r.status = 0;
      return r;
    }
    buf.append(chunk, static_cast<size_t>(n));
  }
}

inline std::string RequestText(const std::string& method, const std::string& path,
                               const std::string& body) {
  std::string text = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!body.empty() || method == "POST") {
    text += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\n";
  }
  return text + "\r\n" + body;
}

// One request on a fresh connection.
inline RawResponse Request(int port, const std::string& method, const std::string& path,
                           const std::string& body = "") {
  int fd = ConnectLocal(port);
  if (fd < 0) return {};
  RawResponse r;
  if (SendAll(fd, RequestText(method, path, body))) r = ReadResponse(fd);
  close(fd);
  return r;
}

}  // namespace loom::serving::testing
