// Where fields are in a YAML or JSON document's text, for errors that name a line. Implemented in
// json.cc, where yaml-cpp is wrapped.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace loom {

// The line (from 1) of each field of a document, by its path as JoinField spells it
// ("spec.containers[0].name"): where a map's key or a list's item starts. For text ParseYaml
// accepted (it enforces the limits); paths past ParseYaml's value limit are left out.
StatusOr<std::map<std::string, int>> YamlFieldLines(std::string_view text);

// An error "<source>: <field>: why" about the document `text` becomes "<source>:<line>: <field>:
// why", the line of the field or of its nearest parent; any other error is returned as it is.
Status WithFieldLine(const Status& error, const std::string& source, std::string_view text);

// The documents of a YAML stream (separated by "---" lines, ended by "..." lines), each with its
// lines where they were: a document that starts on line N of `text` is preceded by N-1 empty
// lines, so a parser's line numbers are the stream's. Documents holding only blank lines and
// comments are left out.
std::vector<std::string> SplitYamlDocuments(std::string_view text);

}  // namespace loom
