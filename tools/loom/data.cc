// loom data: copy, list and delete objects between local paths, file:// and s3://, and keep a
// verified local copy of a dataset prefix (cache). Credentials and the endpoint come from the
// environment (AWS_* and the S3_* variables of Kubeflow's example), never from the command line, so they are not
// in any process listing.
//
// Exit codes: 0 done; 1 failed (I/O, server, corrupt data); 2 bad usage; 3 not found;
// 4 access denied (wrong credentials, a forbidden bucket).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "commands.h"
#include "core/file.h"
#include "storage/dataset_cache.h"
#include "storage/file_store.h"
#include "storage/store_url.h"

namespace loom::cli {
namespace {

using storage::ObjectInfo;
using storage::ObjectStore;
using storage::StoreUrl;

constexpr char kUsage[] =
    "loom data <put|get|cp|ls|rm|sync|cache> ...\n"
    "  put SRC DST         copy (SRC, DST: local path, file:///path or s3://bucket/key; a DST ending in '/' keeps SRC's name)\n"
    "  get SRC DST         the same; a failed copy leaves no file at DST (from s3://, what arrived is\n"
    "                      kept as .NAME.loom-partial beside it and the next get resumes from there)\n"
    "  ls URL              list (--recursive: every object, no grouping by '/')\n"
    "  rm URL              delete an object (--recursive: every object under the prefix)\n"
    "  sync SRC DST        copy every object under SRC whose size differs or is missing under DST\n"
    "  cache URL --dir DIR a verified local copy of a prefix (idempotent, locked, atomic)\n"
    "environment: AWS_ENDPOINT_URL (or S3_ENDPOINT with S3_USE_HTTPS), AWS_ACCESS_KEY_ID,\n"
    "  AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, S3_VERIFY_SSL=0; none set: anonymous\n"
    "exit codes: 0 ok, 1 failed, 2 usage, 3 not found, 4 access denied";

int ExitCodeFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk: return 0;
    case StatusCode::kNotFound: return 3;
    case StatusCode::kPermissionDenied: return 4;
    default: return 1;
  }
}

int FailData(const Status& s) {
  fprintf(stderr, "loom data: %s\n", s.message().c_str());
  return ExitCodeFor(s);
}

// Bad usage (arguments, URLs, flags): exit code 2.
int FailUsage(const Status& s) {
  fprintf(stderr, "loom data: %s\n", s.message().c_str());
  return 2;
}

// Progress on stderr when it is a terminal: "\r<name>  12.0 / 200.0 MiB  6%".
class Progress {
 public:
  Progress(bool quiet, std::string name) : enabled_(!quiet && isatty(2)), name_(std::move(name)) {}
  ~Progress() {
    if (shown_) fprintf(stderr, "\n");
  }
  storage::ProgressFn Fn() {
    if (!enabled_) return nullptr;
    return [this](int64_t done, int64_t total) {
      if (done != total && done - last_ < (1 << 20)) return;  // at most once per MiB
      last_ = done;
      shown_ = true;
      if (total > 0)
        fprintf(stderr, "\r%s  %.1f / %.1f MiB  %3d%%", name_.c_str(), done / 1048576.0, total / 1048576.0,
                static_cast<int>(100 * done / total));
      else
        fprintf(stderr, "\r%s  %.1f MiB", name_.c_str(), done / 1048576.0);
      fflush(stderr);
    };
  }

 private:
  bool enabled_;
  bool shown_ = false;
  int64_t last_ = -(1 << 20);
  std::string name_;
};

struct Context {
  storage::S3Options s3;
  bool quiet = false;
  bool recursive = false;
  std::string dir;
};

StatusOr<std::unique_ptr<ObjectStore>> Open(const StoreUrl& url, const Context& c) {
  return storage::OpenStore(url, c.s3);
}

std::string LastSegment(const std::string& key) {
  std::string k = key;
  while (!k.empty() && k.back() == '/') k.pop_back();
  size_t slash = k.rfind('/');
  return slash == std::string::npos ? k : k.substr(slash + 1);
}

// Copies one object between any two URLs. Local destinations are written atomically by Get.
Status CopyObject(const StoreUrl& src, const StoreUrl& dst, const Context& c) {
  LOOM_ASSIGN_OR_RETURN(auto from, Open(src, c));
  LOOM_ASSIGN_OR_RETURN(auto to, Open(dst, c));
  Progress progress(c.quiet, src.ToString());
  if (dst.scheme == StoreUrl::Scheme::kFile) {
    std::string path = "/" + dst.key;
    LOOM_RETURN_IF_ERROR(MakeDirs(Dirname(path)));
    storage::GetOptions get;
    get.progress = progress.Fn();
    get.keep_partial = true;  // a network failure keeps what arrived: the next get resumes it
    return from->Get(src.key, path, get).status();
  }
  if (src.scheme == StoreUrl::Scheme::kFile) {
    storage::PutOptions put;
    put.progress = progress.Fn();
    return to->Put(dst.key, "/" + src.key, put).status();
  }
  // s3 -> s3: through a temporary local file.
  std::string tmp = TempPathFor(JoinPath(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp", "loom-data"));
  storage::GetOptions get;
  get.progress = progress.Fn();
  Status s = from->Get(src.key, tmp, get).status();
  if (s.ok()) s = to->Put(dst.key, tmp, {}).status();
  ::unlink(tmp.c_str());
  return s;
}

int Copy(const std::vector<std::string>& args, const Context& c) {
  if (args.size() != 2) return FailUsage(InvalidArgument("want SRC DST"));
  auto src = storage::ParseStoreUrl(args[0]);
  if (!src.ok()) return FailUsage(src.status());
  auto dst = storage::ParseStoreUrl(args[1]);
  if (!dst.ok()) return FailUsage(dst.status());
  bool dst_is_dir = args[1].back() == '/' || dst->key.empty() ||
                    (dst->scheme == StoreUrl::Scheme::kFile && IsDirectory("/" + dst->key));
  if (dst_is_dir) {
    if (!dst->key.empty() && dst->key.back() != '/') dst->key += '/';
    dst->key += LastSegment(src->key);
  }
  if (src->key.empty()) return FailUsage(InvalidArgument(args[0] + ": names a bucket, not an object"));
  Status s = CopyObject(*src, *dst, c);
  if (!s.ok()) return FailData(s);
  if (!c.quiet) printf("copied %s to %s\n", src->ToString().c_str(), dst->ToString().c_str());
  return 0;
}

int List(const std::vector<std::string>& args, const Context& c) {
  if (args.size() != 1) return FailUsage(InvalidArgument("want URL"));
  auto url = storage::ParseStoreUrl(args[0]);
  if (!url.ok()) return FailUsage(url.status());
  auto store = Open(*url, c);
  if (!store.ok()) return FailData(store.status());
  storage::ListOptions options;
  options.prefix = url->key;
  if (!c.recursive) options.delimiter = "/";
  do {
    auto page = (*store)->List(options);
    if (!page.ok()) return FailData(page.status());
    for (const auto& p : page->common_prefixes) printf("%12s  %s\n", "PRE", p.c_str());
    for (const auto& o : page->objects) printf("%12lld  %s\n", static_cast<long long>(o.size), o.key.c_str());
    options.continuation_token = page->next_token;
  } while (!options.continuation_token.empty());
  return 0;
}

int Remove(const std::vector<std::string>& args, const Context& c) {
  if (args.size() != 1) return FailUsage(InvalidArgument("want URL"));
  auto url = storage::ParseStoreUrl(args[0]);
  if (!url.ok()) return FailUsage(url.status());
  auto store = Open(*url, c);
  if (!store.ok()) return FailData(store.status());
  std::vector<std::string> keys;
  if (c.recursive) {
    auto all = (*store)->ListAll(url->key);
    if (!all.ok()) return FailData(all.status());
    for (const auto& o : *all) keys.push_back(o.key);
  } else {
    auto head = (*store)->Head(url->key);
    if (!head.ok()) return FailData(head.status());
    keys.push_back(url->key);
  }
  for (const auto& k : keys) {
    Status s = (*store)->Delete(k);
    if (!s.ok()) return FailData(s);
    if (!c.quiet) printf("deleted %s\n", k.c_str());
  }
  return 0;
}

int Sync(const std::vector<std::string>& args, const Context& c) {
  if (args.size() != 2) return FailUsage(InvalidArgument("want SRC DST"));
  auto src = storage::ParseStoreUrl(args[0]);
  if (!src.ok()) return FailUsage(src.status());
  auto dst = storage::ParseStoreUrl(args[1]);
  if (!dst.ok()) return FailUsage(dst.status());
  for (StoreUrl* u : {&*src, &*dst})
    if (!u->key.empty() && u->key.back() != '/') u->key += '/';
  auto from = Open(*src, c);
  if (!from.ok()) return FailData(from.status());
  auto to = Open(*dst, c);
  if (!to.ok()) return FailData(to.status());
  auto objects = (*from)->ListAll(src->key);
  if (!objects.ok()) return FailData(objects.status());
  auto existing = (*to)->ListAll(dst->key);
  if (!existing.ok() && existing.status().code() != StatusCode::kNotFound) return FailData(existing.status());
  std::map<std::string, int64_t> there;
  if (existing.ok())
    for (const auto& o : *existing) there[o.key.substr(dst->key.size())] = o.size;
  int copied = 0;
  for (const ObjectInfo& o : *objects) {
    std::string rel = o.key.substr(src->key.size());
    auto it = there.find(rel);
    if (it != there.end() && it->second == o.size) continue;
    StoreUrl from_url = *src, to_url = *dst;
    from_url.key = o.key;
    to_url.key = dst->key + rel;
    Status s = CopyObject(from_url, to_url, c);
    if (!s.ok()) return FailData(s);
    if (!c.quiet) printf("copied %s to %s\n", from_url.ToString().c_str(), to_url.ToString().c_str());
    ++copied;
  }
  if (!c.quiet) printf("%d of %zu objects copied\n", copied, objects->size());
  return 0;
}

int Cache(const std::vector<std::string>& args, const Context& c) {
  if (args.size() != 1) return FailUsage(InvalidArgument("want URL"));
  if (c.dir.empty()) return FailUsage(InvalidArgument("--dir: must be set"));
  auto url = storage::ParseStoreUrl(args[0]);
  if (!url.ok()) return FailUsage(url.status());
  auto store = Open(*url, c);
  if (!store.ok()) return FailData(store.status());
  std::string prefix = url->key;
  // A URL naming one object caches that object; otherwise it is a directory-like prefix.
  if (!prefix.empty() && prefix.back() != '/' && !(*store)->Head(prefix).ok()) prefix += '/';
  Progress progress(c.quiet, url->ToString());
  storage::CacheOptions options;
  options.dir = c.dir;
  options.progress = progress.Fn();
  auto result = storage::CacheDataset(**store, prefix, options);
  if (!result.ok()) return FailData(result.status());
  if (!c.quiet)
    printf("cached %lld objects in %s: %lld downloaded (%lld bytes), %lld re-fetched after failing verification\n",
           static_cast<long long>(result->objects), c.dir.c_str(), static_cast<long long>(result->downloaded),
           static_cast<long long>(result->bytes_downloaded), static_cast<long long>(result->corrupt_refetched));
  return 0;
}

}  // namespace

StatusOr<std::string> ResolveDataDir(const std::string& data_dir, const char* command) {
  if (data_dir.find("://") == std::string::npos) return data_dir;
  LOOM_ASSIGN_OR_RETURN(storage::S3Options s3, S3OptionsFromEnv());
  storage::CacheResult cached;
  std::string root = JoinPath(LoomHome(), "datasets");
  auto dir = storage::LocalDataDir(data_dir, s3, root, &cached);
  if (!dir.ok()) return dir.status().WithPrefix("--data_dir");
  fprintf(stderr, "loom %s: --data_dir %s: %lld objects in %s (%lld downloaded, %lld bytes)\n", command,
          data_dir.c_str(), static_cast<long long>(cached.objects), dir->c_str(),
          static_cast<long long>(cached.downloaded), static_cast<long long>(cached.bytes_downloaded));
  return *dir;
}

int RunData(const Args& args) {
  if (args.empty()) {
    std::cerr << "usage: " << kUsage << "\n";
    return 2;
  }
  // `loom data --help`: the usage and the flags every verb takes.
  const bool help = args[0] == "--help" || args[0] == "-h";
  std::string verb = help ? "" : args[0];
  Context c;
  std::string endpoint, region;
  bool anonymous = false;
  int parallelism = 4;
  int part_size_mib = 5;
  FlagSet flags(kUsage);
  flags.Bool("quiet", &c.quiet, "no progress and no summary lines");
  flags.Bool("recursive", &c.recursive, "ls: every object; rm: every object under the prefix");
  flags.String("dir", &c.dir, "cache: the local directory");
  flags.String("endpoint", &endpoint, "S3 endpoint URL (default: $AWS_ENDPOINT_URL, else AWS)");
  flags.String("region", &region, "S3 region (default: $AWS_REGION, else us-east-1)");
  flags.Bool("no_sign_request", &anonymous, "anonymous requests (public buckets)");
  flags.Int("parallelism", &parallelism, "multipart parts in flight at once");
  flags.Int("part_size_mb", &part_size_mib, "multipart part size in MiB (>= 5)");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, Args(args.begin() + (help ? 0 : 1), args.end()), &positional, "data", &code))
    return code;
  auto s3 = S3OptionsFromEnv(endpoint, region, anonymous);
  if (!s3.ok()) return FailUsage(s3.status());
  c.s3 = *s3;
  c.s3.parallelism = parallelism;
  c.s3.part_size = static_cast<int64_t>(part_size_mib) << 20;
  c.s3.multipart_threshold = c.s3.part_size;
  if (verb == "put" || verb == "get" || verb == "cp") return Copy(positional, c);
  if (verb == "ls") return List(positional, c);
  if (verb == "rm") return Remove(positional, c);
  if (verb == "sync") return Sync(positional, c);
  if (verb == "cache") return Cache(positional, c);
  fprintf(stderr, "loom data: unknown verb \"%s\"\nusage: %s\n", verb.c_str(), kUsage);
  return 2;
}

}  // namespace loom::cli
