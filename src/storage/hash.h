// Digests the object store needs (OpenSSL behind them): SHA-256 for SigV4 and payload hashes, MD5
// to check a download against a single-part S3 ETag, HMAC-SHA256 for the signing key; and
// base64 (RFC 4648, padded), as Kubernetes Secrets keep their data.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace loom::storage {

// An incremental digest. Not thread-safe.
class Digest {
 public:
  enum class Kind { kSha256, kMd5 };
  explicit Digest(Kind kind);
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;
  void Update(std::string_view data);
  // Lowercase hex of the digest; the Digest is finished after this.
  std::string HexFinal();

 private:
  void* ctx_;  // EVP_MD_CTX*
};

std::string Sha256Hex(std::string_view data);
// Raw 32-byte HMAC-SHA256 of data under key.
std::string HmacSha256(std::string_view key, std::string_view data);
std::string HexEncode(std::string_view bytes);
std::string Base64Encode(std::string_view bytes);
// Strict: the standard alphabet, padded to a multiple of 4, no whitespace; else InvalidArgument
// naming `field`.
StatusOr<std::string> Base64Decode(std::string_view text, const std::string& field);
// SHA-256 (lowercase hex) of the whole file, or of length bytes at offset.
StatusOr<std::string> Sha256OfFile(const std::string& path, int64_t offset = 0, int64_t length = -1);
// MD5 (lowercase hex) of the whole file: S3's ETag of a single-part object.
StatusOr<std::string> Md5OfFile(const std::string& path);

}  // namespace loom::storage
