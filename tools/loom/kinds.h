// The kinds `loom apply -f` and `loom delete -f` take, in one registry: each kind is kept by the
// command family that owns it, which adds its handlers (Add*Kinds, beside that family's commands).
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace loom::cli {

// One document of a file given to apply or delete.
struct Document {
  std::string source;  // the file's name as given ("STDIN" for -f -)
  std::string text;    // the document's text, its lines where they were in the file
  Json object;         // the document parsed
};

struct KindHandler {
  std::string kind;                       // "WorkflowTemplate"
  std::string group;                      // "argoproj.io"; "" for Kubernetes' core group
  std::vector<std::string> api_versions;  // "argoproj.io/v1alpha1"; "v1"
  // Creates the object or brings it to the document: its name and "created", "configured" or
  // "unchanged". Errors name the source, the line and the field.
  std::function<StatusOr<std::pair<std::string, std::string>>(const Document&)> apply;
  // Removes the object named `name` in namespace `ns` (metadata.namespace, "default" when the
  // document names none); NotFound (kubectl's words) when there is none.
  std::function<Status(const std::string& ns, const std::string& name)> remove;
};

void AddConfigKinds(std::vector<KindHandler>* kinds);    // secret.cc: Secret, ConfigMap
void AddJobKinds(std::vector<KindHandler>* kinds);       // job.cc: TFJob, PyTorchJob
void AddWorkflowKinds(std::vector<KindHandler>* kinds);  // workflow.cc: Workflow, WorkflowTemplate, ...
void AddCronKinds(std::vector<KindHandler>* kinds);      // cron.cc: CronWorkflow

// kubectl's name of an object: "configmap/x", "workflowtemplate.argoproj.io/x".
std::string ResourceOf(const KindHandler& kind, const std::string& name);

}  // namespace loom::cli
