#include "storage/dataset_cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <map>

#include "core/file.h"
#include "core/json.h"
#include "storage/hash.h"
#include "storage/partial_download.h"
#include "storage/store_url.h"

namespace loom::storage {
namespace {

constexpr char kManifest[] = ".loom-cache.json";
constexpr char kLock[] = ".loom-cache.lock";

struct Entry {
  std::string etag;
  int64_t size = 0;
  std::string sha256;
};

// Holds flock(LOCK_EX) on a file for its lifetime.
class DirLock {
 public:
  static StatusOr<DirLock> Acquire(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus(path, "open lock", errno);
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno != EINTR) {
        int err = errno;
        ::close(fd);
        return ErrnoStatus(path, "lock", err);
      }
    }
    return DirLock(fd);
  }
  DirLock(DirLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  ~DirLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }

 private:
  explicit DirLock(int fd) : fd_(fd) {}
  int fd_;
};

std::map<std::string, Entry> ReadManifest(const std::string& path) {
  std::map<std::string, Entry> out;
  auto text = ReadFile(path);
  if (!text.ok()) return out;
  auto json = ParseJson(*text, path);
  if (!json.ok() || !json->is_object() || !(*json)["objects"].is_object()) return out;  // unreadable: verify all again
  for (const auto& [key, v] : (*json)["objects"].items()) {
    if (!v.is_object()) continue;
    out[key] = Entry{v.value("etag", ""), v.value("size", int64_t{0}), v.value("sha256", "")};
  }
  return out;
}

Status WriteManifest(const std::string& path, const std::string& source, const std::map<std::string, Entry>& entries) {
  Json json;
  json["source"] = source;
  Json objects = Json::object();
  for (const auto& [key, e] : entries) objects[key] = {{"etag", e.etag}, {"size", e.size}, {"sha256", e.sha256}};
  json["objects"] = objects;
  return WriteFileAtomic(path, json.dump(1) + "\n");
}

// The path of `key` below the cache dir, or an error for a key that would leave it.
StatusOr<std::string> RelativePath(const std::string& key, const std::string& prefix) {
  std::string rel = key.substr(prefix.size());
  if (rel.empty()) rel = Basename(key);  // the prefix names one object
  while (!rel.empty() && rel[0] == '/') rel.erase(0, 1);
  size_t start = 0;
  while (start <= rel.size()) {
    size_t end = rel.find('/', start);
    if (end == std::string::npos) end = rel.size();
    std::string_view seg(rel.data() + start, end - start);
    if (seg.empty() || seg == "." || seg == ".." || seg == kManifest || seg == kLock ||
        PartialDownload::IsPartialName(std::string(seg)))
      return InvalidArgument("key \"" + key + "\": cannot be stored under the cache directory");
    start = end + 1;
  }
  return rel;
}

}  // namespace

StatusOr<CacheResult> CacheDataset(ObjectStore& store, const std::string& prefix, const CacheOptions& options) {
  if (options.dir.empty()) return InvalidArgument("cache: no directory given");
  LOOM_RETURN_IF_ERROR(MakeDirs(options.dir));
  LOOM_ASSIGN_OR_RETURN(DirLock lock, DirLock::Acquire(JoinPath(options.dir, kLock)));
  std::string manifest_path = JoinPath(options.dir, kManifest);
  std::map<std::string, Entry> manifest = ReadManifest(manifest_path);
  std::string source = store.Describe();
  source += (source.back() == '/' ? "" : "/") + prefix;

  LOOM_ASSIGN_OR_RETURN(std::vector<ObjectInfo> objects, store.ListAll(prefix));
  if (objects.empty()) return NotFound(source + ": no objects under this prefix");
  CacheResult result;
  std::map<std::string, Entry> next;
  Status status;
  for (const ObjectInfo& o : objects) {
    auto rel = RelativePath(o.key, prefix);
    if (!rel.ok()) {
      status = rel.status().WithPrefix(source);
      break;
    }
    std::string local = JoinPath(options.dir, *rel);
    ++result.objects;
    auto it = manifest.find(*rel);
    bool known = it != manifest.end() && it->second.etag == o.etag && it->second.size == o.size && PathExists(local);
    if (known) {
      auto sha = Sha256OfFile(local);
      if (sha.ok() && *sha == it->second.sha256) {
        next[*rel] = it->second;
        if (options.on_object) options.on_object(o.key, o.size, false);
        continue;
      }
      ++result.corrupt_refetched;  // the local copy changed under us: fetch it again
    }
    status = MakeDirs(Dirname(local));
    if (!status.ok()) break;
    GetOptions get;
    get.progress = options.progress;
    get.keep_partial = true;  // the next run resumes what a network failure left
    auto got = store.Get(o.key, local, get);
    if (!got.ok()) {
      status = got.status();
      break;
    }
    auto sha = Sha256OfFile(local);
    if (!sha.ok()) {
      status = sha.status();
      break;
    }
    next[*rel] = Entry{o.etag, o.size, *sha};
    ++result.downloaded;
    result.bytes_downloaded += o.size;
    if (options.on_object) options.on_object(o.key, o.size, true);
  }
  // Record what is verified even when a later object failed, so a rerun resumes.
  Status written = WriteManifest(manifest_path, source, next);
  LOOM_RETURN_IF_ERROR(status);
  LOOM_RETURN_IF_ERROR(written);
  return result;
}

StatusOr<std::string> LocalDataDir(const std::string& data_dir, const S3Options& s3_options,
                                   const std::string& cache_root, CacheResult* result) {
  if (data_dir.find("://") == std::string::npos) return data_dir;
  LOOM_ASSIGN_OR_RETURN(StoreUrl url, ParseStoreUrl(data_dir));
  LOOM_ASSIGN_OR_RETURN(std::unique_ptr<ObjectStore> store, OpenStore(url, s3_options));
  std::string prefix = url.key;
  if (!prefix.empty() && prefix.back() != '/') prefix += '/';
  std::string dir = JoinPath(cache_root, (url.scheme == StoreUrl::Scheme::kS3 ? url.bucket : std::string("file")) + "/" + prefix);
  LOOM_ASSIGN_OR_RETURN(CacheResult cached, CacheDataset(*store, prefix, {dir, nullptr, nullptr}));
  if (result) *result = cached;
  return dir;
}

}  // namespace loom::storage
