#include "core/json.h"
#include "core/yaml_lines.h"
#include "core/libraries.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

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

// The members of one object as they are read, each key found in O(1). Json keeps an object's
// members in document order (nlohmann::ordered_json), and its own insert looks each key up by
// scanning them all: a map of 150,000 labels took 29 s to read that way, so a 4 MiB body could
// hold the server's CPU for minutes. A repeated key keeps its first place and its last value, as
// nlohmann's own reader does.
class ObjectBuilder {
 public:
  explicit ObjectBuilder(Json* object) : members_(&object->get_ref<Json::object_t&>()) {}

  // The slot of `key`'s value: an existing member's, or a new member's at the end.
  Json& Slot(const std::string& key) {
    auto& members = static_cast<std::vector<Json::object_t::value_type>&>(*members_);
    if (index_.empty() && members.size() < kScanned) {
      for (auto& member : members)
        if (member.first == key) return member.second;
    } else {
      if (index_.empty())
        for (size_t i = 0; i < members.size(); ++i) index_.emplace(members[i].first, i);
      if (auto it = index_.find(key); it != index_.end()) return members[it->second].second;
      index_.emplace(key, members.size());
    }
    members.emplace_back(key, nullptr);
    return members.back().second;
  }

 private:
  static constexpr size_t kScanned = 16;  // up to this many members, a scan is quicker than a hash
  Json::object_t* members_;
  std::unordered_map<std::string, size_t> index_;
};

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
      ObjectBuilder members(&out);
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) throw LimitExceeded{kv.first.Mark(), "a map key must be a plain value"};
        members.Slot(kv.first.Scalar()) = YamlToJson(kv.second, depth + 1, budget);
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

// Builds a Json from nlohmann's SAX events, objects through ObjectBuilder (nlohmann's own DOM
// builder inserts each key by scanning the object's members). Stops at the first error and keeps
// where it was and what nlohmann said.
class DomBuilder {
 public:
  using string_t = Json::string_t;
  using binary_t = Json::binary_t;

  bool null() { return Put(nullptr); }
  bool boolean(bool v) { return Put(v); }
  bool number_integer(Json::number_integer_t v) { return Put(v); }
  bool number_unsigned(Json::number_unsigned_t v) { return Put(v); }
  bool number_float(Json::number_float_t v, const string_t&) { return Put(v); }
  bool string(string_t& v) { return Put(std::move(v)); }
  bool binary(binary_t& v) { return Put(Json::binary(std::move(v))); }
  bool start_object(std::size_t) { return Open(Json::object()); }
  bool key(string_t& k) {
    slot_ = &objects_.back()->Slot(k);
    return true;
  }
  bool end_object() { return Close(); }
  bool start_array(std::size_t) { return Open(Json::array()); }
  bool end_array() { return Close(); }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    error_position_ = position;
    error_id_ = e.id;
    error_what_ = e.what();
    return false;
  }

  Json& root() { return root_; }
  size_t error_position() const { return error_position_; }
  int error_id() const { return error_id_; }
  const std::string& error_what() const { return error_what_; }

 private:
  // Where the next value goes: the root, the end of the open array, or the slot of the last key.
  Json* Place(Json&& value) {
    if (open_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    Json& parent = *open_.back();
    if (parent.is_array()) {
      parent.get_ref<Json::array_t&>().push_back(std::move(value));
      return &parent.get_ref<Json::array_t&>().back();
    }
    *slot_ = std::move(value);
    return slot_;
  }
  template <typename V>
  bool Put(V&& v) {
    Place(Json(std::forward<V>(v)));
    return true;
  }
  // A container's parent does not grow while it is open, so the pointers stay valid.
  bool Open(Json&& container) {
    Json* placed = Place(std::move(container));
    open_.push_back(placed);
    objects_.push_back(placed->is_object() ? std::make_unique<ObjectBuilder>(placed) : nullptr);
    return true;
  }
  bool Close() {
    open_.pop_back();
    objects_.pop_back();
    return true;
  }

  Json root_;
  std::vector<Json*> open_;                             // the containers being read, outermost first
  std::vector<std::unique_ptr<ObjectBuilder>> objects_;  // beside open_: the builder of each object
  Json* slot_ = nullptr;
  size_t error_position_ = 0;
  int error_id_ = 0;
  std::string error_what_;
};

}  // namespace

StatusOr<Json> ParseJson(std::string_view text, const std::string& source) {
  if (size_t at = TooDeepAt(text); at != SIZE_MAX)
    return InvalidArgument(LineColumn(text, at, source) + "nested more than " +
                           std::to_string(kMaxDocumentDepth) + " levels deep");
  DomBuilder builder;
  if (Json::sax_parse(text.begin(), text.end(), &builder)) return std::move(builder.root());
  std::string what = builder.error_what();
  if (builder.error_id() >= 100 && builder.error_id() < 200) {  // nlohmann's parse_error: a syntax error
    if (size_t p = what.find("syntax error"); p != std::string::npos) what = what.substr(p);
    return InvalidArgument(LineColumn(text, builder.error_position() - 1, source) + what);
  }
  // Not a syntax error: e.g. out_of_range 406 for a number like 1e99999 (found by
  // tests/serving/fuzz: it escaped this function and terminated `loom serve`).
  if (size_t p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
  return InvalidArgument(source + ": " + what);
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

Status WithFieldLine(const Status& error, const std::string& source, std::string_view text) {
  const std::string& message = error.message();
  const std::string prefix = source + ": ";
  if (error.ok() || message.compare(0, prefix.size(), prefix) != 0) return error;
  auto lines = YamlFieldLines(text);
  if (!lines.ok()) return error;
  const std::string rest = message.substr(prefix.size());
  for (std::string field = rest.substr(0, rest.find(": ")); !field.empty();) {
    if (auto it = lines->find(field); it != lines->end())
      return Status(error.code(), source + ":" + std::to_string(it->second) + ": " + rest);
    const size_t cut = field.find_last_of(".[");
    field = cut == std::string::npos ? "" : field.substr(0, cut);
  }
  return error;
}

std::vector<std::string> SplitYamlDocuments(std::string_view text) {
  std::vector<std::string> docs;
  std::string current;
  bool has_content = false;
  size_t lines_before = 0;  // lines of the stream before the current document's first
  size_t line_no = 0;
  auto finish = [&] {
    if (has_content) docs.push_back(std::string(lines_before, '\n') + current);
    current.clear();
    has_content = false;
    lines_before = line_no;
  };
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string line(text.substr(start, end - start));
    start = end + 1;
    auto marker = [&](const char* m) {
      return line.compare(0, 3, m) == 0 && (line.size() == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r');
    };
    if (marker("---") || marker("...")) {
      const bool starts = marker("---");
      finish();
      ++line_no;
      lines_before = line_no;
      if (starts && line.find_first_not_of(" \t\r", 3) != std::string::npos) {
        line.replace(0, 3, "   ");  // "--- {a: 1}": the document starts on the marker's line
        lines_before = line_no - 1;
        current = line + "\n";
        has_content = true;
      }
      continue;
    }
    ++line_no;
    const size_t first = line.find_first_not_of(" \t\r");
    if (first != std::string::npos && line[first] != '#') has_content = true;
    current += line + "\n";
  }
  finish();
  return docs;
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
