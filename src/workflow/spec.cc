#include "workflow/spec.h"

#include "core/file.h"
#include "workflow/store.h"

namespace loom::workflow {

StatusOr<Json> LoadManifest(std::string_view text, const std::string& source_name, SourceLines* lines) {
  return ParseYaml(text, source_name);
}

StatusOr<Json> LoadManifestFile(const std::string& path, SourceLines* lines) {
  LOOM_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return LoadManifest(text, path, lines);
}

Status Lint(const Json& manifest, const std::string& source_name, const Store* templates,
            const SourceLines* lines) {
  return Unimplemented("workflow lint: being written (issue 6)");
}

const Json* FindTemplate(const Json& spec, const std::string& name) {
  if (!spec.contains("templates") || !spec["templates"].is_array()) return nullptr;
  for (const Json& t : spec["templates"]) {
    if (t.is_object() && t.value("name", "") == name) return &t;
  }
  return nullptr;
}

}  // namespace loom::workflow
