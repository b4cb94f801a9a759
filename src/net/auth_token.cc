#include "net/auth_token.h"

#include <fcntl.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "core/file.h"

namespace loom::net {
namespace {

constexpr size_t kTokenBytes = 32;

bool IsHexToken(const std::string& token) {
  if (token.size() != 2 * kTokenBytes) return false;
  for (char c : token) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

StatusOr<std::string> NewToken() {
  unsigned char bytes[kTokenBytes];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("getrandom", "token", errno);
    got += static_cast<size_t>(n);
  }
  std::string hex;
  for (unsigned char b : bytes) {
    char digits[3];
    snprintf(digits, sizeof(digits), "%02x", b);
    hex += digits;
  }
  return hex;
}

}  // namespace

std::string TokenPath(const std::string& home) { return JoinPath(home, "server.token"); }

StatusOr<std::string> ReadToken(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound(path + ": no token (start loom server once to create it)");
    return ErrnoStatus(path, "open", errno);
  }
  struct stat st {};
  const bool stat_ok = fstat(fd, &st) == 0;
  close(fd);
  if (!stat_ok) return ErrnoStatus(path, "stat", errno);
  if (!S_ISREG(st.st_mode)) return InvalidArgument(path + ": the token is not a regular file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return PermissionDenied(path + ": mode " + mode +
                            ": a token others can read or write is refused (chmod 600 it, or remove it for a new one)");
  }
  LOOM_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (!IsHexToken(text))
    return InvalidArgument(path + ": not a token of " + std::to_string(2 * kTokenBytes) +
                           " hex digits (remove it for a new one)");
  return text;
}

StatusOr<std::string> LoadOrCreateToken(const std::string& path) {
  auto existing = ReadToken(path);
  if (existing.ok() || existing.status().code() != StatusCode::kNotFound) return existing;
  LOOM_ASSIGN_OR_RETURN(std::string token, NewToken());
  // Written whole under a temporary name, then linked into place: link fails when another
  // server made one meanwhile, and that one is used.
  const std::string tmp = TempPathFor(path);
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(tmp, "create", errno);
  const std::string line = token + "\n";
  const bool written = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && fsync(fd) == 0;
  const int write_errno = errno;
  close(fd);
  if (!written) {
    unlink(tmp.c_str());
    return ErrnoStatus(tmp, "write", write_errno);
  }
  const int linked = link(tmp.c_str(), path.c_str());
  const int link_errno = errno;
  unlink(tmp.c_str());
  if (linked != 0 && link_errno != EEXIST) return ErrnoStatus(path, "link", link_errno);
  (void)SyncDir(Dirname(path));
  return ReadToken(path);
}

bool TokenMatches(std::string_view presented, std::string_view expected) {
  if (expected.empty()) return false;
  // Every byte of `expected` is looked at whatever `presented` is: no early exit to time.
  unsigned char diff = presented.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    const unsigned char p = presented.empty() ? 0 : static_cast<unsigned char>(presented[i % presented.size()]);
    diff |= static_cast<unsigned char>(p ^ static_cast<unsigned char>(expected[i]));
  }
  return diff == 0;
}

std::string BearerToken(std::string_view authorization) {
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() <= kScheme.size() ||
      strncasecmp(authorization.data(), kScheme.data(), kScheme.size()) != 0)
    return "";
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return std::string(token);
}

}  // namespace loom::net
