// A TCP proxy on 127.0.0.1 in front of a real server that cuts the first connection after a
// number of response bytes, as if the server had died mid-download; later connections pass
// through. It records what clients sent, so a test can see the Range of the resumed request.
// With `freeze`, the first connection to pass that many response bytes (whichever it is) is not
// cut but goes silent (held open until the proxy goes away), so the client hangs mid-transfer
// until a test kills it; every other connection passes.
#pragma once

#include "loopback.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace loom::storage::testing {

class CuttingProxy {
 public:
  CuttingProxy(int upstream_port, size_t cut_after_bytes, bool freeze = false)
      : upstream_port_(upstream_port), cut_after_(cut_after_bytes), freeze_(freeze) {
    fd_ = ListenOnLoopback(&port_);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~CuttingProxy() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    acceptor_.join();
    for (auto& t : connections_) t.join();
  }
  int port() const { return port_; }
  int connections() const { return count_; }
  std::string client_bytes() {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_;
  }

 private:
  void Accept() {
    while (!stop_) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      int index = count_++;
      connections_.emplace_back([this, c, index] { Relay(c, index == 0 || freeze_ ? cut_after_ : SIZE_MAX); });
    }
  }
  void Relay(int client, size_t limit) {
    int server = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(upstream_port_);
    if (connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(client);
      close(server);
      return;
    }
    size_t down = 0;
    char buf[65536];
    pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
    while (!stop_) {
      if (poll(fds, 2, 200) < 0) break;
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = read(client, buf, sizeof buf);
        if (n <= 0) break;
        {
          std::lock_guard<std::mutex> lock(mu_);
          sent_.append(buf, n);
        }
        if (write(server, buf, n) != n) break;
      }
      if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = read(server, buf, sizeof buf);
        if (n <= 0) break;
        size_t pass = std::min<size_t>(n, limit - down);
        if (pass > 0 && write(client, buf, pass) != static_cast<ssize_t>(pass)) break;
        down += pass;
        if (down >= limit) {  // the "server" dies here, or hangs
          if (freeze_ && frozen_.exchange(true)) {  // another connection hangs already: this one passes
            limit = SIZE_MAX;
            size_t rest = static_cast<size_t>(n) - pass;
            if (rest > 0 && write(client, buf + pass, rest) != static_cast<ssize_t>(rest)) break;
            down += rest;
            continue;
          }
          while (freeze_ && !stop_) usleep(20000);
          break;
        }
      }
    }
    close(client);
    close(server);
  }

  int upstream_port_;
  size_t cut_after_;
  bool freeze_;
  std::atomic<bool> frozen_{false};
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> count_{0};
  std::mutex mu_;
  std::string sent_;
  std::thread acceptor_;
  std::vector<std::thread> connections_;
};

}  // namespace loom::storage::testing
