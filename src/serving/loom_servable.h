// The Loom model plug-in: a ServableLoader for export bundles (model.json +
// weights.safetensors, src/export/bundle.h). A loaded version keeps a few nn::Model instances
// (a Model serves one thread at a time) and lends one to each Predict call.
#pragma once

#include <memory>
#include <string>

#include "serving/servable.h"

namespace loom::serving {

struct LoomServableOptions {
  // Model instances per loaded version: the most Predict calls that run at once. 0 means the
  // number of CPUs.
  int num_instances = 0;
  // The largest batch a Model computes in one pass; bigger requests go in chunks.
  int64_t max_batch = 256;
};

class LoomServableLoader : public ServableLoader {
 public:
  explicit LoomServableLoader(LoomServableOptions options = {}) : options_(options) {}
  // Errors name the file: "<path>/model.json: spec.layers[0].units: ..." or
  // "<path>/weights.safetensors: ...".
  StatusOr<std::shared_ptr<Servable>> Load(const std::string& path, int64_t version) override;

 private:
  LoomServableOptions options_;
};

}  // namespace loom::serving
