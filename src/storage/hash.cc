#include "storage/hash.h"
#include "storage/libraries.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>

namespace loom::storage {

Digest::Digest(Kind kind) : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), kind == Kind::kSha256 ? EVP_sha256() : EVP_md5(), nullptr);
}

Digest::~Digest() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Digest::Update(std::string_view data) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size());
}

std::string Digest::HexFinal() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), out, &n);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(out), n));
}

std::string Sha256Hex(std::string_view data) {
  Digest d(Digest::Kind::kSha256);
  d.Update(data);
  return d.HexFinal();
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &n);
  return std::string(reinterpret_cast<const char*>(out), n);
}

std::string HexEncode(std::string_view bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

namespace {

StatusOr<std::string> DigestOfFile(Digest::Kind kind, const std::string& path, int64_t offset, int64_t length) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(path, "open", errno);
  Digest d(kind);
  std::string buffer(1 << 20, '\0');
  int64_t done = 0;
  while (length < 0 || done < length) {
    size_t want = length < 0 ? buffer.size() : static_cast<size_t>(std::min<int64_t>(buffer.size(), length - done));
    ssize_t got = ::pread(fd, buffer.data(), want, offset + done);
    if (got < 0) {
      int err = errno;
      ::close(fd);
      return ErrnoStatus(path, "read", err);
    }
    if (got == 0) break;
    d.Update(std::string_view(buffer.data(), got));
    done += got;
  }
  ::close(fd);
  if (length >= 0 && done < length) return DataLoss(path + ": shorter than expected");
  return d.HexFinal();
}

}  // namespace

StatusOr<std::string> Sha256OfFile(const std::string& path, int64_t offset, int64_t length) {
  return DigestOfFile(Digest::Kind::kSha256, path, offset, length);
}

StatusOr<std::string> Md5OfFile(const std::string& path) { return DigestOfFile(Digest::Kind::kMd5, path, 0, -1); }

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

StatusOr<std::string> Base64Decode(std::string_view text, const std::string& field) {
  auto bad = [&] { return InvalidArgument(field + ": illegal base64 data"); };
  if (text.size() % 4 != 0) return bad();
  size_t padding = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '=') {
      if (i + 2 < text.size()) return bad();  // only the last two may pad
      ++padding;
    } else if (padding > 0 || !(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/')) {
      return bad();
    }
  }
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return bad();
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

}  // namespace loom::storage

namespace loom::storage {

std::string CryptoLibraryVersion() {
  return OpenSSL_version(OPENSSL_VERSION_STRING);
}

}  // namespace loom::storage
