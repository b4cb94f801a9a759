#include "export/bundle.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "core/file.h"
#include "export/onnx.h"

namespace loom::exporter {
namespace {

constexpr const char* kModelJson = kModelJsonFile;
constexpr const char* kWeights = kWeightsFile;
constexpr char kFormat[] = "loom.model.v1";

}  // namespace

int64_t ParseVersionName(const std::string& name) {
  if (name.empty() || name.size() > 18 || name[0] == '0' ||
      name.find_first_not_of("0123456789") != std::string::npos)
    return -1;
  return std::strtoll(name.c_str(), nullptr, 10);
}

Json ModelJson(const nn::ModelSpec& spec, const std::string& model_name, int64_t global_step) {
  int64_t features = 1;
  for (int64_t d : spec.input_shape) features *= d;
  Json j;
  j["format"] = kFormat;
  j["name"] = model_name;
  j["global_step"] = global_step;
  j["created"] = static_cast<int64_t>(std::time(nullptr));
  j["signature"] = {
      {"name", "serving_default"},
      {"inputs", {{"images", {{"dtype", "float32"}, {"shape", {-1, features}}}}}},
      {"outputs",
       {{"scores", {{"dtype", "float32"}, {"shape", {-1, nn::kNumClasses}}}},
        {"classes", {{"dtype", "int64"}, {"shape", {-1}}}}}},
  };
  j["spec"] = spec.ToJson();
  return j;
}

StatusOr<std::vector<int64_t>> ListVersions(const std::string& base_path) {
  LOOM_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(base_path));
  std::vector<int64_t> versions;
  for (const std::string& n : names) {
    int64_t v = ParseVersionName(n);
    if (v > 0 && IsDirectory(JoinPath(base_path, n))) versions.push_back(v);
  }
  std::sort(versions.begin(), versions.end());
  return versions;
}

StatusOr<std::string> WriteBundle(const ExportOptions& options, const nn::ModelSpec& spec,
                                  const std::vector<nn::NamedTensor>& weights) {
  if (options.base_path.empty()) return InvalidArgument("--export_dir: must be set");
  LOOM_RETURN_IF_ERROR(MakeDirs(options.base_path).WithPrefix("--export_dir"));
  int64_t version = options.version;
  if (version < 0) {
    LOOM_ASSIGN_OR_RETURN(std::vector<int64_t> versions, ListVersions(options.base_path));
    version = versions.empty() ? 1 : versions.back() + 1;
  }
  if (version == 0) return InvalidArgument("--version: must be a positive integer");
  const std::string final_dir = JoinPath(options.base_path, std::to_string(version));
  if (PathExists(final_dir))
    return AlreadyExists(final_dir + ": version " + std::to_string(version) + " already exists");

  // Build the version in a hidden temporary directory, then rename it into place.
  const std::string tmp_dir = TempPathFor(JoinPath(options.base_path, "." + std::to_string(version)));
  LOOM_RETURN_IF_ERROR(MakeDirs(tmp_dir));
  Status s = WriteFileAtomic(JoinPath(tmp_dir, kModelJson),
                             ModelJson(spec, options.model_name, options.global_step).dump(2) + "\n");
  if (s.ok()) {
    s = nn::WriteSafetensors(JoinPath(tmp_dir, kWeights), weights,
                             {{"format", kFormat}, {"global_step", std::to_string(options.global_step)}});
  }
  if (s.ok()) {
    OnnxOptions onnx;
    onnx.graph_name = options.model_name;
    onnx.model_version = version;
    onnx.global_step = options.global_step;
    s = WriteOnnx(JoinPath(tmp_dir, kOnnxFile), spec, weights, onnx);
  }
  if (s.ok()) s = SyncDir(tmp_dir);
  if (s.ok() && ::rename(tmp_dir.c_str(), final_dir.c_str()) != 0)
    s = ErrnoStatus(final_dir, "rename", errno);
  if (!s.ok()) {
    (void)RemoveAll(tmp_dir);
    return s;
  }
  LOOM_RETURN_IF_ERROR(SyncDir(options.base_path));
  return final_dir;
}

StatusOr<Bundle> ReadBundle(const std::string& path) {
  Bundle bundle;
  bundle.path = path;
  if (!PathExists(JoinPath(path, kModelJson))) {
    // A base path: take its largest version.
    auto versions = ListVersions(path);
    if (!versions.ok()) return versions.status();
    if (versions->empty())
      return NotFound(path + ": no model.json and no numbered version directories");
    bundle.path = JoinPath(path, std::to_string(versions->back()));
  }
  bundle.version = ParseVersionName(Basename(bundle.path));
  const std::string json_path = JoinPath(bundle.path, kModelJson);
  LOOM_ASSIGN_OR_RETURN(bundle.model_json, ReadJsonOrYamlFile(json_path));
  if (!bundle.model_json.is_object() || bundle.model_json.value("format", "") != kFormat)
    return InvalidArgument(json_path + ": format: expected \"" + std::string(kFormat) + "\"");
  if (!bundle.model_json.contains("spec"))
    return InvalidArgument(json_path + ": spec: missing");
  LOOM_ASSIGN_OR_RETURN(bundle.spec, nn::ModelSpec::FromJson(bundle.model_json["spec"], json_path + ": spec"));
  LOOM_ASSIGN_OR_RETURN(nn::Safetensors weights, nn::ReadSafetensors(JoinPath(bundle.path, kWeights)));
  bundle.weights = std::move(weights.tensors);
  return bundle;
}

}  // namespace loom::exporter
