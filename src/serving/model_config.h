// TF Serving's --model_config_file: several models, each with a name, base path, version
// policy and version labels. Read from TF Serving's own protobuf text format
// (ModelServerConfig { model_config_list { config { ... } } }, proto/tensorflow_serving/) or
// from YAML/JSON with the same field names (serving/config_file.h), so a config written for
// tensorflow_model_server works unchanged.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "serving/version_policy.h"
#include "tensorflow_serving/config/model_server_config.pb.h"

namespace loom::serving {

struct ModelConfig {
  std::string name;
  std::string base_path;
  VersionPolicy policy;                         // default: latest 1
  std::map<std::string, int64_t> version_labels;
};

// The models of a ModelServerConfig, checked. Errors name the field:
// "models.config: model_config_list.config[1].base_path: must be set".
StatusOr<std::vector<ModelConfig>> ModelConfigsFromProto(const tensorflow::serving::ModelServerConfig& config,
                                                         const std::string& source);

// A ModelServerConfig in protobuf's text format (errors name source:line:column).
StatusOr<std::vector<ModelConfig>> ParseModelConfig(const std::string& text, const std::string& source);

// Reads a config file: YAML/JSON when it ends in .yaml, .yml or .json, protobuf text otherwise.
StatusOr<std::vector<ModelConfig>> ReadModelConfigFile(const std::string& path);

}  // namespace loom::serving
