// loom secret: Kubernetes Secrets kept on this machine (container::ConfigStore under
// $LOOM_HOME/objects), what pods read through secretKeyRef and envFrom. As kubectl:
//   loom secret create NAME --from-literal k=v [--from-file [k=]path]... [--type T]
//   loom secret create -f FILE         a `kind: Secret` (or ConfigMap) manifest
//   loom secret list                   NAME TYPE DATA AGE
//   loom secret get NAME               its keys and their sizes, never the values
//   loom secret delete NAME
// Values are never printed.
#include <cstdio>
#include <ctime>
#include <iostream>

#include "commands.h"
#include "container/config_store.h"
#include "core/file.h"
#include "core/time.h"

namespace loom::cli {
namespace {

container::ConfigStore Store() { return container::ConfigStore(JoinPath(LoomHome(), "objects")); }

// Pulls every `--name v` / `--name=v` out of args (FlagSet keeps one value per flag).
std::vector<std::string> TakeRepeated(Args& args, const std::string& name) {
  std::vector<std::string> values;
  Args rest;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--" + name && i + 1 < args.size()) {
      values.push_back(args[++i]);
    } else if (a.rfind("--" + name + "=", 0) == 0) {
      values.push_back(a.substr(name.size() + 3));
    } else {
      rest.push_back(a);
    }
  }
  args = rest;
  return values;
}

int SecretCreate(Args args) {
  const std::vector<std::string> literals = TakeRepeated(args, "from-literal");
  const std::vector<std::string> files = TakeRepeated(args, "from-file");
  std::string manifest_file, type = "Opaque";
  FlagSet flags("loom secret create NAME --from-literal k=v... | -f FILE");
  flags.String("f", &manifest_file, "a kind: Secret (or ConfigMap) manifest, YAML or JSON");
  flags.String("type", &type, "the Secret's type");
  // Listed for --help; taken out above because they repeat.
  std::string unused;
  flags.String("from-literal", &unused, "key=value (repeatable)");
  flags.String("from-file", &unused, "[key=]path: the file's bytes, under its base name by default (repeatable)");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "secret create", &code)) return code;
  container::ConfigObject object;
  if (!manifest_file.empty()) {
    if (!positional.empty() || !literals.empty() || !files.empty()) {
      return Fail("secret create", InvalidArgument("-f takes the whole object: no NAME, --from-literal or --from-file with it"));
    }
    auto doc = ReadJsonOrYamlFile(manifest_file);
    if (!doc.ok()) return Fail("secret create", doc.status());
    auto parsed = container::ConfigObjectFromManifest(*doc, manifest_file);
    if (!parsed.ok()) return Fail("secret create", parsed.status());
    object = std::move(*parsed);
  } else {
    if (positional.size() != 1) return Fail("secret create", InvalidArgument("expected one NAME (or -f FILE)"));
    object.name = positional[0];
    object.type = type;
    auto add = [&](const std::string& key, std::string value, const std::string& flag) -> Status {
      LOOM_RETURN_IF_ERROR(container::ValidateConfigKey(key, flag));
      if (object.data.count(key)) return InvalidArgument(flag + ": cannot add key " + key + ", another key by that name already exists");
      object.data[key] = std::move(value);
      return OkStatus();
    };
    for (const std::string& l : literals) {
      const size_t eq = l.find('=');
      if (eq == std::string::npos || eq == 0) {
        return Fail("secret create", InvalidArgument("--from-literal: \"" + l.substr(0, l.find('=')) + "\": expected key=value"));
      }
      if (Status s = add(l.substr(0, eq), l.substr(eq + 1), "--from-literal"); !s.ok()) return Fail("secret create", s);
    }
    for (const std::string& f : files) {
      const size_t eq = f.find('=');
      const std::string path = eq == std::string::npos ? f : f.substr(eq + 1);
      const std::string key = eq == std::string::npos ? path.substr(path.rfind('/') + 1) : f.substr(0, eq);
      auto bytes = ReadFile(path);
      if (!bytes.ok()) return Fail("secret create", bytes.status());
      if (Status s = add(key, std::move(*bytes), "--from-file"); !s.ok()) return Fail("secret create", s);
    }
  }
  container::ConfigStore store = Store();
  if (Status s = store.Put(object, false); !s.ok()) return Fail("secret create", s);
  std::cout << (object.kind == container::ConfigKind::kSecret ? "secret/" : "configmap/") << object.name << " created"
            << std::endl;
  return 0;
}

int SecretList(const Args& args) {
  FlagSet flags("loom secret list");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "secret list", &code)) return code;
  auto secrets = Store().List(container::ConfigKind::kSecret);
  if (!secrets.ok()) return Fail("secret list", secrets.status());
  if (secrets->empty()) {
    std::cerr << "No resources found in default namespace." << std::endl;
    return 0;
  }
  printf("%-30s %-10s %-6s %s\n", "NAME", "TYPE", "DATA", "AGE");
  const double now = static_cast<double>(std::time(nullptr));
  for (const container::ConfigObject& s : *secrets) {
    const double created = ParseRfc3339(s.creation_timestamp);
    printf("%-30s %-10s %-6zu %s\n", s.name.c_str(), s.type.c_str(), s.data.size(),
           created > 0 ? KubeAge(static_cast<int64_t>(now - created)).c_str() : "<unknown>");
  }
  return 0;
}

int SecretGet(const Args& args) {
  FlagSet flags("loom secret get NAME");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "secret get", &code)) return code;
  if (positional.size() != 1) return Fail("secret get", InvalidArgument("expected one NAME"));
  auto s = Store().Get(container::ConfigKind::kSecret, positional[0]);
  if (!s.ok()) return Fail("secret get", s.status());
  // kubectl describe's shape: sizes, not values.
  printf("Name:         %s\nType:         %s\n\nData\n====\n", s->name.c_str(), s->type.c_str());
  for (const auto& [k, v] : s->data) printf("%s:  %zu bytes\n", k.c_str(), v.size());
  return 0;
}

int SecretDelete(const Args& args) {
  FlagSet flags("loom secret delete NAME");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "secret delete", &code)) return code;
  if (positional.size() != 1) return Fail("secret delete", InvalidArgument("expected one NAME"));
  container::ConfigStore store = Store();
  if (Status s = store.Delete(container::ConfigKind::kSecret, positional[0]); !s.ok()) return Fail("secret delete", s);
  std::cout << "secret \"" << positional[0] << "\" deleted" << std::endl;
  return 0;
}

}  // namespace

int RunSecret(const Args& args) {
  const std::string usage =
      "usage: loom secret create NAME --from-literal k=v... [--from-file [k=]path]... [--type T] | create -f FILE | "
      "list | get NAME | delete NAME\n";
  if (args.empty()) {
    fputs(usage.c_str(), stderr);
    return 2;
  }
  const Args rest(args.begin() + 1, args.end());
  if (args[0] == "create") return SecretCreate(rest);
  if (args[0] == "list") return SecretList(rest);
  if (args[0] == "get") return SecretGet(rest);
  if (args[0] == "delete") return SecretDelete(rest);
  if (args[0] == "--help" || args[0] == "-h") {
    fputs(usage.c_str(), stdout);
    return 0;
  }
  fprintf(stderr, "loom secret: unknown subcommand \"%s\"\n%s", args[0].c_str(), usage.c_str());
  return 2;
}

}  // namespace loom::cli
