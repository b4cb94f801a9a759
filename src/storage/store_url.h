// Object store URLs: "s3://bucket/key", "file:///abs/path", or a plain local path.
// A file URL or plain path is a key in a FileStore rooted at "/", so every local file has a URL.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "storage/object_store.h"
#include "storage/s3_store.h"

namespace loom::storage {

struct StoreUrl {
  enum class Scheme { kFile, kS3 };
  Scheme scheme = Scheme::kFile;
  std::string bucket;  // s3 only
  std::string key;     // s3: the key (may be "" or end with '/'); file: the absolute path less its leading '/'
  // Back to text: "s3://bucket/key" or "file:///path".
  std::string ToString() const;
};

// Errors name the URL: `s3://: no bucket`, `ftp://x: unsupported scheme "ftp"`. Relative plain
// paths are made absolute against the working directory.
StatusOr<StoreUrl> ParseStoreUrl(const std::string& text);

// The store a URL lives in: FileStore("/") for files, S3Store(s3_options with the URL's bucket).
StatusOr<std::unique_ptr<ObjectStore>> OpenStore(const StoreUrl& url, const S3Options& s3_options);

}  // namespace loom::storage
