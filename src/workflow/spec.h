// Argo Workflow / WorkflowTemplate manifests (argoproj.io/v1alpha1): loading and checking.
//
// LoadManifest parses YAML or JSON, remembering the line of every field, and checks the
// manifest against the subset of Argo's schema that Loom runs: unknown fields, wrong types,
// templates that name nothing, DAG cycles, `when` expressions that do not parse, references to
// inputs that are not declared. Every error is one line naming the source, the line and the
// field path, as in
//   workflow.yaml:14: spec.templates[3].dag.tasks[1].template: no template named "trian"
// Nothing here runs anything.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "core/json.h"
#include "core/status.h"

namespace loom::workflow {

class Store;

// Field path ("spec.templates[3].dag.tasks[1].template") -> 1-based line in the source.
using SourceLines = std::map<std::string, int>;

// Parses `text` (YAML or JSON) and checks it (Lint without a template store: templateRef and
// workflowTemplateRef are checked later, by Lint with a store). `lines`, if given, receives the
// line of every field.
StatusOr<Json> LoadManifest(std::string_view text, const std::string& source_name,
                            SourceLines* lines = nullptr);
// Reads and loads a file; the file's path is the source name.
StatusOr<Json> LoadManifestFile(const std::string& path, SourceLines* lines = nullptr);

// Checks a loaded manifest. With `templates`, workflowTemplateRef and templateRef must name a
// stored WorkflowTemplate and a template in it. `lines` (from LoadManifest) adds line numbers.
Status Lint(const Json& manifest, const std::string& source_name, const Store* templates,
            const SourceLines* lines = nullptr);

// The template named `name` in `spec.templates`, or nullptr.
const Json* FindTemplate(const Json& spec, const std::string& name);

// The annotation that chooses how a workflow's pods run (auto, container, process: --pod-runtime
// for this workflow alone); Lint refuses any other value.
inline constexpr char kPodRuntimeAnnotation[] = "workflows.loom.dev/pod-runtime";

// An http template's fields (`path` is the template's `http`), for Lint and again before its
// request is sent: the field that is wrong or not known is named (http_template.h).
Status CheckHttpTemplate(const Json& http, const std::string& path);

// A Go duration as Argo writes them ("10s", "1m30s", "500ms", "2h") or a number of seconds.
bool DurationSeconds(const Json& value, double* seconds);

}  // namespace loom::workflow
