// loom apply -f FILE / loom delete -f FILE: the objects of a file (several YAML documents, or one
// JSON object; "-" is standard input), each handed to its kind's handler (kinds.h), as kubectl
// apply and delete do: one line per object ("configmap/x created", "workflowtemplate.argoproj.io/y
// unchanged"), every document tried, exit 1 when any failed.
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <iostream>
#include <iterator>

#include "commands.h"
#include "core/file.h"
#include "core/yaml_lines.h"
#include "kinds.h"

namespace loom::cli {
namespace {

std::vector<KindHandler> Registry() {
  std::vector<KindHandler> kinds;
  AddConfigKinds(&kinds);
  AddJobKinds(&kinds);
#ifdef LOOM_HAVE_WORKFLOW
  AddWorkflowKinds(&kinds);
  AddCronKinds(&kinds);
#endif
  return kinds;
}

std::string KindList(const std::vector<KindHandler>& kinds) {
  std::string out;
  for (const KindHandler& k : kinds) out += (out.empty() ? "" : ", ") + k.kind;
  return out;
}

// The documents of one -f argument, each parsed; a document that does not parse is an error
// naming its line, and the ones before it are still returned.
StatusOr<std::vector<Document>> ReadDocuments(const std::string& file, std::vector<Status>* errors) {
  std::string text;
  std::string source = file;
  if (file == "-") {
    source = "STDIN";
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    LOOM_ASSIGN_OR_RETURN(text, ReadFile(file));
  }
  std::vector<Document> docs;
  const bool json = file.size() > 5 && file.compare(file.size() - 5, 5, ".json") == 0;
  for (std::string& piece : json ? std::vector<std::string>{text} : SplitYamlDocuments(text)) {
    StatusOr<Json> parsed = json ? ParseJson(piece, source) : ParseYaml(piece, source);
    if (!parsed.ok()) {
      errors->push_back(parsed.status());
      continue;
    }
    if (parsed->is_null()) continue;
    docs.push_back({source, std::move(piece), std::move(*parsed)});
  }
  return docs;
}

// The handler of a document's kind and apiVersion, or kubectl's error naming them.
StatusOr<const KindHandler*> HandlerFor(const std::vector<KindHandler>& kinds, const Document& doc) {
  const auto lines = YamlFieldLines(doc.text);
  auto where = [&](const std::string& field) {
    const auto it = lines.ok() ? lines->find(field) : std::map<std::string, int>::const_iterator();
    return doc.source + (lines.ok() && it != lines->end() ? ":" + std::to_string(it->second) : "") + ": ";
  };
  if (!doc.object.is_object()) return InvalidArgument(doc.source + ": expected a Kubernetes object (apiVersion, kind, metadata)");
  const Json kind = doc.object.value("kind", Json());
  const Json version = doc.object.value("apiVersion", Json());
  if (!kind.is_string() || kind.get<std::string>().empty()) return InvalidArgument(where("kind") + "kind: is required");
  if (!version.is_string() || version.get<std::string>().empty()) {
    return InvalidArgument(where("apiVersion") + "apiVersion: is required");
  }
  for (const KindHandler& k : kinds) {
    if (k.kind != kind.get<std::string>()) continue;
    for (const std::string& v : k.api_versions) {
      if (v == version.get<std::string>()) return &k;
    }
  }
  std::string name;
  if (doc.object.contains("metadata") && doc.object["metadata"].is_object()) {
    name = doc.object["metadata"].value("name", doc.object["metadata"].value("generateName", ""));
  }
  return NotFound(where("kind") + "resource mapping not found for name: \"" + name + "\": no matches for kind \"" +
                  kind.get<std::string>() + "\" in version \"" + version.get<std::string>() +
                  "\" (loom keeps " + KindList(kinds) + ")");
}

int Run(const std::string& verb, const Args& args) {
  std::vector<std::string> files;
  Args rest;
  for (size_t i = 0; i < args.size(); ++i) {  // -f repeats, as kubectl's
    if ((args[i] == "-f" || args[i] == "--filename") && i + 1 < args.size()) {
      files.push_back(args[++i]);
    } else if (args[i].rfind("--filename=", 0) == 0 || args[i].rfind("-f=", 0) == 0) {
      files.push_back(args[i].substr(args[i].find('=') + 1));
    } else {
      rest.push_back(args[i]);
    }
  }
  FlagSet flags("loom " + verb + " -f FILE... (several YAML documents per file; - is standard input)");
  std::string unused;
  flags.String("f", &unused, "a file of objects (repeatable): " + std::string(verb == "apply"
      ? "each is created, or changed to match, or left as it is" : "each is deleted by its kind and name"));
  std::vector<std::string> positional;
  int code = 0;
  const std::string cmd = verb;
  if (!ParseFlagsOrExit(flags, rest, &positional, cmd.c_str(), &code)) return code;
  if (!positional.empty()) return Fail(cmd.c_str(), InvalidArgument("unexpected argument \"" + positional[0] + "\": give files with -f"));
  if (files.empty()) return Fail(cmd.c_str(), InvalidArgument("must specify -f FILE"));
  const std::vector<KindHandler> kinds = Registry();
  int failed = 0;
  auto report = [&](const Status& s) {
    fprintf(stderr, "loom %s: %s\n", cmd.c_str(), s.message().c_str());
    ++failed;
  };
  for (const std::string& file : files) {
    std::vector<Status> errors;
    auto docs = ReadDocuments(file, &errors);
    if (!docs.ok()) {
      report(docs.status());
      continue;
    }
    for (const Status& e : errors) report(e);
    for (const Document& doc : *docs) {
      auto handler = HandlerFor(kinds, doc);
      if (!handler.ok()) {
        report(handler.status());
        continue;
      }
      const KindHandler& k = **handler;
      if (verb == "apply") {
        auto applied = k.apply(doc);
        if (!applied.ok()) {
          report(applied.status());
          continue;
        }
        std::cout << ResourceOf(k, applied->first) << " " << applied->second << std::endl;
      } else {
        const Json meta = doc.object.value("metadata", Json::object());
        auto field = [&meta](const char* f) {
          return meta.is_object() && meta.contains(f) && meta[f].is_string() ? meta[f].get<std::string>() : "";
        };
        const std::string name = field("name");
        const std::string ns = field("namespace").empty() ? "default" : field("namespace");
        if (name.empty()) {
          report(InvalidArgument(doc.source + ": metadata.name: is required to delete (a generateName names nothing yet)"));
          continue;
        }
        if (Status s = k.remove(ns, name); !s.ok()) {
          report(s);
          continue;
        }
        std::string resource = ResourceOf(k, name);
        std::cout << resource.substr(0, resource.find('/')) << " \"" << name << "\" deleted" << std::endl;
      }
    }
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace

std::string ResourceOf(const KindHandler& kind, const std::string& name) {
  std::string out;
  for (char c : kind.kind) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!kind.group.empty()) out += "." + kind.group;
  return out + "/" + name;
}

int RunApply(const Args& args) { return Run("apply", args); }
int RunDelete(const Args& args) { return Run("delete", args); }

}  // namespace loom::cli
