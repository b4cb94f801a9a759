#include "train/checkpoint.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "core/file.h"
#include "core/json.h"
#include "core/logging.h"

namespace loom::train {
namespace {

constexpr char kPrefix[] = "model.ckpt-";
constexpr char kSuffix[] = ".safetensors";
constexpr char kIndex[] = "checkpoint";

std::string CheckpointName(int64_t step) { return kPrefix + std::to_string(step) + kSuffix; }

// The global step in a checkpoint file name, or -1 when the name is not one.
int64_t StepOfName(const std::string& name) {
  const std::string prefix = kPrefix, suffix = kSuffix;
  if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return -1;
  std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::strtoll(digits.c_str(), nullptr, 10);
}

// The name TF's index uses for a checkpoint file: "model.ckpt-550", without our suffix, quoted.
std::string QuotedStem(const std::string& file_name) {
  return "\"" + file_name.substr(0, file_name.size() - (sizeof(kSuffix) - 1)) + "\"";
}

}  // namespace

StatusOr<std::string> SaveCheckpoint(const std::string& dir, const Checkpoint& checkpoint,
                                     const CheckpointOptions& options) {
  LOOM_RETURN_IF_ERROR(MakeDirs(dir));
  std::vector<nn::NamedTensor> tensors = checkpoint.variables;
  for (const nn::NamedTensor& t : checkpoint.optimizer_state)
    tensors.push_back({kOptimizerPrefix + t.name, t.tensor});
  std::map<std::string, std::string> metadata = checkpoint.metadata;
  metadata["global_step"] = std::to_string(checkpoint.global_step);
  metadata["model_spec"] = checkpoint.spec.ToJson().dump();
  metadata["format"] = "loom.checkpoint.v1";
  const std::string name = CheckpointName(checkpoint.global_step);
  const std::string path = JoinPath(dir, name);
  LOOM_RETURN_IF_ERROR(nn::WriteSafetensors(path, tensors, metadata));

  // Keep the newest max_to_keep, as tf.train.Saver does, and list them in the index.
  LOOM_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
  std::vector<std::pair<int64_t, std::string>> found;
  for (const std::string& n : names)
    if (int64_t step = StepOfName(n); step >= 0) found.emplace_back(step, n);
  std::sort(found.begin(), found.end());
  while (options.max_to_keep > 0 && found.size() > static_cast<size_t>(options.max_to_keep)) {
    if (found.front().second != name) (void)RemoveAll(JoinPath(dir, found.front().second));
    found.erase(found.begin());
  }
  std::string index = "model_checkpoint_path: " + QuotedStem(name) + "\n";
  for (const auto& [step, n] : found)
    index += "all_model_checkpoint_paths: " + QuotedStem(n) + "\n";
  LOOM_RETURN_IF_ERROR(WriteFileAtomic(JoinPath(dir, kIndex), index));
  return path;
}

StatusOr<std::optional<std::string>> LatestCheckpoint(const std::string& dir) {
  const std::string index_path = JoinPath(dir, kIndex);
  if (PathExists(index_path)) {
    LOOM_ASSIGN_OR_RETURN(std::string index, ReadFile(index_path));
    const std::string key = "model_checkpoint_path: \"";
    size_t start = index.find(key);
    if (start == std::string::npos || (start != 0 && index[start - 1] != '\n'))
      return DataLoss(index_path + ": no model_checkpoint_path line");
    start += key.size();
    size_t end = index.find('"', start);
    if (end == std::string::npos) return DataLoss(index_path + ": unterminated model_checkpoint_path");
    std::string path = JoinPath(dir, index.substr(start, end - start) + kSuffix);
    if (!PathExists(path))
      return NotFound(index_path + ": names " + path + ", which does not exist");
    return std::optional<std::string>(path);
  }
  if (!IsDirectory(dir)) return std::optional<std::string>();
  LOOM_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
  int64_t best = -1;
  for (const std::string& n : names) best = std::max(best, StepOfName(n));
  if (best < 0) return std::optional<std::string>();
  return std::optional<std::string>(JoinPath(dir, CheckpointName(best)));
}

StatusOr<Checkpoint> LoadCheckpoint(const std::string& path) {
  LOOM_ASSIGN_OR_RETURN(nn::Safetensors file, nn::ReadSafetensors(path));
  Checkpoint out;
  auto field = [&](const std::string& key) -> StatusOr<std::string> {
    auto it = file.metadata.find(key);
    if (it == file.metadata.end())
      return DataLoss(path + ": __metadata__." + key + " is missing: not a Loom checkpoint");
    return it->second;
  };
  LOOM_ASSIGN_OR_RETURN(std::string step_text, field("global_step"));
  char* end = nullptr;
  errno = 0;
  out.global_step = std::strtoll(step_text.c_str(), &end, 10);
  if (step_text.empty() || *end != '\0' || errno != 0 || out.global_step < 0)
    return DataLoss(path + ": __metadata__.global_step: \"" + step_text + "\" is not a step");
  LOOM_ASSIGN_OR_RETURN(std::string spec_text, field("model_spec"));
  LOOM_ASSIGN_OR_RETURN(Json spec_json, ParseJson(spec_text, path + ": __metadata__.model_spec"));
  LOOM_ASSIGN_OR_RETURN(out.spec, nn::ModelSpec::FromJson(spec_json, path + ": __metadata__.model_spec"));
  const std::string opt_prefix = kOptimizerPrefix;
  for (nn::NamedTensor& t : file.tensors) {
    if (t.name.rfind(opt_prefix, 0) == 0) {
      t.name = t.name.substr(opt_prefix.size());
      out.optimizer_state.push_back(std::move(t));
    } else {
      out.variables.push_back(std::move(t));
    }
  }
  for (auto& [k, v] : file.metadata)
    if (k != "global_step" && k != "model_spec" && k != "format") out.metadata[k] = v;
  return out;
}

}  // namespace loom::train
