// loom runtime: Kubeflow Trainer's TrainingRuntimes and ClusterTrainingRuntimes kept on this
// machine (job::RuntimeStore under $LOOM_HOME/runtimes), what a TrainJob's runtimeRef names.
// As kubectl:
//   loom runtime apply -f FILE          a ClusterTrainingRuntime or TrainingRuntime manifest
//   loom runtime list                   NAME KIND NAMESPACE FRAMEWORK NODES
//   loom runtime get NAME [-o yaml|json] [--kind K] [--namespace N]
//   loom runtime delete NAME [--kind K] [--namespace N]
// torch-distributed and loom-distributed are built in.
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "core/file.h"
#include "job/trainjob.h"

namespace loom::cli {
namespace {

// kubectl's resource name: clustertrainingruntime.trainer.kubeflow.org/<name>.
std::string Ref(const std::string& kind, const std::string& name) {
  std::string out;
  for (char c : kind) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out + ".trainer.kubeflow.org/" + name;
}

struct Target {
  std::string dir = job::RuntimeStore::DefaultDir();
  std::string kind = "ClusterTrainingRuntime";
  std::string namespace_name = "default";
};

void AddFlags(FlagSet& flags, Target* t, bool naming) {
  flags.String("runtimes_dir", &t->dir, "where runtimes are kept ($LOOM_HOME/runtimes)");
  if (!naming) return;
  flags.String("kind", &t->kind, "ClusterTrainingRuntime or TrainingRuntime");
  flags.String("namespace", &t->namespace_name, "a TrainingRuntime's namespace");
}

Status CheckKind(const Target& t) {
  if (t.kind != "ClusterTrainingRuntime" && t.kind != "TrainingRuntime")
    return InvalidArgument("--kind: \"" + t.kind + "\" is not ClusterTrainingRuntime or TrainingRuntime");
  return OkStatus();
}

int RuntimeApply(const Args& args) {
  Target t;
  std::string file;
  FlagSet flags("loom runtime apply -f FILE [flags]");
  flags.String("f", &file, "a ClusterTrainingRuntime or TrainingRuntime manifest, YAML or JSON");
  AddFlags(flags, &t, false);
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "runtime apply", &code)) return code;
  if (file.empty() || !positional.empty()) return Fail("runtime apply", InvalidArgument("expected -f FILE"));
  auto doc = ReadJsonOrYamlFile(file);
  if (!doc.ok()) return Fail("runtime apply", doc.status());
  job::RuntimeStore store(t.dir);
  const std::string kind = doc->is_object() ? doc->value("kind", "") : "";
  const std::string name = doc->is_object() && doc->contains("metadata") && (*doc)["metadata"].is_object()
                               ? (*doc)["metadata"].value("name", "")
                               : "";
  const std::string ns = kind == "TrainingRuntime" && (*doc)["metadata"].contains("namespace")
                             ? (*doc)["metadata"].value("namespace", "default")
                             : "default";
  auto before = store.Get(kind, ns, name);
  const bool existed = before.ok() && !before->built_in;
  auto applied = store.Apply(*doc, file);
  if (!applied.ok()) return Fail("runtime apply", applied.status());
  std::cout << Ref(applied->kind, applied->name) << (existed ? " configured" : " created") << std::endl;
  return 0;
}

int RuntimeList(const Args& args) {
  Target t;
  FlagSet flags("loom runtime list [flags]");
  AddFlags(flags, &t, false);
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "runtime list", &code)) return code;
  auto list = job::RuntimeStore(t.dir).List();
  if (!list.ok()) return Fail("runtime list", list.status());
  printf("%-28s %-24s %-12s %-10s %s\n", "NAME", "KIND", "NAMESPACE", "FRAMEWORK", "NODES");
  for (const job::TrainingRuntime& rt : *list)
    printf("%-28s %-24s %-12s %-10s %d%s\n", rt.name.c_str(), rt.kind.c_str(),
           rt.namespace_name.empty() ? "-" : rt.namespace_name.c_str(), rt.framework.empty() ? "-" : rt.framework.c_str(),
           rt.num_nodes, rt.built_in ? " (built in)" : "");
  return 0;
}

int RuntimeGet(const Args& args) {
  Target t;
  std::string output = "yaml";
  FlagSet flags("loom runtime get NAME [flags]");
  AddFlags(flags, &t, true);
  flags.String("o", &output, "yaml or json");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "runtime get", &code)) return code;
  if (positional.size() != 1) return Fail("runtime get", InvalidArgument("expected one runtime name"));
  if (Status s = CheckKind(t); !s.ok()) return Fail("runtime get", s);
  if (output != "yaml" && output != "json") return Fail("runtime get", InvalidArgument("-o: \"" + output + "\" is not yaml or json"));
  auto rt = job::RuntimeStore(t.dir).Get(t.kind, t.namespace_name, positional[0]);
  if (!rt.ok()) return Fail("runtime get", rt.status());
  std::cout << (output == "json" ? rt->manifest.dump(2) + "\n" : ToYaml(rt->manifest)) << std::flush;
  return 0;
}

int RuntimeDelete(const Args& args) {
  Target t;
  FlagSet flags("loom runtime delete NAME [flags]");
  AddFlags(flags, &t, true);
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "runtime delete", &code)) return code;
  if (positional.size() != 1) return Fail("runtime delete", InvalidArgument("expected one runtime name"));
  if (Status s = CheckKind(t); !s.ok()) return Fail("runtime delete", s);
  job::RuntimeStore store(t.dir);
  if (Status s = store.Delete(t.kind, t.namespace_name, positional[0]); !s.ok()) return Fail("runtime delete", s);
  const std::string ref = Ref(t.kind, positional[0]);
  std::cout << ref.substr(0, ref.find('/')) << " \"" << positional[0] << "\" deleted" << std::endl;
  return 0;
}

}  // namespace

int RunRuntime(const Args& args) {
  const std::string usage =
      "usage: loom runtime apply -f FILE | list | get NAME [-o yaml|json] | delete NAME  "
      "([--kind TrainingRuntime --namespace N] for a namespaced one)\n";
  if (args.empty()) {
    fputs(usage.c_str(), stderr);
    return 2;
  }
  const Args rest(args.begin() + 1, args.end());
  if (args[0] == "apply") return RuntimeApply(rest);
  if (args[0] == "list") return RuntimeList(rest);
  if (args[0] == "get") return RuntimeGet(rest);
  if (args[0] == "delete") return RuntimeDelete(rest);
  if (args[0] == "--help" || args[0] == "-h") {
    fputs(usage.c_str(), stdout);
    return 0;
  }
  fprintf(stderr, "loom runtime: unknown subcommand \"%s\"\n%s", args[0].c_str(), usage.c_str());
  return 2;
}

}  // namespace loom::cli
