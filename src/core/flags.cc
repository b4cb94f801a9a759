#include "core/flags.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace loom {

void FlagSet::Add(const std::string& name, Kind kind, void* target, const std::string& help,
                  std::string default_text) {
  flags_[name] = Flag{kind, target, help, std::move(default_text)};
  order_.push_back(name);
}

void FlagSet::String(const std::string& name, std::string* value, const std::string& help) {
  Add(name, Kind::kString, value, help, "\"" + *value + "\"");
}
void FlagSet::Int(const std::string& name, int64_t* value, const std::string& help) {
  Add(name, Kind::kInt64, value, help, std::to_string(*value));
}
void FlagSet::Int(const std::string& name, int* value, const std::string& help) {
  Add(name, Kind::kInt32, value, help, std::to_string(*value));
}
void FlagSet::Float(const std::string& name, double* value, const std::string& help) {
  std::ostringstream s;
  s << *value;
  Add(name, Kind::kFloat, value, help, s.str());
}
void FlagSet::Bool(const std::string& name, bool* value, const std::string& help) {
  Add(name, Kind::kBool, value, help, *value ? "true" : "false");
}

void FlagSet::SetDefaultText(const std::string& name, std::string text) {
  flags_.at(name).default_text = std::move(text);
}

bool FlagSet::IsSet(const std::string& name) const {
  auto it = flags_.find(name);
  return it != flags_.end() && it->second.set;
}

Status FlagSet::Assign(const std::string& name, Flag& flag, const std::string& text) {
  const std::string where = "--" + name;
  switch (flag.kind) {
    case Kind::kString:
      *static_cast<std::string*>(flag.target) = text;
      break;
    case Kind::kInt64:
    case Kind::kInt32: {
      errno = 0;
      char* end = nullptr;
      long long v = std::strtoll(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || errno == ERANGE)
        return InvalidArgument(where + ": \"" + text + "\" is not an integer");
      if (flag.kind == Kind::kInt32) {
        if (v < INT32_MIN || v > INT32_MAX) return InvalidArgument(where + ": " + text + " is out of range");
        *static_cast<int*>(flag.target) = static_cast<int>(v);
      } else {
        *static_cast<int64_t*>(flag.target) = v;
      }
      break;
    }
    case Kind::kFloat: {
      char* end = nullptr;
      double v = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0' || !std::isfinite(v))
        return InvalidArgument(where + ": \"" + text + "\" is not a number");
      *static_cast<double*>(flag.target) = v;
      break;
    }
    case Kind::kBool:
      if (text == "true" || text == "1" || text == "True") {
        *static_cast<bool*>(flag.target) = true;
      } else if (text == "false" || text == "0" || text == "False") {
        *static_cast<bool*>(flag.target) = false;
      } else {
        return InvalidArgument(where + ": \"" + text + "\" is not true or false");
      }
      break;
  }
  flag.set = true;
  return OkStatus();
}

Status FlagSet::Parse(const std::vector<std::string>& args, std::vector<std::string>* positional) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      positional->insert(positional->end(), args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    }
    if (arg == "--help" || arg == "-h" || arg == "-help") {
      help_requested_ = true;
      continue;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      positional->push_back(arg);
      continue;
    }
    std::string body = arg.substr(arg[1] == '-' ? 2 : 1);
    std::string name = body, value;
    bool has_value = false;
    if (size_t eq = body.find('='); eq != std::string::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    auto it = flags_.find(name);
    if (it == flags_.end() && !has_value && name.rfind("no", 0) == 0) {
      auto neg = flags_.find(name.substr(2));
      if (neg != flags_.end() && neg->second.kind == Kind::kBool) {
        LOOM_RETURN_IF_ERROR(Assign(neg->first, neg->second, "false"));
        continue;
      }
    }
    if (it == flags_.end()) return InvalidArgument("unknown flag --" + name + " (see --help)");
    Flag& flag = it->second;
    if (!has_value) {
      if (flag.kind == Kind::kBool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return InvalidArgument("--" + name + ": missing value");
      }
    }
    LOOM_RETURN_IF_ERROR(Assign(name, flag, value));
  }
  return OkStatus();
}

namespace {
// "-o" for a one-letter flag (as kubectl and argo spell them), "--name" otherwise; both parse.
const char* Dashes(const std::string& name) { return name.size() == 1 ? "-" : "--"; }
}  // namespace

std::string FlagSet::Help() const {
  std::ostringstream out;
  out << "usage: " << usage_ << "\n\nflags:\n";
  for (const std::string& name : order_) {
    const Flag& f = flags_.at(name);
    out << "  " << Dashes(name) << name << " (default " << f.default_text << ")\n      " << f.help << "\n";
  }
  return out.str();
}

namespace {
// A table cell: '|' escaped, so help text with a pipe stays one cell, and '<' '>' as entities,
// so "<export_dir>" is not taken for HTML.
std::string Cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += "\\|";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else out += c;
  }
  return out;
}
}  // namespace

std::string FlagSet::Markdown() const {
  std::ostringstream out;
  if (usage_.find('\n') == std::string::npos) {
    out << "usage: `" << usage_ << "`\n";
  } else {
    out << "```text\n" << usage_ << "\n```\n";
  }
  if (order_.empty()) return out.str();
  out << "\n| flag | default | meaning |\n|---|---|---|\n";
  for (const std::string& name : order_) {
    const Flag& f = flags_.at(name);
    out << "| `" << Dashes(name) << name << "` | " << Cell(f.default_text) << " | " << Cell(f.help) << " |\n";
  }
  return out.str();
}

}  // namespace loom
