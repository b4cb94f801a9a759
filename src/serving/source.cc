#include "serving/source.h"

#include <algorithm>
#include <set>

#include "core/file.h"
#include "core/logging.h"
#include "export/bundle.h"
#include "storage/dataset_cache.h"
#include "storage/store_url.h"

namespace loom::serving {

std::string LocalPathOf(const std::string& base_path) {
  constexpr std::string_view kFile = "file://";
  if (base_path.compare(0, kFile.size(), kFile) == 0) return base_path.substr(kFile.size());
  return base_path;
}

StatusOr<std::unique_ptr<FileSystemSource>> FileSystemSource::Create(
    const FileSystemSourceOptions& options, AspiredVersionsCallback callback) {
  std::set<std::string> names;
  for (size_t i = 0; i < options.models.size(); ++i) {
    const ModelSourceConfig& m = options.models[i];
    std::string field = JoinField("models", i);
    if (m.name.empty()) return InvalidArgument(field + ".name: must be set");
    if (m.base_path.empty()) return InvalidArgument(field + ".base_path: must be set");
    if (!names.insert(m.name).second)
      return InvalidArgument(field + ".name: \"" + m.name + "\" is configured twice");
  }
  if (options.poll_wait_seconds < 0)
    return InvalidArgument("file_system_poll_wait_seconds: must be >= 0");
  std::unique_ptr<FileSystemSource> source(new FileSystemSource(options, std::move(callback)));
  if (source->options_.clock == nullptr) source->options_.clock = DefaultClock();
  for (size_t i = 0; i < options.models.size(); ++i) {
    const ModelSourceConfig& m = options.models[i];
    const bool s3 = m.base_path.rfind("s3://", 0) == 0;
    if (!s3 && (m.base_path.rfind("file://", 0) != 0 || options.cache_dir.empty())) continue;
    const std::string field = JoinField("models", i) + ".base_path";
    if (options.cache_dir.empty())
      return InvalidArgument(field + ": \"" + m.base_path + "\": an s3:// model needs a local cache directory");
    auto url = storage::ParseStoreUrl(m.base_path);
    if (!url.ok()) return url.status().WithPrefix(field);
    storage::S3Options s3_options = options.s3;
    s3_options.bucket = url->bucket;
    auto store = storage::OpenStore(*url, s3_options);
    if (!store.ok()) return store.status().WithPrefix(field);
    StoreModel sm;
    sm.store = std::move(*store);
    sm.prefix = url->key;
    if (!sm.prefix.empty() && sm.prefix.back() != '/') sm.prefix += '/';
    std::string key_dir = url->key;
    while (!key_dir.empty() && key_dir.back() == '/') key_dir.pop_back();
    sm.cache_dir = JoinPath(JoinPath(options.cache_dir, s3 ? url->bucket : std::string("file")), key_dir);
    source->stores_[m.name] = std::move(sm);
  }
  return source;
}

FileSystemSource::~FileSystemSource() { Stop(); }

StatusOr<std::vector<AspiredVersion>> FileSystemSource::PollStore(const ModelSourceConfig& model,
                                                                   StoreModel& sm) {
  LOOM_ASSIGN_OR_RETURN(std::vector<storage::ObjectInfo> objects, sm.store->ListAll(sm.prefix));
  // The files of each numbered version directory.
  std::map<int64_t, std::set<std::string>> files;
  for (const storage::ObjectInfo& o : objects) {
    const std::string rest = o.key.substr(sm.prefix.size());
    const size_t slash = rest.find('/');
    if (slash == std::string::npos) continue;
    const int64_t v = exporter::ParseVersionName(rest.substr(0, slash));
    if (v > 0) files[v].insert(rest.substr(slash + 1));
  }
  std::vector<int64_t> complete;
  for (const auto& [v, names] : files)
    if (names.count(exporter::kModelJsonFile) && names.count(exporter::kWeightsFile)) complete.push_back(v);
  std::string where = sm.store->Describe();
  if (where.back() != '/') where += '/';
  where += sm.prefix;
  for (;;) {
    const std::vector<int64_t> chosen = ApplyVersionPolicy(model.policy, complete);
    bool copied_all = true;
    for (int64_t v : chosen) {
      if (sm.cached.count(v)) continue;
      storage::CacheOptions cache;
      cache.dir = JoinPath(sm.cache_dir, std::to_string(v));
      auto copied = storage::CacheDataset(*sm.store, sm.prefix + std::to_string(v) + "/", cache);
      if (!copied.ok()) {
        LOOM_LOG(WARNING) << "model " << model.name << ": version " << v << " not copied from " << where << ": "
                          << copied.status().message();
        complete.erase(std::find(complete.begin(), complete.end(), v));
        copied_all = false;
        break;
      }
      LOOM_LOG(INFO) << "model " << model.name << ": version " << v << " copied from " << where << v << "/ to "
                     << cache.dir << " (" << copied->downloaded << " of " << copied->objects << " files fetched, "
                     << copied->bytes_downloaded << " bytes)";
      sm.cached[v] = cache.dir;
    }
    if (!copied_all) continue;
    std::vector<AspiredVersion> aspired;
    for (int64_t v : chosen) aspired.push_back({v, sm.cached[v]});
    return aspired;
  }
}

Status FileSystemSource::PollOnce() {
  std::lock_guard<std::mutex> lock(poll_mu_);
  Status first;
  for (const ModelSourceConfig& m : options_.models) {
    if (auto it = stores_.find(m.name); it != stores_.end()) {
      auto aspired = PollStore(m, it->second);
      if (!aspired.ok()) {
        Status s = aspired.status().WithPrefix("model " + m.name);
        LOOM_LOG(WARNING) << s.message();
        if (first.ok()) first = s;
        continue;
      }
      callback_(m.name, std::move(*aspired));
      continue;
    }
    std::string base = LocalPathOf(m.base_path);
    auto versions = exporter::ListVersions(base);
    if (!versions.ok()) {
      Status s = versions.status().WithPrefix("model " + m.name);
      LOOM_LOG(WARNING) << s.message();
      if (first.ok()) first = s;
      continue;
    }
    std::vector<AspiredVersion> aspired;
    for (int64_t v : ApplyVersionPolicy(m.policy, *versions))
      aspired.push_back({v, JoinPath(base, std::to_string(v))});
    callback_(m.name, std::move(aspired));
  }
  polls_.fetch_add(1);
  return first;
}

void FileSystemSource::Start() {
  (void)PollOnce();
  if (options_.poll_wait_seconds > 0 && !thread_.joinable()) {
    thread_ = std::thread([this] { Loop(); });
  }
}

void FileSystemSource::Loop() {
  Clock* clock = options_.clock;
  const int64_t period = static_cast<int64_t>(options_.poll_wait_seconds * 1e6);
  while (!stop_.load()) {
    clock->SleepUntil(clock->NowMicros() + period, stop_);
    if (stop_.load()) break;
    (void)PollOnce();
  }
}

void FileSystemSource::Stop() {
  stop_.store(true);
  options_.clock->Wake();
  if (thread_.joinable()) thread_.join();
}

}  // namespace loom::serving
