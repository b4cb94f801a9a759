// Which versions of a model to serve, from the versions found on disk: TF Serving's
// ServableVersionPolicy (latest N, all, or specific versions).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace loom::serving {

struct VersionPolicy {
  enum class Kind { kLatest, kAll, kSpecific };
  Kind kind = Kind::kLatest;
  int num_versions = 1;             // for kLatest: how many of the largest versions
  std::vector<int64_t> versions;    // for kSpecific
};

// The aspired versions among `available` (sorted or not), ascending.
std::vector<int64_t> ApplyVersionPolicy(const VersionPolicy& policy,
                                        std::vector<int64_t> available);

// "latest 2", "all", "specific 1,3" (as --model_version_policy takes it). Errors name `field`.
StatusOr<VersionPolicy> ParseVersionPolicy(const std::string& text, const std::string& field);

}  // namespace loom::serving
