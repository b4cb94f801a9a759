#include "workflow/artifacts.h"
#include "workflow/libraries.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>

#include "core/file.h"
#include "net/http_client.h"
#include "storage/file_store.h"
#include "storage/s3_store.h"

namespace loom::workflow {
namespace {

using storage::ObjectStore;

// The store an artifact location names, and the key in it.
struct Location {
  std::unique_ptr<ObjectStore> store;
  std::string key;
  std::string describe;  // "s3://bucket/key" or "artifact repository key"
};

StatusOr<Location> OpenLocation(const S3Location& s3, const std::string& key, const ArtifactOptions& options,
                                const std::string& field) {
  Location loc;
  loc.key = key;
  const std::string& bucket = s3.bucket;
  if (bucket.empty()) {
    if (options.repository_dir.empty()) {
      return FailedPrecondition(field + ": no bucket and no default artifact repository");
    }
    LOOM_RETURN_IF_ERROR(MakeDirs(options.repository_dir));
    LOOM_ASSIGN_OR_RETURN(loc.store, storage::FileStore::Create({options.repository_dir}));
    loc.describe = "artifact repository " + options.repository_dir + " key " + key;
    return loc;
  }
  storage::S3Options s3_options = options.s3;
  s3_options.bucket = bucket;
  std::string endpoint = s3.endpoint;
  if (!endpoint.empty()) {
    if (endpoint.find("://") == std::string::npos) endpoint = (s3.insecure ? "http://" : "https://") + endpoint;
    s3_options.endpoint = endpoint;
    s3_options.addressing = storage::S3Options::Addressing::kPath;
  }
  if (!s3.region.empty()) s3_options.region = s3.region;
  auto store = storage::S3Store::Create(s3_options);
  if (!store.ok()) return store.status().WithPrefix(field);
  loc.store = std::move(store).value();
  loc.describe = "s3://" + bucket + "/" + key;
  return loc;
}

Status CopyData(struct archive* in, struct archive* out, const std::string& what) {
  const void* buf;
  size_t size;
  la_int64_t offset;
  for (;;) {
    int r = archive_read_data_block(in, &buf, &size, &offset);
    if (r == ARCHIVE_EOF) return OkStatus();
    if (r < ARCHIVE_OK) return DataLoss(what + ": " + archive_error_string(in));
    if (archive_write_data_block(out, buf, size, offset) < ARCHIVE_OK) {
      return Internal(what + ": " + archive_error_string(out));
    }
  }
}

// Adds `path` (and, for a directory, everything under it) as `name` to the archive.
Status AddToArchive(struct archive* a, const std::string& path, const std::string& name) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return ErrnoStatus(path, "stat", errno);
  std::unique_ptr<archive_entry, void (*)(archive_entry*)> entry(archive_entry_new(), archive_entry_free);
  archive_entry_copy_stat(entry.get(), &st);
  archive_entry_set_pathname(entry.get(), name.c_str());
  if (S_ISLNK(st.st_mode)) {
    char target[4096];
    ssize_t n = readlink(path.c_str(), target, sizeof(target) - 1);
    if (n < 0) return ErrnoStatus(path, "readlink", errno);
    target[n] = '\0';
    archive_entry_set_symlink(entry.get(), target);
  }
  if (archive_write_header(a, entry.get()) < ARCHIVE_OK) {
    return Internal(path + ": tar: " + archive_error_string(a));
  }
  if (S_ISREG(st.st_mode)) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(path, "open", errno);
    char buf[1 << 16];
    for (;;) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n < 0) {
        int err = errno;
        close(fd);
        return ErrnoStatus(path, "read", err);
      }
      if (n == 0) break;
      if (archive_write_data(a, buf, static_cast<size_t>(n)) < 0) {
        close(fd);
        return Internal(path + ": tar: " + archive_error_string(a));
      }
    }
    close(fd);
  } else if (S_ISDIR(st.st_mode)) {
    LOOM_ASSIGN_OR_RETURN(auto names, ListDir(path));
    for (const std::string& child : names) {
      LOOM_RETURN_IF_ERROR(AddToArchive(a, JoinPath(path, child), name + "/" + child));
    }
  }
  return OkStatus();
}

// Every regular file under `dir`, as paths relative to it.
Status ListFiles(const std::string& dir, const std::string& prefix, std::vector<std::string>* out) {
  LOOM_ASSIGN_OR_RETURN(auto names, ListDir(JoinPath(dir, prefix)));
  for (const std::string& n : names) {
    const std::string rel = prefix.empty() ? n : prefix + "/" + n;
    if (IsDirectory(JoinPath(dir, rel))) {
      LOOM_RETURN_IF_ERROR(ListFiles(dir, rel, out));
    } else {
      out->push_back(rel);
    }
  }
  return OkStatus();
}

// Moves the downloaded object at `tmp` into place at `dest`, unpacking it if it is a tarball
// (Argo's archives hold one top-level entry, the path's base name).
Status PlaceDownload(const std::string& tmp, const std::string& dest, const std::string& field) {
  if (!LooksLikeTarball(tmp)) {
    if (rename(tmp.c_str(), dest.c_str()) != 0) return ErrnoStatus(dest, "rename", errno);
    return OkStatus();
  }
  const std::string unpack = TempPathFor(dest);
  Status s = ExtractTar(tmp, unpack);
  (void)RemoveAll(tmp);
  if (!s.ok()) {
    (void)RemoveAll(unpack);
    return s.WithPrefix(field);
  }
  auto entries = ListDir(unpack);
  if (!entries.ok() || entries->size() != 1) {
    (void)RemoveAll(unpack);
    return DataLoss(field + ": the archive holds " + std::to_string(entries.ok() ? entries->size() : 0) +
                    " top-level entries, expected one");
  }
  (void)RemoveAll(dest);
  if (rename(JoinPath(unpack, (*entries)[0]).c_str(), dest.c_str()) != 0) {
    int err = errno;
    (void)RemoveAll(unpack);
    return ErrnoStatus(dest, "rename", err);
  }
  return RemoveAll(unpack);
}

}  // namespace

bool LooksLikeTarball(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  unsigned char head[512];
  ssize_t n = pread(fd, head, sizeof(head), 0);
  close(fd);
  if (n >= 2 && head[0] == 0x1f && head[1] == 0x8b) return true;
  return n == 512 && std::memcmp(head + 257, "ustar", 5) == 0;
}

Status WriteTgz(const std::string& src, const std::string& entry_name, const std::string& tgz_path) {
  const std::string tmp = TempPathFor(tgz_path);
  std::unique_ptr<struct archive, int (*)(struct archive*)> a(archive_write_new(), archive_write_free);
  archive_write_add_filter_gzip(a.get());
  archive_write_set_format_pax_restricted(a.get());
  if (archive_write_open_filename(a.get(), tmp.c_str()) != ARCHIVE_OK) {
    return Internal(tgz_path + ": " + archive_error_string(a.get()));
  }
  Status s = AddToArchive(a.get(), src, entry_name);
  if (archive_write_close(a.get()) != ARCHIVE_OK && s.ok()) {
    s = Internal(tgz_path + ": " + archive_error_string(a.get()));
  }
  if (s.ok() && rename(tmp.c_str(), tgz_path.c_str()) != 0) s = ErrnoStatus(tgz_path, "rename", errno);
  if (!s.ok()) unlink(tmp.c_str());
  return s;
}

namespace {

// True when the relative path `name` (a tar member, a key under a prefix) names something
// inside the directory it is joined to: not empty, not absolute, no ".." component.
bool StaysInside(const std::string& name) {
  if (name.empty() || name[0] == '/') return false;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    if (name.compare(start, end - start, "..") == 0 && end - start == 2) return false;
    start = end + 1;
  }
  return true;
}

}  // namespace

Status ExtractTar(const std::string& archive_path, const std::string& dir) {
  LOOM_RETURN_IF_ERROR(MakeDirs(dir));
  std::unique_ptr<struct archive, int (*)(struct archive*)> in(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(in.get());
  archive_read_support_format_tar(in.get());
  if (archive_read_open_filename(in.get(), archive_path.c_str(), 1 << 16) != ARCHIVE_OK) {
    return DataLoss(archive_path + ": " + archive_error_string(in.get()));
  }
  std::unique_ptr<struct archive, int (*)(struct archive*)> out(archive_write_disk_new(), archive_write_free);
  archive_write_disk_set_options(out.get(), ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                                ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                                ARCHIVE_EXTRACT_SECURE_SYMLINKS);
  archive_write_disk_set_standard_lookup(out.get());
  for (;;) {
    struct archive_entry* entry;
    int r = archive_read_next_header(in.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return DataLoss(archive_path + ": " + archive_error_string(in.get()));
    const std::string name = archive_entry_pathname(entry);
    if (!StaysInside(name)) {
      return DataLoss(archive_path + ": entry \"" + name + "\" would land outside " + dir);
    }
    const std::string target = JoinPath(dir, name);
    archive_entry_set_pathname(entry, target.c_str());
    if (archive_write_header(out.get(), entry) < ARCHIVE_OK) {
      return Internal(target + ": " + archive_error_string(out.get()));
    }
    if (archive_entry_size(entry) > 0) LOOM_RETURN_IF_ERROR(CopyData(in.get(), out.get(), archive_path));
    if (archive_write_finish_entry(out.get()) < ARCHIVE_OK) {
      return Internal(target + ": " + archive_error_string(out.get()));
    }
  }
  return OkStatus();
}

Status LoadArtifact(const Artifact& artifact, const std::string& dest, const ArtifactOptions& options,
                    const std::string& field) {
  LOOM_RETURN_IF_ERROR(MakeDirs(Dirname(dest)));
  const ArtifactLocation& location = artifact.location;
  if (location.raw) return WriteFileAtomic(dest, *location.raw);
  if (location.http) {
    const std::string& url = location.http->url;
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
      return InvalidArgument(field + ".http.url: expected an http:// or https:// URL");
    }
    auto client = net::HttpClient::Create({});
    if (!client.ok()) return client.status().WithPrefix(field);
    const std::string tmp = TempPathFor(dest);
    LOOM_ASSIGN_OR_RETURN(AtomicFileWriter writer, AtomicFileWriter::Open(tmp));
    Status write_status;
    net::HttpRequest request;
    request.url = url;
    request.on_body = [&](std::string_view chunk) {
      write_status = writer.Append(chunk);
      return write_status.ok();
    };
    auto response = (*client)->Send(request);
    if (!response.ok()) return response.status().WithPrefix(field + ": " + url);
    LOOM_RETURN_IF_ERROR(write_status);
    if (response->status != 200) {
      const std::string message = field + ": " + url + ": HTTP " + std::to_string(response->status);
      return response->status == 404 ? NotFound(message) : Unavailable(message);
    }
    LOOM_RETURN_IF_ERROR(writer.Commit());
    return PlaceDownload(tmp, dest, field);
  }
  if (!location.s3) {
    if (artifact.optional) return OkStatus();
    if (location.UnsupportedSource()) {
      return Unimplemented(field + ": only s3, http, raw and the local artifact repository are supported on one machine");
    }
    return InvalidArgument(field + ": no artifact source (s3, raw) and not optional");
  }
  const S3Location& s3 = *location.s3;
  const std::string& key = s3.key;
  if (key.empty()) return InvalidArgument(field + ".s3.key: empty");
  LOOM_ASSIGN_OR_RETURN(Location loc, OpenLocation(s3, key, options, field));
  auto head = loc.store->Head(key);
  if (head.ok()) {
    const std::string tmp = TempPathFor(dest);
    auto got = loc.store->Get(key, tmp, {});
    if (!got.ok()) return got.status().WithPrefix(field + ": " + loc.describe);
    return PlaceDownload(tmp, dest, field);
  }
  if (head.status().code() != StatusCode::kNotFound) return head.status().WithPrefix(field + ": " + loc.describe);
  // Not an object: a directory stored with archive none is one object per file under key/.
  const std::string prefix = key.back() == '/' ? key : key + "/";
  LOOM_ASSIGN_OR_RETURN(auto objects, loc.store->ListAll(prefix));
  if (objects.empty()) {
    if (artifact.optional) return OkStatus();
    return NotFound(field + ": " + loc.describe + ": no such artifact");
  }
  for (const auto& object : objects) {
    // A key is any text to S3: "dir/../../x" must not climb out of dest.
    if (!StaysInside(object.key.substr(prefix.size())))
      return DataLoss(field + ": " + loc.describe + ": object \"" + object.key + "\" would land outside " + dest);
    const std::string path = JoinPath(dest, object.key.substr(prefix.size()));
    LOOM_RETURN_IF_ERROR(MakeDirs(Dirname(path)));
    auto got = loc.store->Get(object.key, path, {});
    if (!got.ok()) return got.status().WithPrefix(field + ": " + loc.describe);
  }
  return OkStatus();
}

Status AppendToKey(Artifact* artifact, const std::string& sub_path, const std::string& field) {
  std::optional<S3Location>& s3 = artifact->location.s3;
  if (!s3 || s3->key.empty()) {
    return InvalidArgument(field + ".subPath: the artifact has no key to append \"" + sub_path +
                           "\" to (only s3 artifacts and the default artifact repository's have one)");
  }
  // path.Join: the two joined by one slash, then "", "." and ".." segments cleaned.
  std::vector<std::string> parts;
  const std::string joined = s3->key + "/" + sub_path;
  const bool rooted = joined[0] == '/';
  for (size_t at = 0; at <= joined.size();) {
    size_t end = joined.find('/', at);
    if (end == std::string::npos) end = joined.size();
    const std::string seg = joined.substr(at, end - at);
    if (seg == "..") {
      if (!parts.empty() && parts.back() != "..") {
        parts.pop_back();
      } else if (!rooted) {
        parts.push_back(seg);
      }
    } else if (!seg.empty() && seg != ".") {
      parts.push_back(seg);
    }
    at = end + 1;
  }
  std::string key = rooted ? "/" : "";
  for (size_t i = 0; i < parts.size(); ++i) key += (i > 0 ? "/" : "") + parts[i];
  s3->key = key.empty() ? "." : key;
  return OkStatus();
}

StatusOr<Artifact> SaveArtifact(const Artifact& artifact, const std::string& src, const std::string& default_key,
                                const ArtifactOptions& options, const std::string& field) {
  Artifact saved = artifact;
  S3Location s3 = artifact.location.s3.value_or(S3Location());
  const bool archive_none = artifact.location.ArchiveNone();
  std::string key = s3.key;
  if (key.empty()) {
    key = default_key;
    if (archive_none && key.size() > 4 && key.compare(key.size() - 4, 4, ".tgz") == 0) {
      key.resize(key.size() - 4);
    }
  }
  LOOM_ASSIGN_OR_RETURN(Location loc, OpenLocation(s3, key, options, field));
  if (!archive_none) {
    const std::string tgz = TempPathFor(src.back() == '/' ? src.substr(0, src.size() - 1) : src) + ".tgz";
    Status s = WriteTgz(src, Basename(src), tgz);
    if (s.ok()) {
      auto put = loc.store->Put(key, tgz, {});
      if (!put.ok()) s = put.status().WithPrefix(field + ": " + loc.describe);
    }
    unlink(tgz.c_str());
    LOOM_RETURN_IF_ERROR(s);
  } else if (IsDirectory(src)) {
    std::vector<std::string> files;
    LOOM_RETURN_IF_ERROR(ListFiles(src, "", &files));
    // A directory's files go under the key as a folder ("parts/" as "parts").
    const std::string folder = key.empty() || key.back() == '/' ? key : key + "/";
    for (const std::string& rel : files) {
      auto put = loc.store->Put(folder + rel, JoinPath(src, rel), {});
      if (!put.ok()) return put.status().WithPrefix(field + ": " + loc.describe);
    }
  } else {
    auto put = loc.store->Put(key, src, {});
    if (!put.ok()) return put.status().WithPrefix(field + ": " + loc.describe);
  }
  s3.key = key;
  saved.location.s3 = std::move(s3);
  return saved;
}

}  // namespace loom::workflow

namespace loom::workflow {

std::string ArchiveLibraryVersion() {
  std::string v = archive_version_string();  // "libarchive 3.6.2"
  const size_t space = v.rfind(' ');
  return space == std::string::npos ? v : v.substr(space + 1);
}

}  // namespace loom::workflow
