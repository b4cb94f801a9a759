// A scripted HTTP/1.1 server on 127.0.0.1 for fault tests of the S3 client: each connection
// carries one request; the handler returns the raw bytes to write back (status line, headers,
// body, possibly cut short), and the connection is closed after them.
#pragma once

#include "loopback.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace loom::storage::testing {

class FakeHttpServer {
 public:
  // handler(request_head_and_body, index of the request) -> raw response bytes.
  using Handler = std::function<std::string(const std::string&, int)>;
  explicit FakeHttpServer(Handler handler) : handler_(std::move(handler)) {
    fd_ = ListenOnLoopback(&port_);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeHttpServer() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

  static std::string Response(int status, const std::string& reason, const std::vector<std::string>& headers,
                              const std::string& body, size_t content_length = std::string::npos) {
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
    for (const auto& h : headers) out += h + "\r\n";
    out += "Content-Length: " + std::to_string(content_length == std::string::npos ? body.size() : content_length) + "\r\n";
    out += "Connection: close\r\n\r\n" + body;
    return out;
  }

 private:
  void Serve() {
    while (!stop_) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string request;
      char buf[65536];
      size_t head_end = std::string::npos, need = 0;
      while (true) {
        ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0) break;
        request.append(buf, n);
        if (head_end == std::string::npos && (head_end = request.find("\r\n\r\n")) != std::string::npos) {
          size_t cl = request.find("Content-Length: ");
          if (cl == std::string::npos) cl = request.find("content-length: ");
          need = head_end + 4 + (cl != std::string::npos && cl < head_end ? std::atoll(request.c_str() + cl + 16) : 0);
        }
        if (head_end != std::string::npos && request.size() >= need) break;
      }
      int index;
      {
        std::lock_guard<std::mutex> lock(mu_);
        index = static_cast<int>(requests_.size());
        requests_.push_back(request);
      }
      std::string response = handler_(request, index);
      size_t off = 0;
      while (off < response.size()) {
        ssize_t n = write(c, response.data() + off, response.size() - off);
        if (n <= 0) break;
        off += n;
      }
      close(c);
    }
  }

  Handler handler_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

}  // namespace loom::storage::testing
