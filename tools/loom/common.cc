#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "commands.h"
#include "core/file.h"
#include "core/json.h"
#include "storage/s3_store.h"

#ifndef LOOM_SOURCE_DIR
#define LOOM_SOURCE_DIR "."
#endif

namespace loom::cli {
namespace {

// Block-style YAML of a JSON document (strings quoted as JSON, which YAML reads the same).
void EmitYaml(const Json& value, int indent, std::string* out) {
  const std::string pad(static_cast<size_t>(indent), ' ');
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) {
      const Json& v = it.value();
      *out += pad + it.key() + ":";
      if ((v.is_object() || v.is_array()) && !v.empty()) {
        *out += "\n";
        EmitYaml(v, indent + 2, out);
      } else {
        *out += " " + v.dump() + "\n";
      }
    }
  } else if (value.is_array()) {
    for (const Json& v : value) {
      if ((v.is_object() || v.is_array()) && !v.empty()) {
        std::string inner;
        EmitYaml(v, indent + 2, &inner);
        *out += pad + "- " + inner.substr(static_cast<size_t>(indent) + 2);
      } else {
        *out += pad + "- " + v.dump() + "\n";
      }
    }
  } else {
    *out += pad + value.dump() + "\n";
  }
}

}  // namespace

std::string ToYaml(const Json& doc) {
  std::string out;
  EmitYaml(doc, 0, &out);
  return out;
}

namespace {
bool g_help_markdown = false;
}  // namespace

void SetHelpMarkdown(bool markdown) { g_help_markdown = markdown; }

bool ParseFlagsOrExit(FlagSet& flags, const Args& args, std::vector<std::string>* positional,
                      const char* command, int* exit_code) {
  Status s = flags.Parse(args, positional);
  if (!s.ok()) {
    fprintf(stderr, "loom %s: %s\n", command, s.message().c_str());
    *exit_code = 2;
    return false;
  }
  if (flags.help_requested()) {
    std::cout << (g_help_markdown ? flags.Markdown() : flags.Help());
    *exit_code = 0;
    return false;
  }
  return true;
}

std::string KubeAge(int64_t secs) {
  if (secs < 60) return std::to_string(std::max<int64_t>(secs, 0)) + "s";
  if (secs < 3600) return std::to_string(secs / 60) + "m";
  if (secs < 86400) return std::to_string(secs / 3600) + "h";
  return std::to_string(secs / 86400) + "d";
}

StatusOr<workflow::PodRunnerOptions::Runtime> PodRuntimeFlag(const std::string& value) {
  return container::ParsePodRuntime(value, "--pod-runtime");
}

bool LabelSelector::Matches(const Json& labels) const {
  for (const Requirement& r : requirements) {
    const bool has = labels.is_object() && labels.contains(r.key);
    const std::string value = has && labels[r.key].is_string() ? labels[r.key].get<std::string>() : "";
    switch (r.op) {
      case Requirement::kEquals: if (!has || value != r.value) return false; break;
      case Requirement::kNotEquals: if (has && value == r.value) return false; break;
      case Requirement::kExists: if (!has) return false; break;
      case Requirement::kNotExists: if (has) return false; break;
    }
  }
  return true;
}

StatusOr<LabelSelector> ParseLabelSelector(const std::string& text) {
  LabelSelector selector;
  auto trim = [](std::string s) {
    while (!s.empty() && s.front() == ' ') s.erase(0, 1);
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
  };
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    const std::string part = trim(text.substr(start, comma - start));
    start = comma + 1;
    if (part.empty()) {
      if (text.empty()) break;
      return InvalidArgument("--selector \"" + text + "\": an empty requirement");
    }
    LabelSelector::Requirement r;
    size_t op = 0, len = 0;
    if ((op = part.find("!=")) != std::string::npos) {
      r.op = LabelSelector::Requirement::kNotEquals;
      len = 2;
    } else if ((op = part.find("==")) != std::string::npos) {
      r.op = LabelSelector::Requirement::kEquals;
      len = 2;
    } else if ((op = part.find('=')) != std::string::npos) {
      r.op = LabelSelector::Requirement::kEquals;
      len = 1;
    } else if (part[0] == '!') {
      r.op = LabelSelector::Requirement::kNotExists;
      r.key = trim(part.substr(1));
    } else {
      r.op = LabelSelector::Requirement::kExists;
      r.key = part;
    }
    if (len) {
      r.key = trim(part.substr(0, op));
      r.value = trim(part.substr(op + len));
    }
    const bool bad_key = r.key.empty() || r.key.find_first_of(" =!()") != std::string::npos;
    if (bad_key || r.value.find_first_of(" =!()") != std::string::npos) {
      return InvalidArgument("--selector \"" + text + "\": cannot read \"" + part +
                             "\" (requirements are k=v, k==v, k!=v, k or !k, separated by commas)");
    }
    selector.requirements.push_back(std::move(r));
  }
  return selector;
}

void NamespaceFlags(FlagSet& flags, std::string* ns) {
  flags.String("n", ns, "the namespace (default: default)");
  flags.String("namespace", ns, "the namespace (as -n)");
}

int Fail(const char* command, const Status& status) {
  fprintf(stderr, "loom %s: %s\n", command, status.message().c_str());
  return 1;
}

StatusOr<storage::S3Options> S3OptionsFromEnv(const std::string& endpoint_flag, const std::string& region_flag,
                                              bool anonymous) {
  auto env = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v != nullptr ? v : "";
  };
  storage::S3Options o;
  o.endpoint = env("AWS_ENDPOINT_URL");
  if (o.endpoint.empty() && !env("S3_ENDPOINT").empty()) {
    o.endpoint = env("S3_ENDPOINT");
    if (o.endpoint.find("://") == std::string::npos) {
      const std::string https = env("S3_USE_HTTPS");
      o.endpoint = (https == "0" || https == "false" ? "http://" : "https://") + o.endpoint;
    }
  }
  if (!endpoint_flag.empty()) o.endpoint = endpoint_flag;
  o.region = !region_flag.empty() ? region_flag : !env("AWS_REGION").empty() ? env("AWS_REGION") : env("AWS_DEFAULT_REGION");
  if (o.region.empty()) o.region = "us-east-1";
  if (!anonymous) {
    o.access_key = env("AWS_ACCESS_KEY_ID");
    o.secret_key = env("AWS_SECRET_ACCESS_KEY");
    o.session_token = env("AWS_SESSION_TOKEN");
    if (!o.access_key.empty() && o.secret_key.empty())
      return InvalidArgument("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
  }
  const std::string verify = env("S3_VERIFY_SSL");
  if (verify == "0" || verify == "false") o.verify_tls = false;
  return o;
}

std::string DefaultDataDir() {
  if (const char* env = std::getenv("LOOM_MNIST_DIR"); env != nullptr && *env != '\0') return env;
  return JoinPath(LOOM_SOURCE_DIR, "data/mnist");
}

}  // namespace loom::cli
