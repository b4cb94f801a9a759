#include "job/dataset_initializer.h"

#include <map>

#include "container/config_store.h"
#include "job/trainjob.h"
#include "storage/dataset_cache.h"

namespace loom::job {

StatusOr<std::string> RunDatasetInitializer(const TfJob& job, const storage::S3Options& defaults,
                                            const std::string& cache_root, const std::string& objects_dir,
                                            std::string* log) {
  storage::S3Options s3 = defaults;
  std::map<std::string, std::string> settings;
  if (!job.dataset_secret.empty()) {
    auto secret = container::ConfigStore(objects_dir).Get(container::ConfigKind::kSecret, job.dataset_secret);
    if (!secret.ok())
      return Status(secret.status().code(), "spec.initializer.dataset.secretRef.name: " + secret.status().message() +
                                                " (`loom secret create` makes one)");
    for (const auto& [key, value] : secret->data)
      if (DatasetInitializerSettings().count(key)) settings[key] = value;
  }
  for (const auto& [name, value] : job.dataset_env) settings[name] = value;  // env over envFrom, as Kubernetes
  if (settings.count("ENDPOINT")) s3.endpoint = settings["ENDPOINT"];
  if (settings.count("REGION")) s3.region = settings["REGION"];
  if (settings.count("ACCESS_KEY_ID") || settings.count("SECRET_ACCESS_KEY")) {
    if (settings["ACCESS_KEY_ID"].empty() || settings["SECRET_ACCESS_KEY"].empty())
      return InvalidArgument("the dataset initializer has one of ACCESS_KEY_ID and SECRET_ACCESS_KEY without the other");
    s3.access_key = settings["ACCESS_KEY_ID"];
    s3.secret_key = settings["SECRET_ACCESS_KEY"];
    s3.session_token.clear();
  }
  *log += "Downloading dataset from " + job.dataset_uri + "\n";
  storage::CacheResult cached;
  auto dir = storage::LocalDataDir(job.dataset_uri, s3, cache_root, &cached);
  if (!dir.ok()) return Status(dir.status().code(), job.dataset_uri + ": " + dir.status().message());
  *log += "cached " + std::to_string(cached.objects) + " objects in " + *dir + ": " + std::to_string(cached.downloaded) +
          " downloaded (" + std::to_string(cached.bytes_downloaded) + " bytes), " +
          std::to_string(cached.corrupt_refetched) + " re-fetched after failing verification\n";
  return *dir;
}

}  // namespace loom::job
