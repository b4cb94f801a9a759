// TF Serving's config files (--model_config_file, --batching_parameters_file,
// --monitoring_config_file) into their protobuf messages (proto/tensorflow_serving/): protobuf's
// text format as tensorflow_model_server reads it, parsed by libprotobuf's TextFormat, or YAML /
// JSON with the same field names (proto3's JSON mapping) when the file ends in .yaml, .yml or
// .json. Errors name the file and line ("models.config:3:5: ...") or, for YAML/JSON, the file
// and field. The one place that parses these formats.
#pragma once

#include <string>

#include "core/status.h"

namespace google::protobuf {
class Message;
}

namespace loom::serving {

// Protobuf text format into *message (cleared first). `source` names the text in errors.
Status ParseTextConfig(const std::string& text, const std::string& source, google::protobuf::Message* message);

// A config file into *message: text format, or YAML/JSON by the file's extension.
Status ReadConfigFile(const std::string& path, google::protobuf::Message* message);

}  // namespace loom::serving
