// AWS Signature Version 4 (header-signed requests), written from the AWS spec and checked
// against its published test suite (tests/storage/sigv4_cases). Pure functions, no I/O.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace loom::storage {

struct SigV4Credentials {
  std::string access_key;  // may contain ':' (Swift tempauth's "account:user")
  std::string secret_key;
};

struct SigV4Request {
  std::string method;
  // The path as sent, already percent-encoded once ("/bucket/a%20b"); S3 does not encode it again.
  std::string path;
  // Query parameters, raw (not yet encoded); canonical form sorts them by encoded name, then value.
  std::vector<std::pair<std::string, std::string>> query;
  // Headers to sign, any case; must include host and x-amz-date. Duplicates are joined with ','.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string payload_sha256;  // hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
};

struct SigV4Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "host;x-amz-date"
  std::string authorization;   // the Authorization header's value
};

// amz_date is "YYYYMMDDTHHMMSSZ"; the scope's date is its first 8 characters.
SigV4Signature SignV4(const SigV4Request& request, const SigV4Credentials& credentials,
                      const std::string& region, const std::string& service, const std::string& amz_date);

// The query string as sent and signed: "a=1&b=x%20y" (sorted, encoded).
std::string CanonicalQueryString(const std::vector<std::pair<std::string, std::string>>& query);

}  // namespace loom::storage
