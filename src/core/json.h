// JSON and YAML, one library each, wrapped here: nlohmann::json is Loom's document type,
// and YAML (yaml-cpp) is read into the same type, so JSON and YAML specs share one code path.
// Their exceptions stay inside json.cc.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/status.h"

namespace loom {

using Json = nlohmann::ordered_json;

// Parses JSON text; errors read "<source>: line L, column C: <what>".
StatusOr<Json> ParseJson(std::string_view text, const std::string& source);
// Parses YAML (a superset of JSON) into Json. Scalars keep their YAML type: plain 12 is an
// integer, 1.5 a float, true a bool, quoted "12" a string. Errors name source, line and column.
StatusOr<Json> ParseYaml(std::string_view text, const std::string& source);
// Reads a file and parses it: JSON when it ends in .json, YAML otherwise.
StatusOr<Json> ReadJsonOrYamlFile(const std::string& path);

// A JSON pointer-ish path for error messages: JoinField("spec.layers", 2) is "spec.layers[2]".
std::string JoinField(const std::string& parent, size_t index);
std::string JoinField(const std::string& parent, const std::string& key);

}  // namespace loom
