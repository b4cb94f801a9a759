#include "storage/file_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <regex>

#include "core/file.h"
#include "storage/partial_download.h"

namespace loom::storage {
namespace {

std::string EtagOf(const struct stat& st) {
  int64_t ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return std::to_string(ns) + "-" + std::to_string(st.st_size);
}

// core/file.h's TempPathFor names: "<name>.tmp.<pid>.<n>".
bool IsTemporary(const std::string& name) {
  static const std::regex kTemp(R"(.*\.tmp\.[0-9]+\.[0-9]+$)");
  return std::regex_match(name, kTemp);
}

// Appends every regular file under dir (recursively) as a key "<rel>/<name>".
Status Walk(const std::string& dir, const std::string& rel, std::vector<ObjectInfo>* out) {
  auto names = ListDir(dir);
  if (!names.ok()) {
    if (names.status().code() == StatusCode::kNotFound) return OkStatus();
    return names.status();
  }
  for (const std::string& name : *names) {
    if (IsTemporary(name) || PartialDownload::IsPartialName(name)) continue;
    std::string path = JoinPath(dir, name);
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) continue;  // removed meanwhile
    std::string key = rel.empty() ? name : rel + "/" + name;
    if (S_ISDIR(st.st_mode)) {
      LOOM_RETURN_IF_ERROR(Walk(path, key, out));
    } else if (S_ISREG(st.st_mode)) {
      out->push_back({key, static_cast<int64_t>(st.st_size), EtagOf(st)});
    }
  }
  return OkStatus();
}

}  // namespace

Status CopyFileAtomic(const std::string& from, int64_t offset, int64_t length, const std::string& to,
                      const ProgressFn& progress) {
  int fd = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(from, "open", errno);
  struct Closer { int fd; ~Closer() { ::close(fd); } } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus(from, "stat", errno);
  if (S_ISDIR(st.st_mode)) return InvalidArgument(from + ": is a directory");
  int64_t size = st.st_size;
  if (offset > size) return OutOfRange(from + ": offset " + std::to_string(offset) + " is past the end (" + std::to_string(size) + " bytes)");
  int64_t total = length < 0 ? size - offset : std::min(length, size - offset);
  LOOM_ASSIGN_OR_RETURN(AtomicFileWriter writer, AtomicFileWriter::Open(to));
  std::string buffer(1 << 20, '\0');
  int64_t done = 0;
  while (done < total) {
    size_t want = static_cast<size_t>(std::min<int64_t>(buffer.size(), total - done));
    ssize_t got = ::pread(fd, buffer.data(), want, offset + done);
    if (got < 0) return ErrnoStatus(from, "read", errno);
    if (got == 0) return DataLoss(from + ": shrank while being copied");
    LOOM_RETURN_IF_ERROR(writer.Append(std::string_view(buffer.data(), got)));
    done += got;
    if (progress) progress(done, total);
  }
  return writer.Commit();
}

StatusOr<std::unique_ptr<FileStore>> FileStore::Create(const FileStoreOptions& options) {
  if (options.root.empty()) return InvalidArgument("file store: root directory not set");
  if (!IsDirectory(options.root)) return NotFound(options.root + ": not a directory");
  std::string root = options.root;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  return std::unique_ptr<FileStore>(new FileStore(root));
}

StatusOr<std::string> FileStore::PathOf(const std::string& key) const {
  if (key.empty()) return InvalidArgument(Describe() + ": empty key");
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string::npos) end = key.size();
    std::string_view seg(key.data() + start, end - start);
    if (seg.empty() || seg == "." || seg == "..")
      return InvalidArgument(Describe() + ": key \"" + key + "\" has an empty, \".\" or \"..\" segment");
    start = end + 1;
  }
  return root_ == "/" ? "/" + key : root_ + "/" + key;
}

StatusOr<ObjectInfo> FileStore::Head(const std::string& key) {
  LOOM_ASSIGN_OR_RETURN(std::string path, PathOf(key));
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return NotFound(path + ": no such object");
  return ObjectInfo{key, static_cast<int64_t>(st.st_size), EtagOf(st)};
}

StatusOr<ObjectInfo> FileStore::Get(const std::string& key, const std::string& path, const GetOptions& options) {
  LOOM_ASSIGN_OR_RETURN(ObjectInfo info, Head(key));
  LOOM_ASSIGN_OR_RETURN(std::string from, PathOf(key));
  LOOM_RETURN_IF_ERROR(CopyFileAtomic(from, options.offset, options.length, path, options.progress));
  return info;
}

StatusOr<ObjectInfo> FileStore::Put(const std::string& key, const std::string& path, const PutOptions& options) {
  LOOM_ASSIGN_OR_RETURN(std::string to, PathOf(key));
  LOOM_RETURN_IF_ERROR(MakeDirs(Dirname(to)));
  LOOM_RETURN_IF_ERROR(CopyFileAtomic(path, 0, -1, to, options.progress));
  return Head(key);
}

Status FileStore::Delete(const std::string& key) {
  LOOM_ASSIGN_OR_RETURN(std::string path, PathOf(key));
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus(path, "delete", errno);
  return OkStatus();
}

StatusOr<ListPage> FileStore::List(const ListOptions& options) {
  if (options.max_keys < 1 || options.max_keys > 1000)
    return InvalidArgument(Describe() + ": max_keys " + std::to_string(options.max_keys) + " is not in 1..1000");
  // Walk only the directory the prefix names up to its last '/'.
  std::string dir_rel = options.prefix.substr(0, options.prefix.rfind('/') == std::string::npos ? 0 : options.prefix.rfind('/'));
  std::string dir = dir_rel.empty() ? root_ : (root_ == "/" ? "/" + dir_rel : root_ + "/" + dir_rel);
  std::vector<ObjectInfo> all;
  LOOM_RETURN_IF_ERROR(Walk(dir, dir_rel, &all));
  std::sort(all.begin(), all.end(), [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  // One sorted stream of entries (objects and rolled-up prefixes); the token is the last one returned.
  ListPage page;
  int count = 0;
  std::string last;
  for (const ObjectInfo& o : all) {
    if (o.key.compare(0, options.prefix.size(), options.prefix) != 0) continue;
    std::string entry = o.key;
    bool is_prefix = false;
    if (!options.delimiter.empty()) {
      size_t d = o.key.find(options.delimiter, options.prefix.size());
      if (d != std::string::npos) {
        entry = o.key.substr(0, d + options.delimiter.size());
        is_prefix = true;
      }
    }
    if (!options.continuation_token.empty() && entry <= options.continuation_token) continue;
    if (is_prefix && !page.common_prefixes.empty() && page.common_prefixes.back() == entry) continue;
    if (count == options.max_keys) {
      page.next_token = last;
      break;
    }
    if (is_prefix) page.common_prefixes.push_back(entry);
    else page.objects.push_back(o);
    last = entry;
    ++count;
  }
  return page;
}

}  // namespace loom::storage
