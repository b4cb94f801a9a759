// The third-party libraries src/storage wraps, each with the version it reports at run time
// (`loom version`); each is defined in the one file that includes that library.
#pragma once

#include <string>

namespace loom::storage {

// OpenSSL's (hash.cc: SigV4, SHA-256, MD5)
std::string CryptoLibraryVersion();
// expat's (s3_xml.cc: S3's XML answers)
std::string XmlLibraryVersion();

}  // namespace loom::storage
