// Trainer's dataset initializer, done by the local controller itself rather than by running the
// runtime's initializer image: a TrainJob's dataset (job/trainjob.h) copied into Loom's dataset
// cache, where every pod of the job is pointed (LOOM_DATASET_DIR).
#pragma once

#include <string>

#include "core/status.h"
#include "job/tfjob.h"
#include "storage/s3_store.h"

namespace loom::job {

// Trainer's dataset initializer, done by Loom: job.dataset_uri copied into the dataset cache under
// `cache_root` (<bucket or "file">/<prefix>, verified; what `loom data cache` keeps) with S3
// settings from `defaults` (the controller's AWS_* environment), then the keys of the Secret named
// by secretRef (in the store at `objects_dir`, LoomHome()/objects), then the initializer's env (ENDPOINT, ACCESS_KEY_ID, SECRET_ACCESS_KEY, REGION). `log` gets what it did.
// Returns the local directory.
StatusOr<std::string> RunDatasetInitializer(const TfJob& job, const storage::S3Options& defaults,
                                            const std::string& cache_root, const std::string& objects_dir,
                                            std::string* log);

}  // namespace loom::job
