// loom secret and loom configmap: Kubernetes Secrets and ConfigMaps kept on this machine
// (container::ConfigStore under $LOOM_HOME/objects), what pods read through secretKeyRef,
// configMapKeyRef and envFrom, and workflows through valueFrom.configMapKeyRef. As kubectl:
//   loom secret create NAME --from-literal k=v [--from-file [k=]path]... [--type T]
//   loom secret create -f FILE         a `kind: Secret` manifest
//   loom secret list                   NAME TYPE DATA AGE
//   loom secret get NAME               kubectl describe's shape: labels, annotations, its keys
//                                      and their sizes, never the values
//   loom secret delete NAME
//   loom configmap create|list|get|delete   the same for ConfigMaps (get prints the object)
// Each takes -n/--namespace (default: default). A Secret's values are never printed. Both kinds are also `loom apply` kinds (AddConfigKinds).
#include <cstdio>
#include <ctime>
#include <iostream>

#include "commands.h"
#include "container/config_store.h"
#include "core/file.h"
#include "core/time.h"
#include "core/yaml_lines.h"
#include "kinds.h"

namespace loom::cli {
namespace {

container::ConfigStore Store(const std::string& ns) { return container::ConfigStore(JoinPath(LoomHome(), "objects"), ns); }

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

using container::ConfigKind;

// "secret" / "configmap": the command's name and kubectl's singular resource name.
std::string Noun(ConfigKind kind) { return kind == ConfigKind::kSecret ? "secret" : "configmap"; }

int SecretCreate(Args args, ConfigKind kind) {
  const std::string cmd = Noun(kind) + " create";
  const std::vector<std::string> literals = TakeRepeated(args, "from-literal");
  const std::vector<std::string> files = TakeRepeated(args, "from-file");
  std::string manifest_file, type = "Opaque", ns = "default";
  FlagSet flags("loom " + cmd + " NAME --from-literal k=v... | -f FILE");
  NamespaceFlags(flags, &ns);
  flags.String("f", &manifest_file, "a kind: " + std::string(container::KindName(kind)) + " manifest, YAML or JSON");
  if (kind == ConfigKind::kSecret) flags.String("type", &type, "the Secret's type");
  // Listed for --help; taken out above because they repeat.
  std::string unused;
  flags.String("from-literal", &unused, "key=value (repeatable)");
  flags.String("from-file", &unused, "[key=]path: the file's bytes, under its base name by default (repeatable)");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, cmd.c_str(), &code)) return code;
  container::ConfigObject object;
  object.kind = kind;
  if (!manifest_file.empty()) {
    if (!positional.empty() || !literals.empty() || !files.empty()) {
      return Fail(cmd.c_str(), InvalidArgument("-f takes the whole object: no NAME, --from-literal or --from-file with it"));
    }
    auto doc = ReadJsonOrYamlFile(manifest_file);
    if (!doc.ok()) return Fail(cmd.c_str(), doc.status());
    auto parsed = container::ConfigObjectFromManifest(*doc, manifest_file);
    if (!parsed.ok()) return Fail(cmd.c_str(), parsed.status());
    if (parsed->kind != kind) {
      return Fail(cmd.c_str(), InvalidArgument(manifest_file + ": kind: expected " + container::KindName(kind) +
                                               " (loom apply -f takes any kind)"));
    }
    const bool ns_given = flags.IsSet("n") || flags.IsSet("namespace");
    if (ns_given && (*doc).contains("metadata") && (*doc)["metadata"].is_object() &&
        (*doc)["metadata"].contains("namespace") && parsed->namespace_name != ns) {
      return Fail(cmd.c_str(), InvalidArgument(manifest_file + ": metadata.namespace: \"" + parsed->namespace_name +
                                               "\" does not match -n " + ns));
    }
    if (ns_given) parsed->namespace_name = ns;
    object = std::move(*parsed);
  } else {
    if (positional.size() != 1) return Fail(cmd.c_str(), InvalidArgument("expected one NAME (or -f FILE)"));
    object.name = positional[0];
    object.namespace_name = ns;
    object.type = kind == ConfigKind::kSecret ? type : "";
    auto add = [&](const std::string& key, std::string value, const std::string& flag) -> Status {
      LOOM_RETURN_IF_ERROR(container::ValidateConfigKey(key, flag));
      if (object.data.count(key)) return InvalidArgument(flag + ": cannot add key " + key + ", another key by that name already exists");
      object.data[key] = std::move(value);
      return OkStatus();
    };
    for (const std::string& l : literals) {
      const size_t eq = l.find('=');
      if (eq == std::string::npos || eq == 0) {
        return Fail(cmd.c_str(), InvalidArgument("--from-literal: \"" + l.substr(0, l.find('=')) + "\": expected key=value"));
      }
      if (Status s = add(l.substr(0, eq), l.substr(eq + 1), "--from-literal"); !s.ok()) return Fail(cmd.c_str(), s);
    }
    for (const std::string& f : files) {
      const size_t eq = f.find('=');
      const std::string path = eq == std::string::npos ? f : f.substr(eq + 1);
      const std::string key = eq == std::string::npos ? path.substr(path.rfind('/') + 1) : f.substr(0, eq);
      auto bytes = ReadFile(path);
      if (!bytes.ok()) return Fail(cmd.c_str(), bytes.status());
      if (Status s = add(key, std::move(*bytes), "--from-file"); !s.ok()) return Fail(cmd.c_str(), s);
    }
  }
  container::ConfigStore store = Store(object.namespace_name);
  if (Status s = store.Put(object, false); !s.ok()) return Fail(cmd.c_str(), s);
  std::cout << Noun(kind) << "/" << object.name << " created" << std::endl;
  return 0;
}

int SecretList(const Args& args, ConfigKind kind) {
  const std::string cmd = Noun(kind) + " list";
  FlagSet flags("loom " + cmd);
  std::string ns = "default";
  NamespaceFlags(flags, &ns);
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, cmd.c_str(), &code)) return code;
  if (Status s = container::ValidateNamespace(ns, "-n"); !s.ok()) return Fail(cmd.c_str(), s);
  auto objects = Store(ns).List(kind);
  if (!objects.ok()) return Fail(cmd.c_str(), objects.status());
  if (objects->empty()) {
    std::cerr << "No resources found in " << ns << " namespace." << std::endl;
    return 0;
  }
  const bool secret = kind == ConfigKind::kSecret;
  if (secret) {
    printf("%-30s %-10s %-6s %s\n", "NAME", "TYPE", "DATA", "AGE");
  } else {
    printf("%-30s %-6s %s\n", "NAME", "DATA", "AGE");
  }
  const double now = static_cast<double>(std::time(nullptr));
  for (const container::ConfigObject& s : *objects) {
    const double created = ParseRfc3339(s.creation_timestamp);
    const std::string age = created > 0 ? KubeAge(static_cast<int64_t>(now - created)) : "<unknown>";
    if (secret) {
      printf("%-30s %-10s %-6zu %s\n", s.name.c_str(), s.type.c_str(), s.data.size(), age.c_str());
    } else {
      printf("%-30s %-6zu %s\n", s.name.c_str(), s.data.size(), age.c_str());
    }
  }
  return 0;
}

int SecretGet(const Args& args, ConfigKind kind) {
  const std::string cmd = Noun(kind) + " get";
  FlagSet flags("loom " + cmd + " NAME");
  std::string ns = "default";
  NamespaceFlags(flags, &ns);
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, cmd.c_str(), &code)) return code;
  if (positional.size() != 1) return Fail(cmd.c_str(), InvalidArgument("expected one NAME"));
  auto s = Store(ns).Get(kind, positional[0]);
  if (!s.ok()) return Fail(cmd.c_str(), s.status());
  if (kind == ConfigKind::kConfigMap) {  // kubectl get configmap NAME -o yaml
    std::cout << ToYaml(container::ConfigObjectToManifest(*s)) << std::flush;
    return 0;
  }
  // kubectl describe's shape: sizes, not values.
  auto map_lines = [](const char* title, const std::map<std::string, std::string>& m) {
    printf("%-14s", title);
    if (m.empty()) printf("<none>\n");
    bool first = true;
    for (const auto& [k, v] : m) {
      printf("%s%s=%s\n", first ? "" : "              ", k.c_str(), v.c_str());
      first = false;
    }
  };
  printf("Name:         %s\nNamespace:    %s\n", s->name.c_str(), s->namespace_name.c_str());
  map_lines("Labels:", s->labels);
  map_lines("Annotations:", s->annotations);
  printf("\nType:  %s\n\nData\n====\n", s->type.c_str());
  for (const auto& [k, v] : s->data) printf("%s:  %zu bytes\n", k.c_str(), v.size());
  return 0;
}

int SecretDelete(const Args& args, ConfigKind kind) {
  const std::string cmd = Noun(kind) + " delete";
  FlagSet flags("loom " + cmd + " NAME");
  std::string ns = "default";
  NamespaceFlags(flags, &ns);
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, cmd.c_str(), &code)) return code;
  if (positional.size() != 1) return Fail(cmd.c_str(), InvalidArgument("expected one NAME"));
  container::ConfigStore store = Store(ns);
  if (Status s = store.Delete(kind, positional[0]); !s.ok()) return Fail(cmd.c_str(), s);
  std::cout << Noun(kind) << " \"" << positional[0] << "\" deleted" << std::endl;
  return 0;
}

// loom secret / loom configmap.
int RunConfigCommand(const Args& args, ConfigKind kind) {
  const std::string noun = Noun(kind);
  const std::string usage = "usage: loom " + noun + " create NAME --from-literal k=v... [--from-file [k=]path]..." +
                            (kind == ConfigKind::kSecret ? " [--type T]" : "") +
                            " | create -f FILE | list | get NAME | delete NAME\n";
  if (args.empty()) {
    fputs(usage.c_str(), stderr);
    return 2;
  }
  const Args rest(args.begin() + 1, args.end());
  if (args[0] == "create") return SecretCreate(rest, kind);
  if (args[0] == "list") return SecretList(rest, kind);
  if (args[0] == "get") return SecretGet(rest, kind);
  if (args[0] == "delete") return SecretDelete(rest, kind);
  if (args[0] == "--help" || args[0] == "-h") {
    fputs(usage.c_str(), stdout);
    return 0;
  }
  fprintf(stderr, "loom %s: unknown subcommand \"%s\"\n%s", noun.c_str(), args[0].c_str(), usage.c_str());
  return 2;
}

// `loom apply` of a Secret or ConfigMap, in its metadata.namespace: created, configured (its
// data, type, labels or annotations differ; its creation time kept) or unchanged.
StatusOr<std::pair<std::string, std::string>> ApplyConfig(const Document& doc) {
  auto parsed = container::ConfigObjectFromManifest(doc.object, doc.source);
  if (!parsed.ok()) return WithFieldLine(parsed.status(), doc.source, doc.text);
  container::ConfigStore store = Store(parsed->namespace_name);
  auto old = store.Get(parsed->kind, parsed->name);
  if (!old.ok() && old.status().code() != StatusCode::kNotFound) return old.status();
  if (old.ok() && old->data == parsed->data && old->type == parsed->type && old->labels == parsed->labels &&
      old->annotations == parsed->annotations) {
    return std::make_pair(parsed->name, std::string("unchanged"));
  }
  if (old.ok()) parsed->creation_timestamp = old->creation_timestamp;
  LOOM_RETURN_IF_ERROR(store.Put(*parsed, true));
  return std::make_pair(parsed->name, std::string(old.ok() ? "configured" : "created"));
}

}  // namespace

int RunSecret(const Args& args) { return RunConfigCommand(args, ConfigKind::kSecret); }
int RunConfigMap(const Args& args) { return RunConfigCommand(args, ConfigKind::kConfigMap); }

void AddConfigKinds(std::vector<KindHandler>* kinds) {
  for (ConfigKind kind : {ConfigKind::kConfigMap, ConfigKind::kSecret}) {
    kinds->push_back({container::KindName(kind), "", {"v1"}, ApplyConfig,
                      [kind](const std::string& ns, const std::string& name) { return Store(ns).Delete(kind, name); }});
  }
}

}  // namespace loom::cli
