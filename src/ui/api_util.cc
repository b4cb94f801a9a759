#include "ui/api_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>

#include "serving/rest_api.h"

namespace loom::ui {

void SetJson(const Json& body, net::HttpServerResponse* response, int status) {
  response->status = status;
  response->content_type = "application/json";
  response->body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void SetError(const Status& status, net::HttpServerResponse* response) {
  SetJson({{"error", status.message()},
           {"code", static_cast<int>(status.code())},
           {"message", status.message()}},
          response, serving::HttpStatusFor(status.code()));
}

StatusOr<int64_t> QueryInt(const net::HttpServerRequest& request, const std::string& name,
                           int64_t fallback) {
  std::string text = request.Query(name);
  if (text.empty()) return fallback;
  int64_t value = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), value);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size())
    return InvalidArgument(name + ": \"" + text + "\" is not an integer");
  return value;
}

namespace {

// How many bytes at the end of `s` begin a UTF-8 character that does not finish in `s`.
size_t IncompleteUtf8Tail(const std::string& s) {
  size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    unsigned char c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

}  // namespace

StatusOr<Json> ReadLogPage(int64_t offset, int64_t limit, const LogReadFn& read) {
  limit = std::clamp<int64_t>(limit, 1, kMaxLogPage);
  int64_t total = 0;
  if (offset < 0) {
    LOOM_RETURN_IF_ERROR(read(0, 0, &total).status());
    offset = std::max<int64_t>(0, total + offset);
  }
  LOOM_ASSIGN_OR_RETURN(std::string content, read(offset, limit, &total));
  if (offset + static_cast<int64_t>(content.size()) < total) {
    content.resize(content.size() - IncompleteUtf8Tail(content));
  }
  int64_t next = offset + static_cast<int64_t>(content.size());
  return Json{{"content", std::move(content)},
              {"offset", offset},
              {"nextOffset", next},
              {"totalSize", total}};
}

StatusOr<std::string> ReadFileRange(const std::string& path, int64_t offset, int64_t limit,
                                    int64_t* total) {
  *total = 0;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::string();
    return ErrnoStatus(path, "open", errno);
  }
  struct stat st {};
  fstat(fd, &st);
  *total = st.st_size;
  std::string out;
  if (offset < *total && limit > 0) {
    out.resize(static_cast<size_t>(std::min<int64_t>(limit, *total - offset)));
    ssize_t got = pread(fd, out.data(), out.size(), offset);
    if (got < 0) {
      int err = errno;
      close(fd);
      return ErrnoStatus(path, "read", err);
    }
    out.resize(static_cast<size_t>(got));
  }
  close(fd);
  return out;
}

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

}  // namespace loom::ui
