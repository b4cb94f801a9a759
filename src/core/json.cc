#include "core/json.h"
#include "core/libraries.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>

#include "core/file.h"

namespace loom {
namespace {

Json ScalarToJson(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return s;  // quoted: always a string
  if (s == "~" || s == "null" || s == "Null" || s == "NULL" || s.empty()) return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  {
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (*end == '\0' && errno == 0 && s.find_first_not_of("+-0123456789") == std::string::npos)
      return v;
  }
  {
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (*end == '\0' && s.find_first_of("0123456789") != std::string::npos &&
        s.find_first_not_of("+-.0123456789eE") == std::string::npos)
      return v;
  }
  return s;
}

Json YamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      return ScalarToJson(node);
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : node) out.push_back(YamlToJson(item));
      return out;
    }
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& kv : node) out[kv.first.as<std::string>()] = YamlToJson(kv.second);
      return out;
    }
  }
  return nullptr;
}

}  // namespace

StatusOr<Json> ParseJson(std::string_view text, const std::string& source) {
  Json out = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded()) {
    // Parse again with exceptions on to learn where it failed.
    try {
      Json ignored = Json::parse(text.begin(), text.end());
      (void)ignored;
    } catch (const Json::parse_error& e) {
      size_t line = 1, col = 1;
      for (size_t i = 0; i < e.byte - 1 && i < text.size(); ++i) {
        if (text[i] == '\n') { ++line; col = 1; } else { ++col; }
      }
      std::string what = e.what();
      if (size_t p = what.find("syntax error"); p != std::string::npos) what = what.substr(p);
      return InvalidArgument(source + ": line " + std::to_string(line) + ", column " +
                             std::to_string(col) + ": " + what);
    } catch (const Json::exception& e) {
      // Not a syntax error: e.g. out_of_range 406 for a number like 1e99999 (found by
      // tests/serving/fuzz: it escaped this function and terminated `loom serve`).
      std::string what = e.what();
      if (size_t p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
      return InvalidArgument(source + ": " + what);
    }
    return InvalidArgument(source + ": invalid JSON");
  }
  return out;
}

StatusOr<Json> ParseYaml(std::string_view text, const std::string& source) {
  try {
    YAML::Node root = YAML::Load(std::string(text));
    return YamlToJson(root);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(source + ": line " + std::to_string(e.mark.line + 1) + ", column " +
                           std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

StatusOr<Json> ReadJsonOrYamlFile(const std::string& path) {
  LOOM_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) return ParseJson(text, path);
  return ParseYaml(text, path);
}

std::string JoinField(const std::string& parent, size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

std::string JoinField(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

}  // namespace loom

namespace loom {

std::string JsonLibraryVersions() {
  return "nlohmann_json " + std::to_string(NLOHMANN_JSON_VERSION_MAJOR) + "." +
         std::to_string(NLOHMANN_JSON_VERSION_MINOR) + "." + std::to_string(NLOHMANN_JSON_VERSION_PATCH) +
         ", yaml-cpp " LOOM_YAML_CPP_VERSION;
}

}  // namespace loom
