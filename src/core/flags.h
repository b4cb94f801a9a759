// Command-line flags in the style of absl/TF flags, as mnist_replica.py and TF Serving take them:
// --name=value, --name value, --bool_flag, --bool_flag=false, --nobool_flag. Only tools/ use it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace loom {

class FlagSet {
 public:
  // `usage` is the first line of --help, e.g. "loom train [flags]".
  explicit FlagSet(std::string usage) : usage_(std::move(usage)) {}

  // Each registers a flag writing into *value; the value there beforehand is the default.
  void String(const std::string& name, std::string* value, const std::string& help);
  void Int(const std::string& name, int64_t* value, const std::string& help);
  void Int(const std::string& name, int* value, const std::string& help);
  void Float(const std::string& name, double* value, const std::string& help);
  void Bool(const std::string& name, bool* value, const std::string& help);

  // What --help shows as a registered flag's default, when its value depends on the machine or
  // the run (a path in the source tree, a random name).
  void SetDefaultText(const std::string& name, std::string text);

  // Parses args (without the program and subcommand names). Non-flag arguments, and everything
  // after "--", go to `positional`. Errors name the flag: `--batch_size: "x" is not an integer`.
  Status Parse(const std::vector<std::string>& args, std::vector<std::string>* positional);
  // True when --help or -h was given; the caller prints Help() and exits 0.
  bool help_requested() const { return help_requested_; }
  // True when the flag appeared on the command line.
  bool IsSet(const std::string& name) const;
  std::string Help() const;
  // The same as Help() in Markdown: the usage, then a table of flag, default and meaning.
  std::string Markdown() const;

 private:
  enum class Kind { kString, kInt64, kInt32, kFloat, kBool };
  struct Flag {
    Kind kind;
    void* target;
    std::string help;
    std::string default_text;
    bool set = false;
  };
  void Add(const std::string& name, Kind kind, void* target, const std::string& help,
           std::string default_text);
  Status Assign(const std::string& name, Flag& flag, const std::string& text);

  std::string usage_;
  std::map<std::string, Flag> flags_;
  std::vector<std::string> order_;
  bool help_requested_ = false;
};

}  // namespace loom
