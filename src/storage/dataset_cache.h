// The dataset cache (what Kubeflow's Kube Volume Controller did): a verified local copy of every
// object under a prefix, each at <dir>/<key less the prefix>.
//  - Verified: a manifest (<dir>/.loom-cache.json) records each object's ETag, size and the
//    SHA-256 of the local copy; a file whose ETag/size changed upstream, or whose bytes no longer
//    hash to the recorded SHA-256 (a corrupted byte), is fetched again.
//  - Idempotent: a second run over an unchanged prefix transfers nothing.
//  - Safe when several run at once: an exclusive lock (<dir>/.loom-cache.lock, flock) makes one
//    download and the others then find everything in place.
//  - Never a partial file: each object downloads to a temporary name and is renamed into place
//    (from s3://, a hidden .<name>.loom-partial that the next run resumes if this one dies).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/status.h"
#include "storage/object_store.h"
#include "storage/s3_store.h"

namespace loom::storage {

struct CacheOptions {
  std::string dir;  // the local copy; created if missing
  // Called after each object with its key, its size and whether it was downloaded (false: it was
  // already there and verified).
  std::function<void(const std::string& key, int64_t size, bool downloaded)> on_object;
  ProgressFn progress;  // bytes of the object being downloaded
};

struct CacheResult {
  int64_t objects = 0;           // objects under the prefix
  int64_t downloaded = 0;        // objects fetched this run
  int64_t bytes_downloaded = 0;
  int64_t corrupt_refetched = 0; // local copies that failed verification and were fetched again
};

StatusOr<CacheResult> CacheDataset(ObjectStore& store, const std::string& prefix, const CacheOptions& options);

// What the training commands do with --data_dir: a plain path is returned as is; an s3:// or
// file:// URL is cached under cache_root/<bucket or "file">/<prefix> and that directory returned
// (with what the cache did in *result when given; a plain path leaves it untouched).
StatusOr<std::string> LocalDataDir(const std::string& data_dir, const S3Options& s3_options,
                                   const std::string& cache_root, CacheResult* result = nullptr);

}  // namespace loom::storage
