#include "serving/model_config.h"

#include <cctype>

#include "core/file.h"

namespace loom::serving {
namespace {

class ProtoTextParser {
 public:
  ProtoTextParser(const std::string& text, const std::string& source) : t_(text), source_(source) {}

  StatusOr<Json> Parse() {
    Json root = Json::object();
    LOOM_RETURN_IF_ERROR(ParseFields(&root, /*until_brace=*/false));
    return root;
  }

 private:
  Status Error(const std::string& what) const {
    int line = 1;
    for (size_t i = 0; i < pos_ && i < t_.size(); ++i) line += t_[i] == '\n';
    return InvalidArgument(source_ + ": line " + std::to_string(line) + ": " + what);
  }
  void Skip() {
    while (pos_ < t_.size()) {
      char c = t_[pos_];
      if (c == '#') {
        while (pos_ < t_.size() && t_[pos_] != '\n') ++pos_;
      } else if (std::isspace(static_cast<unsigned char>(c)) || c == ',' || c == ';') {
        ++pos_;
      } else {
        break;
      }
    }
  }
  std::string Identifier() {
    size_t start = pos_;
    while (pos_ < t_.size() && (std::isalnum(static_cast<unsigned char>(t_[pos_])) || t_[pos_] == '_' ||
                                t_[pos_] == '.' || t_[pos_] == '-' || t_[pos_] == '+'))
      ++pos_;
    return t_.substr(start, pos_ - start);
  }
  static void Add(Json* obj, const std::string& key, Json value) {
    if (!obj->contains(key)) {
      (*obj)[key] = std::move(value);
      return;
    }
    Json& existing = (*obj)[key];
    if (!existing.is_array()) {
      Json list = Json::array({existing});
      existing = std::move(list);
    }
    existing.push_back(std::move(value));
  }
  Status ParseFields(Json* obj, bool until_brace) {
    while (true) {
      Skip();
      if (pos_ >= t_.size()) {
        if (until_brace) return Error("missing '}'");
        return OkStatus();
      }
      if (t_[pos_] == '}') {
        if (!until_brace) return Error("unexpected '}'");
        ++pos_;
        return OkStatus();
      }
      std::string name = Identifier();
      if (name.empty()) return Error(std::string("unexpected '") + t_[pos_] + "'");
      Skip();
      bool colon = pos_ < t_.size() && t_[pos_] == ':';
      if (colon) {
        ++pos_;
        Skip();
      }
      if (pos_ < t_.size() && (t_[pos_] == '{' || t_[pos_] == '<')) {
        ++pos_;
        Json child = Json::object();
        LOOM_RETURN_IF_ERROR(ParseFields(&child, true));
        Add(obj, name, std::move(child));
        continue;
      }
      if (!colon) return Error("field " + name + ": expected ':' or '{'");
      if (pos_ >= t_.size()) return Error("field " + name + ": missing value");
      char q = t_[pos_];
      if (q == '"' || q == '\'') {
        ++pos_;
        std::string s;
        while (pos_ < t_.size() && t_[pos_] != q) {
          if (t_[pos_] == '\\' && pos_ + 1 < t_.size()) ++pos_;
          s += t_[pos_++];
        }
        if (pos_ >= t_.size()) return Error("field " + name + ": unterminated string");
        ++pos_;
        Add(obj, name, s);
        continue;
      }
      std::string word = Identifier();
      if (word.empty()) return Error("field " + name + ": missing value");
      if (word == "true" || word == "false") {
        Add(obj, name, word == "true");
      } else if (std::isdigit(static_cast<unsigned char>(word[0])) || word[0] == '-' || word[0] == '+') {
        try {
          size_t used = 0;
          long long v = std::stoll(word, &used);
          if (used == word.size()) {
            Add(obj, name, static_cast<int64_t>(v));
            continue;
          }
          double d = std::stod(word, &used);
          if (used != word.size()) return Error("field " + name + ": bad number " + word);
          Add(obj, name, d);
        } catch (...) {
          return Error("field " + name + ": bad number " + word);
        }
      } else {
        Add(obj, name, word);  // an enum value
      }
    }
  }

  const std::string& t_;
  const std::string& source_;
  size_t pos_ = 0;
};

// A repeated field: absent -> [], one value -> [value], a list as is.
Json AsList(const Json& j) {
  if (j.is_null()) return Json::array();
  if (j.is_array()) return j;
  return Json::array({j});
}

StatusOr<int64_t> PositiveInt(const Json& j, const std::string& field) {
  if (j.is_number_integer() && j.get<int64_t>() > 0) return j.get<int64_t>();
  if (j.is_string()) {
    try {
      size_t used = 0;
      long long v = std::stoll(j.get<std::string>(), &used);
      if (used == j.get<std::string>().size() && v > 0) return static_cast<int64_t>(v);
    } catch (...) {
    }
  }
  return InvalidArgument(field + ": " + j.dump() + " is not a positive integer");
}

}  // namespace

StatusOr<Json> ParseProtoText(const std::string& text, const std::string& source) {
  return ProtoTextParser(text, source).Parse();
}

StatusOr<std::vector<ModelConfig>> ModelConfigsFromJson(const Json& config, const std::string& source) {
  const std::string root = source + ": model_config_list";
  if (!config.is_object() || !config.contains("model_config_list"))
    return InvalidArgument(root + ": missing (the file must hold model_config_list { config { ... } })");
  const Json& list = config["model_config_list"];
  if (!list.is_object()) return InvalidArgument(root + ": must be a message");
  std::vector<ModelConfig> out;
  Json configs = AsList(list.contains("config") ? list["config"] : Json());
  if (configs.empty()) return InvalidArgument(root + ".config: no models");
  for (size_t i = 0; i < configs.size(); ++i) {
    const std::string f = JoinField(root + ".config", i);
    const Json& c = configs[i];
    if (!c.is_object()) return InvalidArgument(f + ": must be a message");
    ModelConfig m;
    if (!c.contains("name") || !c["name"].is_string() || c["name"].get<std::string>().empty())
      return InvalidArgument(f + ".name: must be set");
    m.name = c["name"];
    if (!c.contains("base_path") || !c["base_path"].is_string() || c["base_path"].get<std::string>().empty())
      return InvalidArgument(f + ".base_path: must be set");
    m.base_path = c["base_path"];
    if (c.contains("model_platform") && c["model_platform"] != "tensorflow" && c["model_platform"] != "loom")
      return InvalidArgument(f + ".model_platform: " + c["model_platform"].dump() +
                             " is not served here (tensorflow or loom: Loom bundles)");
    if (c.contains("model_version_policy")) {
      const Json& p = c["model_version_policy"];
      const std::string pf = f + ".model_version_policy";
      if (!p.is_object() || p.size() != 1)
        return InvalidArgument(pf + ": must hold exactly one of latest, all, specific");
      if (p.contains("latest")) {
        m.policy.kind = VersionPolicy::Kind::kLatest;
        const Json& l = p["latest"];
        if (l.is_object() && l.contains("num_versions")) {
          LOOM_ASSIGN_OR_RETURN(int64_t n, PositiveInt(l["num_versions"], pf + ".latest.num_versions"));
          m.policy.num_versions = static_cast<int>(n);
        }
      } else if (p.contains("all")) {
        m.policy.kind = VersionPolicy::Kind::kAll;
      } else if (p.contains("specific")) {
        m.policy.kind = VersionPolicy::Kind::kSpecific;
        const Json& s = p["specific"];
        Json versions = AsList(s.is_object() && s.contains("versions") ? s["versions"] : Json());
        if (versions.empty()) return InvalidArgument(pf + ".specific.versions: must list versions");
        for (size_t k = 0; k < versions.size(); ++k) {
          LOOM_ASSIGN_OR_RETURN(int64_t v, PositiveInt(versions[k], JoinField(pf + ".specific.versions", k)));
          m.policy.versions.push_back(v);
        }
      } else {
        return InvalidArgument(pf + ": " + p.begin().key() + " is not latest, all or specific");
      }
    }
    if (c.contains("version_labels")) {
      const Json& labels = c["version_labels"];
      const std::string lf = f + ".version_labels";
      // Protobuf text: entries {key: 'stable' value: 1}; YAML: a map {stable: 1}.
      bool entries = labels.is_array() || (labels.is_object() && labels.contains("key") && labels.contains("value"));
      if (entries) {
        Json list_of = AsList(labels);
        for (size_t k = 0; k < list_of.size(); ++k) {
          const Json& e = list_of[k];
          if (!e.is_object() || !e.contains("key") || !e["key"].is_string() || !e.contains("value"))
            return InvalidArgument(JoinField(lf, k) + ": must be {key: ..., value: ...}");
          LOOM_ASSIGN_OR_RETURN(int64_t v, PositiveInt(e["value"], JoinField(lf, k) + ".value"));
          m.version_labels[e["key"]] = v;
        }
      } else if (labels.is_object()) {
        for (auto it = labels.begin(); it != labels.end(); ++it) {
          LOOM_ASSIGN_OR_RETURN(int64_t v, PositiveInt(it.value(), lf + "." + it.key()));
          m.version_labels[it.key()] = v;
        }
      } else {
        return InvalidArgument(lf + ": must be a map of label to version");
      }
    }
    for (const ModelConfig& other : out)
      if (other.name == m.name) return InvalidArgument(f + ".name: \"" + m.name + "\" is configured twice");
    out.push_back(std::move(m));
  }
  return out;
}

StatusOr<std::vector<ModelConfig>> ReadModelConfigFile(const std::string& path) {
  auto ends = [&](const std::string& s) {
    return path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0;
  };
  Json config;
  if (ends(".yaml") || ends(".yml") || ends(".json")) {
    LOOM_ASSIGN_OR_RETURN(config, ReadJsonOrYamlFile(path));
  } else {
    LOOM_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
    LOOM_ASSIGN_OR_RETURN(config, ParseProtoText(text, path));
  }
  return ModelConfigsFromJson(config, path);
}

}  // namespace loom::serving
