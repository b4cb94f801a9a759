#include "core/json.h"
#include "core/yaml_lines.h"
#include "core/libraries.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>

#include "core/file.h"

namespace loom {
namespace {

// Every document Loom reads from a user (workflow and TFJob manifests, WorkflowTemplates, model
// specs, configs; from the CLI or the API) comes through ParseYaml or ParseJson, so these limits
// are the one guard against a hostile document: YAML aliases expanding to millions of values (a
// "billion laughs" file), nesting deep enough to exhaust a stack, text too big to hold twice.
// Each is refused with an error naming the source (and line and column).
constexpr size_t kMaxDocumentBytes = 16u << 20;         // YAML text
constexpr int kMaxDocumentDepth = 128;                  // maps and lists inside each other
constexpr size_t kMaxDocumentValues = 200000;           // values once YAML aliases are expanded
constexpr size_t kMaxDocumentScalarBytes = 64u << 20;   // scalar bytes, aliases expanded

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

// A document over one of the limits: where, and which.
struct LimitExceeded {
  YAML::Mark mark;
  std::string what;
};

// What a document has cost so far, aliases expanded (yaml-cpp shares an aliased node; the
// conversion copies it each time).
struct Budget {
  size_t values = 0;
  size_t scalar_bytes = 0;
};

Json YamlToJson(const YAML::Node& node, int depth, Budget* budget) {
  if (++budget->values > kMaxDocumentValues)
    throw LimitExceeded{node.Mark(), "the document expands to more than " + std::to_string(kMaxDocumentValues) +
                                         " values (YAML aliases repeating an anchor?)"};
  if (depth > kMaxDocumentDepth)
    throw LimitExceeded{node.Mark(), "nested more than " + std::to_string(kMaxDocumentDepth) + " levels deep"};
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      budget->scalar_bytes += node.Scalar().size();
      if (budget->scalar_bytes > kMaxDocumentScalarBytes)
        throw LimitExceeded{node.Mark(), "the document expands to more than " +
                                             std::to_string(kMaxDocumentScalarBytes >> 20) +
                                             " MiB of text (YAML aliases repeating an anchor?)"};
      return ScalarToJson(node);
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : node) out.push_back(YamlToJson(item, depth + 1, budget));
      return out;
    }
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) throw LimitExceeded{kv.first.Mark(), "a map key must be a plain value"};
        out[kv.first.Scalar()] = YamlToJson(kv.second, depth + 1, budget);
      }
      return out;
    }
  }
  return nullptr;
}

// "<source>: line L, column C: " of byte `offset` of `text`.
std::string LineColumn(std::string_view text, size_t offset, const std::string& source) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') { ++line; col = 1; } else { ++col; }
  }
  return source + ": line " + std::to_string(line) + ", column " + std::to_string(col) + ": ";
}

std::string Where(const std::string& source, const YAML::Mark& mark) {
  if (mark.is_null()) return source + ": ";
  return source + ": line " + std::to_string(mark.line + 1) + ", column " + std::to_string(mark.column + 1) + ": ";
}

// Where `text` first breaks UTF-8 (a stray byte, a truncated or overlong sequence, a surrogate,
// beyond U+10FFFF), or SIZE_MAX. YAML is Unicode text, and JSON can only hold such text.
size_t InvalidUtf8At(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = 0;
    uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) n = 1, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) n = 2, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) n = 3, cp = c & 0x07;
    else return i;
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= text.size()) return i;
      const unsigned char d = static_cast<unsigned char>(text[i + k]);
      if ((d & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (d & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += n + 1;
  }
  return SIZE_MAX;
}

// Where JSON text first nests [ and { (outside strings) deeper than kMaxDocumentDepth, or
// SIZE_MAX.
size_t TooDeepAt(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDocumentDepth) return i;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return SIZE_MAX;
}

}  // namespace

StatusOr<Json> ParseJson(std::string_view text, const std::string& source) {
  if (size_t at = TooDeepAt(text); at != SIZE_MAX)
    return InvalidArgument(LineColumn(text, at, source) + "nested more than " +
                           std::to_string(kMaxDocumentDepth) + " levels deep");
  Json out = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded()) {
    // Parse again with exceptions on to learn where it failed.
    try {
      Json ignored = Json::parse(text.begin(), text.end());
      (void)ignored;
    } catch (const Json::parse_error& e) {
      std::string what = e.what();
      if (size_t p = what.find("syntax error"); p != std::string::npos) what = what.substr(p);
      return InvalidArgument(LineColumn(text, e.byte - 1, source) + what);
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
  if (text.size() > kMaxDocumentBytes)
    return InvalidArgument(source + ": " + std::to_string(text.size()) + " bytes, more than the limit of " +
                           std::to_string(kMaxDocumentBytes >> 20) + " MiB");
  if (size_t at = InvalidUtf8At(text); at != SIZE_MAX)
    return InvalidArgument(LineColumn(text, at, source) + "not UTF-8 text");
  try {
    YAML::Node root = YAML::Load(std::string(text));
    Budget budget;
    return YamlToJson(root, 0, &budget);
  } catch (const LimitExceeded& e) {
    return InvalidArgument(Where(source, e.mark) + e.what);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(Where(source, e.mark) + e.msg);
  } catch (const std::exception& e) {
    // Anything else yaml-cpp may throw (std::bad_alloc included) is this document's fault.
    return InvalidArgument(source + ": cannot read the document: " + e.what());
  }
}

namespace {

void RecordLines(const YAML::Node& node, const std::string& path, int depth, std::map<std::string, int>* lines) {
  if (depth > kMaxDocumentDepth || lines->size() >= kMaxDocumentValues) return;
  if (node.IsSequence()) {
    size_t i = 0;
    for (const auto& item : node) {
      const std::string field = JoinField(path, i++);
      lines->emplace(field, item.Mark().line + 1);
      RecordLines(item, field, depth + 1, lines);
    }
  } else if (node.IsMap()) {
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) continue;
      const std::string field = path.empty() ? kv.first.Scalar() : JoinField(path, kv.first.Scalar());
      lines->emplace(field, kv.first.Mark().line + 1);
      RecordLines(kv.second, field, depth + 1, lines);
    }
  }
}

}  // namespace

StatusOr<std::map<std::string, int>> YamlFieldLines(std::string_view text) {
  std::map<std::string, int> lines;
  try {
    RecordLines(YAML::Load(std::string(text)), "", 0, &lines);
  } catch (const YAML::Exception& e) {
    return InvalidArgument("line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return lines;
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
