// Where fields are in a YAML or JSON document's text, for errors that name a line. Implemented in
// json.cc, where yaml-cpp is wrapped.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "core/status.h"

namespace loom {

// The line (from 1) of each field of a document, by its path as JoinField spells it
// ("spec.containers[0].name"): where a map's key or a list's item starts. For text ParseYaml
// accepted (it enforces the limits); paths past ParseYaml's value limit are left out.
StatusOr<std::map<std::string, int>> YamlFieldLines(std::string_view text);

}  // namespace loom
