#include "serving/source.h"

#include <set>

#include "core/file.h"
#include "core/logging.h"
#include "export/bundle.h"

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
    if (m.base_path.rfind("s3://", 0) == 0)
      return Unimplemented(field + ".base_path: \"" + m.base_path +
                           "\": s3:// model paths are not supported yet; copy the model to a "
                           "local directory (loom data get)");
    if (!names.insert(m.name).second)
      return InvalidArgument(field + ".name: \"" + m.name + "\" is configured twice");
  }
  if (options.poll_wait_seconds < 0)
    return InvalidArgument("file_system_poll_wait_seconds: must be >= 0");
  std::unique_ptr<FileSystemSource> source(new FileSystemSource(options, std::move(callback)));
  if (source->options_.clock == nullptr) source->options_.clock = DefaultClock();
  return source;
}

FileSystemSource::~FileSystemSource() { Stop(); }

Status FileSystemSource::PollOnce() {
  Status first;
  for (const ModelSourceConfig& m : options_.models) {
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
