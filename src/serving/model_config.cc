#include "serving/model_config.h"

#include "serving/config_file.h"

namespace loom::serving {
namespace {

using tensorflow::serving::FileSystemStoragePathSourceConfig;
using Policy = FileSystemStoragePathSourceConfig::ServableVersionPolicy;

std::string Indexed(const std::string& field, int i) { return field + "[" + std::to_string(i) + "]"; }

StatusOr<VersionPolicy> PolicyFromProto(const Policy& p, const std::string& field) {
  VersionPolicy policy;
  switch (p.policy_choice_case()) {
    case Policy::kLatest:
      policy.kind = VersionPolicy::Kind::kLatest;
      if (p.latest().num_versions() > 0) policy.num_versions = static_cast<int>(p.latest().num_versions());
      return policy;
    case Policy::kAll:
      policy.kind = VersionPolicy::Kind::kAll;
      return policy;
    case Policy::kSpecific:
      policy.kind = VersionPolicy::Kind::kSpecific;
      if (p.specific().versions().empty()) return InvalidArgument(field + ".specific.versions: must list versions");
      for (int k = 0; k < p.specific().versions_size(); ++k) {
        const int64_t v = p.specific().versions(k);
        if (v <= 0) return InvalidArgument(Indexed(field + ".specific.versions", k) + ": " + std::to_string(v) +
                                           " is not a positive integer");
        policy.versions.push_back(v);
      }
      return policy;
    case Policy::POLICY_CHOICE_NOT_SET:
      break;
  }
  return InvalidArgument(field + ": must hold one of latest, all, specific");
}

}  // namespace

StatusOr<std::vector<ModelConfig>> ModelConfigsFromProto(const tensorflow::serving::ModelServerConfig& config,
                                                         const std::string& source) {
  const std::string root = source + ": model_config_list";
  if (!config.has_model_config_list())
    return InvalidArgument(root + ": missing (the file must hold model_config_list { config { ... } })");
  const auto& list = config.model_config_list();
  if (list.config().empty()) return InvalidArgument(root + ".config: no models");
  std::vector<ModelConfig> out;
  for (int i = 0; i < list.config_size(); ++i) {
    const std::string f = Indexed(root + ".config", i);
    const tensorflow::serving::ModelConfig& c = list.config(i);
    ModelConfig m;
    if (c.name().empty()) return InvalidArgument(f + ".name: must be set");
    m.name = c.name();
    if (c.base_path().empty()) return InvalidArgument(f + ".base_path: must be set");
    m.base_path = c.base_path();
    if (!c.model_platform().empty() && c.model_platform() != "tensorflow" && c.model_platform() != "loom")
      return InvalidArgument(f + ".model_platform: \"" + c.model_platform() +
                             "\" is not served here (tensorflow or loom: Loom bundles)");
    if (c.has_model_version_policy()) {
      LOOM_ASSIGN_OR_RETURN(m.policy, PolicyFromProto(c.model_version_policy(), f + ".model_version_policy"));
    }
    for (const auto& [label, version] : c.version_labels()) {
      if (version <= 0)
        return InvalidArgument(f + ".version_labels." + label + ": " + std::to_string(version) +
                               " is not a positive integer");
      m.version_labels[label] = version;
    }
    for (const ModelConfig& other : out)
      if (other.name == m.name) return InvalidArgument(f + ".name: \"" + m.name + "\" is configured twice");
    out.push_back(std::move(m));
  }
  return out;
}

StatusOr<std::vector<ModelConfig>> ParseModelConfig(const std::string& text, const std::string& source) {
  tensorflow::serving::ModelServerConfig config;
  LOOM_RETURN_IF_ERROR(ParseTextConfig(text, source, &config));
  return ModelConfigsFromProto(config, source);
}

StatusOr<std::vector<ModelConfig>> ReadModelConfigFile(const std::string& path) {
  tensorflow::serving::ModelServerConfig config;
  LOOM_RETURN_IF_ERROR(ReadConfigFile(path, &config));
  return ModelConfigsFromProto(config, path);
}

}  // namespace loom::serving
