// The servable model bundle: <base>/<version>/model.json (architecture and signature),
// <base>/<version>/weights.safetensors and, for any ONNX runtime, <base>/<version>/model.onnx
// (export/onnx.h). A version is written into a temporary directory beside
// it and renamed into place, so a model server polling <base> never sees half a version.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/status.h"
#include "nn/model_spec.h"
#include "nn/safetensors.h"

namespace loom::exporter {

inline constexpr char kModelJsonFile[] = "model.json";
inline constexpr char kWeightsFile[] = "weights.safetensors";

// A version directory's number: digits only, no leading zero, fits int64; -1 for any other name.
int64_t ParseVersionName(const std::string& name);

struct Bundle {
  std::string path;     // <base>/<version>
  int64_t version = 0;
  nn::ModelSpec spec;
  Json model_json;      // model.json as written
  std::vector<nn::NamedTensor> weights;
};

struct ExportOptions {
  std::string base_path;         // <base>; created if missing
  int64_t version = -1;          // -1: one more than the largest version in base_path (1 if none)
  std::string model_name = "mnist";
  int64_t global_step = 0;       // recorded in model.json
};

// Writes a new version. An existing version directory is never overwritten (ALREADY_EXISTS).
// Returns the version directory's path.
StatusOr<std::string> WriteBundle(const ExportOptions& options, const nn::ModelSpec& spec,
                                  const std::vector<nn::NamedTensor>& weights);

// The version numbers under base_path (directories whose name is a positive integer), sorted.
StatusOr<std::vector<int64_t>> ListVersions(const std::string& base_path);

// Reads a bundle from a version directory, or from a base path (its largest version).
// Errors name the file and field.
StatusOr<Bundle> ReadBundle(const std::string& path);

// model.json for a spec: format, name, spec, signature (input "images" float[-1, features],
// outputs "scores" float[-1, classes] and "classes" int64[-1]).
Json ModelJson(const nn::ModelSpec& spec, const std::string& model_name, int64_t global_step);

}  // namespace loom::exporter
