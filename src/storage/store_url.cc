#include "storage/store_url.h"

#include <unistd.h>

#include "core/file.h"
#include "storage/file_store.h"

namespace loom::storage {

std::string StoreUrl::ToString() const {
  if (scheme == Scheme::kS3) return "s3://" + bucket + "/" + key;
  return "file:///" + key;
}

StatusOr<StoreUrl> ParseStoreUrl(const std::string& text) {
  StoreUrl url;
  if (text.empty()) return InvalidArgument("empty URL or path");
  size_t sep = text.find("://");
  if (sep == std::string::npos) {
    std::string path = text;
    if (path[0] != '/') {
      char cwd[4096];
      if (!getcwd(cwd, sizeof cwd)) return Internal(text + ": cannot read the working directory");
      path = JoinPath(cwd, path);
    }
    url.key = path.substr(1);
    return url;
  }
  std::string scheme = text.substr(0, sep);
  std::string rest = text.substr(sep + 3);
  if (scheme == "s3") {
    url.scheme = StoreUrl::Scheme::kS3;
    size_t slash = rest.find('/');
    url.bucket = rest.substr(0, slash);
    if (url.bucket.empty()) return InvalidArgument(text + ": no bucket (want s3://bucket/key)");
    if (slash != std::string::npos) url.key = rest.substr(slash + 1);
    return url;
  }
  if (scheme == "file") {
    if (rest.empty() || rest[0] != '/')
      return InvalidArgument(text + ": a file URL needs an absolute path (file:///path)");
    url.key = rest.substr(1);
    return url;
  }
  return InvalidArgument(text + ": unsupported scheme \"" + scheme + "\" (want s3:// or file://)");
}

StatusOr<std::unique_ptr<ObjectStore>> OpenStore(const StoreUrl& url, const S3Options& s3_options) {
  if (url.scheme == StoreUrl::Scheme::kS3) {
    S3Options o = s3_options;
    o.bucket = url.bucket;
    LOOM_ASSIGN_OR_RETURN(auto store, S3Store::Create(o));
    return std::unique_ptr<ObjectStore>(std::move(store));
  }
  LOOM_ASSIGN_OR_RETURN(auto store, FileStore::Create({"/"}));
  return std::unique_ptr<ObjectStore>(std::move(store));
}

}  // namespace loom::storage
