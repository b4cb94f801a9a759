// libFuzzer target for what a user's manifest reaches before anything runs, from the CLI or the
// API: ParseYaml and ParseJson with their limits (core/json.cc), workflow::LoadManifest and Lint
// (Workflows and WorkflowTemplates), job::ParseJob (a TFJob, PyTorchJob or TrainJob, as `loom job run`
// reads it), and the manifest of every resource template, parsed as the resource step parses it
// (job::ParseTfJob).
//
// Input: the document's text. Its seed corpus, tests/security/fuzz_corpus/, holds real manifests
// (Argo's shapes, the project's examples) and hostile ones (alias bombs, deep nesting).
//
// Besides the sanitizers' findings and any exception (libFuzzer reports an uncaught one as a
// crash), a crash is an error that does not name the document it is about.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/json.h"
#include "core/logging.h"
#include "job/pytorchjob.h"
#include "job/tfjob.h"
#include "workflow/spec.h"

namespace {

void ExpectNamed(const loom::Status& status, const std::string& source) {
  if (status.ok() || status.message().find(source) != std::string::npos) return;
  fprintf(stderr, "an error that does not name %s: %s\n", source.c_str(), status.message().c_str());
  abort();
}

// What a resource step does with its manifest before it runs anything (workflow/resource.cc).
void ReadResourceManifests(const loom::Json& manifest) {
  const loom::Json spec = manifest.value("spec", loom::Json::object());
  if (!spec.is_object() || !spec.contains("templates") || !spec["templates"].is_array()) return;
  for (const loom::Json& t : spec["templates"]) {
    if (!t.is_object() || !t.contains("resource") || !t["resource"].is_object()) continue;
    const loom::Json& resource = t["resource"];
    if (!resource.contains("manifest") || !resource["manifest"].is_string()) continue;
    auto object = loom::ParseYaml(resource["manifest"].get<std::string>(), "resource.manifest");
    ExpectNamed(object.status(), "resource.manifest");
    if (object.ok()) ExpectNamed(loom::job::ParseTfJob(*object, "resource.manifest").status(), "resource.manifest");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  loom::SetMinLogSeverity(loom::LogSeverity::kError);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto json = loom::ParseJson(text, "fuzz.json");
  ExpectNamed(json.status(), "fuzz.json");
  auto yaml = loom::ParseYaml(text, "fuzz.yaml");
  ExpectNamed(yaml.status(), "fuzz.yaml");
  if (yaml.ok()) ExpectNamed(loom::job::ParseJob(*yaml, "fuzz.yaml").status(), "fuzz.yaml");
  loom::workflow::SourceLines lines;
  auto manifest = loom::workflow::LoadManifest(text, "fuzz.yaml", &lines);
  ExpectNamed(manifest.status(), "fuzz.yaml");
  if (manifest.ok()) {
    ExpectNamed(loom::workflow::Lint(*manifest, "fuzz.yaml", nullptr, &lines), "fuzz.yaml");
    ReadResourceManifests(*manifest);
  }
  return 0;
}
