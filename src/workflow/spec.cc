#include "workflow/spec.h"

#include <yaml-cpp/yaml.h>

#include <functional>
#include <map>
#include <set>
#include <vector>

#include "container/pod_runtime.h"
#include "core/file.h"
#include "workflow/expr.h"
#include "workflow/expr_lang.h"
#include "workflow/model.h"
#include "workflow/pod_gc.h"
#include "workflow/probe.h"
#include "workflow/store.h"
#include "workflow/vars.h"

namespace loom::workflow {
namespace {

using Keys = std::set<std::string>;

// The fields Loom knows for each Argo object (argoproj.io/v1alpha1 and the Kubernetes types it
// embeds). Fields of Kubernetes objects Loom passes through untouched (resources, affinity,
// securityContext...) are not looked into.
const Keys kTopKeys = {"apiVersion", "kind", "metadata", "spec", "status"};
const Keys kMetadataKeys = {"name", "generateName", "namespace", "labels", "annotations", "uid",
                            "creationTimestamp", "resourceVersion", "generation", "ownerReferences",
                            "finalizers", "managedFields", "selfLink"};
const Keys kSpecKeys = {
    "entrypoint", "arguments", "templates", "onExit", "parallelism", "activeDeadlineSeconds",
    "serviceAccountName", "volumes", "volumeClaimTemplates", "podGC", "ttlStrategy",
    "ttlSecondsAfterFinished", "suspend", "shutdown", "workflowTemplateRef", "nodeSelector",
    "affinity", "tolerations", "imagePullSecrets", "hostNetwork", "dnsPolicy", "dnsConfig",
    "securityContext", "podSpecPatch", "podPriorityClassName", "podPriority", "priority",
    "schedulerName", "artifactRepositoryRef", "retryStrategy", "metrics", "hooks", "archiveLogs",
    "executor", "templateDefaults", "podDisruptionBudget", "podMetadata",
    "automountServiceAccountToken", "volumeClaimGC", "workflowMetadata", "artifactGC",
    "synchronization", "hostAliases"};
const Keys kTemplateKeys = {
    "name", "inputs", "outputs", "container", "script", "resource", "steps", "dag", "suspend",
    "containerSet", "data", "http", "plugin", "metadata", "activeDeadlineSeconds", "timeout",
    "retryStrategy", "parallelism", "failFast", "nodeSelector", "affinity", "tolerations", "daemon",
    "initContainers", "sidecars", "archiveLocation", "volumes", "serviceAccountName",
    "securityContext", "podSpecPatch", "priorityClassName", "priority", "schedulerName",
    "hostAliases", "memoize", "synchronization", "metrics", "executor",
    "automountServiceAccountToken"};
const Keys kContainerKeys = {
    "name", "image", "command", "args", "workingDir", "env", "envFrom", "resources",
    "volumeMounts", "ports", "imagePullPolicy", "securityContext", "livenessProbe",
    "readinessProbe", "startupProbe", "lifecycle", "stdin", "stdinOnce", "tty",
    "terminationMessagePath", "terminationMessagePolicy", "volumeDevices"};
const Keys kContainerSetKeys = {"containers", "volumeMounts", "retryStrategy"};
const Keys kContainerSetRetryKeys = {"retries", "duration"};
const Keys kResourceKeys = {"action", "manifest", "manifestFrom", "successCondition",
                            "failureCondition", "setOwnerReference", "mergeStrategy", "flags"};
const Keys kSuspendKeys = {"duration"};
const Keys kStepKeys = {"name", "template", "templateRef", "arguments", "when", "withItems",
                        "withParam", "withSequence", "continueOn", "onExit", "hooks", "inline"};
const Keys kDagKeys = {"tasks", "target", "failFast"};
const Keys kInputsKeys = {"parameters", "artifacts"};
const Keys kOutputsKeys = {"parameters", "artifacts", "result", "exitCode"};
const Keys kParameterKeys = {"name", "value", "default", "enum", "description", "valueFrom", "globalName"};
const Keys kValueFromKeys = {"path", "parameter", "default", "jsonPath", "jqFilter", "event",
                             "expression", "supplied", "configMapKeyRef"};
const Keys kArtifactKeys = {"name", "path", "from", "fromExpression", "mode", "optional", "archive",
                            "s3", "http", "raw", "git", "gcs", "hdfs", "oss", "azure", "artifactory",
                            "globalName", "subPath", "recurseMode", "deleted", "artifactGC",
                            "archiveLogs"};
const Keys kArgumentsKeys = {"parameters", "artifacts"};
const Keys kRetryKeys = {"limit", "retryPolicy", "backoff", "affinity", "expression"};
const Keys kBackoffKeys = {"duration", "factor", "maxDuration", "cap"};
const Keys kSequenceKeys = {"count", "start", "end", "format"};
const Keys kContinueOnKeys = {"error", "failed"};
const Keys kTemplateRefKeys = {"name", "template", "clusterScope"};
const Keys kHookKeys = {"template", "templateRef", "arguments", "expression"};

// Records the line of every field of a YAML document under its path.
void CollectLines(const YAML::Node& node, const std::string& path, SourceLines& lines) {
  if (!path.empty()) lines.emplace(path, node.Mark().line + 1);
  if (node.IsMap()) {
    for (const auto& kv : node) {
      std::string key = kv.first.Scalar();
      std::string child = JoinField(path, key);
      lines[child] = kv.first.Mark().line + 1;
      CollectLines(kv.second, child, lines);
      lines[child] = kv.first.Mark().line + 1;
    }
  } else if (node.IsSequence()) {
    size_t i = 0;
    for (const auto& item : node) CollectLines(item, JoinField(path, i++), lines);
  }
}

Json WithoutHooks(const Json& call) {
  Json rest = call;
  if (rest.is_object()) rest.erase("hooks");
  return rest;
}

std::string ParentPath(const std::string& path) {
  size_t cut = path.find_last_of(".[");
  return cut == std::string::npos ? "" : path.substr(0, cut);
}

bool ParseDuration(const Json& v, double* seconds);

class Linter {
 public:
  Linter(const Json& m, std::string source, const Store* store, const SourceLines* lines)
      : m_(m), source_(std::move(source)), store_(store), lines_(lines) {}

  Status Run() {
    if (!m_.is_object()) return Error("", "a manifest must be an object with apiVersion, kind, metadata and spec");
    LOOM_RETURN_IF_ERROR(CheckKeys(m_, "", kTopKeys));
    for (const char* f : {"apiVersion", "kind"}) {
      if (m_.contains(f)) LOOM_RETURN_IF_ERROR(CheckString(m_[f], f));
    }
    std::string api = m_.value("apiVersion", "");
    if (api != "argoproj.io/v1alpha1") {
      return Error("apiVersion", "must be argoproj.io/v1alpha1, not \"" + api + "\"");
    }
    kind_ = m_.value("kind", "");
    if (kind_ != "Workflow" && kind_ != "WorkflowTemplate" && kind_ != kClusterWorkflowTemplate) {
      return Error("kind", "must be Workflow, WorkflowTemplate or ClusterWorkflowTemplate, not \"" + kind_ + "\"");
    }
    const Json& meta = m_.contains("metadata") ? m_["metadata"] : empty_;
    if (!meta.is_object()) return Error("metadata", "must be an object");
    LOOM_RETURN_IF_ERROR(CheckKeys(meta, "metadata", kMetadataKeys));
    for (const char* f : {"name", "generateName", "namespace"}) {
      if (!meta.contains(f)) continue;
      LOOM_RETURN_IF_ERROR(CheckString(meta[f], JoinField("metadata", f)));
      // A workflow is known by "<namespace>/<name>" (store.h), as Kubernetes refuses these too.
      LOOM_RETURN_IF_ERROR(CheckObjectName(meta[f].get<std::string>(), JoinField("metadata", f)));
    }
    if (meta.contains("annotations") && meta["annotations"].is_object() &&
        meta["annotations"].contains(kPodRuntimeAnnotation)) {
      const Json& value = meta["annotations"][kPodRuntimeAnnotation];
      const std::string field = JoinField(JoinField("metadata", "annotations"), kPodRuntimeAnnotation);
      if (!value.is_string()) return Error(field, "must be auto, container or process");
      Status known = container::ParsePodRuntime(value.get<std::string>(), "").status();
      if (!known.ok()) return Error(field, "\"" + value.get<std::string>() + "\" is not auto, container or process");
    }
    if (meta.value("name", "").empty() && (kind_ != "Workflow" || meta.value("generateName", "").empty())) {
      return Error("metadata", kind_ == "Workflow" ? "name or generateName is required" : "name is required");
    }
    if (!m_.contains("spec") || !m_["spec"].is_object()) return Error("spec", "must be an object");
    const Json& spec = m_["spec"];
    LOOM_RETURN_IF_ERROR(CheckKeys(spec, "spec", kSpecKeys));
    LOOM_RETURN_IF_ERROR(CollectTemplates(spec));
    LOOM_RETURN_IF_ERROR(CheckArguments(spec));
    if (spec.contains("entrypoint")) {
      LOOM_RETURN_IF_ERROR(CheckString(spec["entrypoint"], "spec.entrypoint"));
      if (!HaveTemplate(spec["entrypoint"].get<std::string>())) {
        return Error("spec.entrypoint", "no template named \"" + spec["entrypoint"].get<std::string>() + "\"");
      }
    } else if (!has_workflow_template_ref_ && kind_ == "Workflow") {
      return Error("spec", "entrypoint is required");
    }
    if (spec.contains("onExit")) {
      LOOM_RETURN_IF_ERROR(CheckString(spec["onExit"], "spec.onExit"));
      if (!HaveTemplate(spec["onExit"].get<std::string>())) {
        return Error("spec.onExit", "no template named \"" + spec["onExit"].get<std::string>() + "\"");
      }
    }
    for (const char* f : {"parallelism", "activeDeadlineSeconds"}) {
      if (spec.contains(f) && !spec[f].is_number_integer()) {
        return Error(std::string("spec.") + f, "must be an integer");
      }
    }
    if (spec.contains("shutdown")) {
      std::string s = spec["shutdown"].is_string() ? spec["shutdown"].get<std::string>() : "";
      if (s != "Stop" && s != "Terminate") return Error("spec.shutdown", "must be Stop or Terminate");
    }
    if (spec.contains("retryStrategy")) LOOM_RETURN_IF_ERROR(CheckRetry(spec["retryStrategy"], "spec.retryStrategy"));
    if (spec.contains("hooks")) {
      // The workflow's exit hook is given the workflow's arguments unless it has its own.
      Json hooks = spec["hooks"];
      if (hooks.is_object() && hooks.contains(kExitHook) && hooks[kExitHook].is_object() &&
          !hooks[kExitHook].contains("arguments") && spec.contains("arguments")) {
        hooks[kExitHook]["arguments"] = spec["arguments"];
      }
      LOOM_RETURN_IF_ERROR(CheckHooks(hooks, "spec.hooks", "", {}));
      if (spec["hooks"].contains(kExitHook) && spec["hooks"][kExitHook].contains("expression")) {
        return Error("spec.hooks.exit.expression",
                     "not supported: the workflow's exit hook runs whatever its expression (as Argo runs it)");
      }
    }
    LOOM_RETURN_IF_ERROR(CheckNotYet(spec, "spec"));
    if (spec.contains("synchronization")) {
      LOOM_RETURN_IF_ERROR(CheckSynchronization(spec["synchronization"], "spec.synchronization"));
    }
    if (spec.contains("ttlStrategy")) {
      LOOM_RETURN_IF_ERROR(CheckKeys(spec["ttlStrategy"], "spec.ttlStrategy",
                                     {"secondsAfterCompletion", "secondsAfterSuccess", "secondsAfterFailure"}));
      for (const auto& [k, v] : spec["ttlStrategy"].items()) {
        if (!v.is_number_integer() || v.get<int64_t>() < 0) return Error(JoinField("spec.ttlStrategy", k), "must be a whole number of seconds, 0 or more");
      }
    }
    if (spec.contains("podGC")) {
      if (Status gc = PodGCFromJson(spec["podGC"]).status(); !gc.ok()) return Error("spec.podGC", gc.message());
    }
    if (spec.contains("templates")) {
      for (size_t i = 0; i < spec["templates"].size(); ++i) {
        LOOM_RETURN_IF_ERROR(CheckTemplate(spec["templates"][i], JoinField("spec.templates", i)));
      }
    }
    return OkStatus();
  }

 private:
  Status Error(const std::string& path, const std::string& message) const {
    std::string where = source_;
    if (lines_) {
      for (std::string p = path;; p = ParentPath(p)) {
        auto it = lines_->find(p);
        if (it != lines_->end()) {
          where += ":" + std::to_string(it->second);
          break;
        }
        if (p.empty()) break;
      }
    }
    return InvalidArgument(where + ": " + (path.empty() ? "" : path + ": ") + message);
  }

  Status CheckKeys(const Json& obj, const std::string& path, const Keys& keys) const {
    if (!obj.is_object()) return Error(path, "must be an object");
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      if (!keys.count(it.key())) return Error(JoinField(path, it.key()), "unknown field \"" + it.key() + "\"");
    }
    return OkStatus();
  }

  Status CheckString(const Json& v, const std::string& path) const {
    if (!v.is_string() || v.get<std::string>().empty()) return Error(path, "must be a non-empty string");
    return OkStatus();
  }

  Status CheckObjectName(const std::string& name, const std::string& path) const {
    if (name.find('/') != std::string::npos || name == "." || name == "..")
      return Error(path, "\"" + name + "\" is not a valid name (no '/', not '.' or '..')");
    return OkStatus();
  }

  Status CheckList(const Json& v, const std::string& path) const {
    if (!v.is_array()) return Error(path, "must be a list");
    return OkStatus();
  }

  // A WorkflowTemplate a reference names: one of the manifest's own namespace.
  std::string TemplateKey(const std::string& name) const { return ObjectKey(KeyNamespace(ObjectKey(m_)), name); }

  // Templates by name: the manifest's own, and (with a store) those of its workflowTemplateRef.
  Status CollectTemplates(const Json& spec) {
    if (spec.contains("workflowTemplateRef")) {
      has_workflow_template_ref_ = true;
      const Json& ref = spec["workflowTemplateRef"];
      LOOM_RETURN_IF_ERROR(CheckKeys(ref, "spec.workflowTemplateRef", kTemplateRefKeys));
      if (!ref.contains("name")) return Error("spec.workflowTemplateRef", "name is required");
      LOOM_RETURN_IF_ERROR(CheckString(ref["name"], "spec.workflowTemplateRef.name"));
      if (ref.contains("clusterScope") && !ref["clusterScope"].is_boolean()) {
        return Error("spec.workflowTemplateRef.clusterScope", "must be true or false");
      }
      if (store_) {
        const bool cluster = ref.value("clusterScope", false);
        StatusOr<Json> wt = store_->GetTemplate(cluster ? ref["name"].get<std::string>() : TemplateKey(ref["name"].get<std::string>()), cluster);
        if (!wt.ok()) {
          return Error("spec.workflowTemplateRef.name", std::string("no ") +
                       (cluster ? kClusterWorkflowTemplate : "WorkflowTemplate") + " named \"" +
                       ref["name"].get<std::string>() + "\"");
        }
        referenced_ = *wt;
        if (!referenced_.contains("spec") || !referenced_["spec"].is_object()) referenced_["spec"] = Json::object();
        const Json& rs = referenced_["spec"];
        if (rs.contains("templates") && rs["templates"].is_array()) {
          for (const Json& t : rs["templates"]) {
            if (t.is_object() && t.contains("name") && t["name"].is_string()) {
              templates_[t["name"].get<std::string>()] = &t;
            }
          }
        }
        if (rs.contains("arguments") && rs["arguments"].contains("parameters")) {
          for (const Json& p : rs["arguments"]["parameters"]) {
            if (p.is_object() && p.contains("name")) global_params_.insert(p.value("name", ""));
          }
        }
      }
    }
    if (!spec.contains("templates")) {
      if (!has_workflow_template_ref_) return Error("spec", "templates is required");
      return OkStatus();
    }
    LOOM_RETURN_IF_ERROR(CheckList(spec["templates"], "spec.templates"));
    std::set<std::string> own;
    for (size_t i = 0; i < spec["templates"].size(); ++i) {
      const Json& t = spec["templates"][i];
      std::string path = JoinField("spec.templates", i);
      if (!t.is_object()) return Error(path, "must be an object");
      if (!t.contains("name")) return Error(path, "name is required");
      LOOM_RETURN_IF_ERROR(CheckString(t["name"], JoinField(path, "name")));
      std::string name = t["name"].get<std::string>();
      if (!own.insert(name).second) return Error(JoinField(path, "name"), "duplicate template name \"" + name + "\"");
      templates_[name] = &t;
    }
    return OkStatus();
  }

  bool HaveTemplate(const std::string& name) const {
    // Without a store, a workflowTemplateRef's templates are unknown: checked at submit.
    return templates_.count(name) || (has_workflow_template_ref_ && !store_);
  }

  Status CheckArguments(const Json& spec) {
    if (!spec.contains("arguments")) return OkStatus();
    const Json& args = spec["arguments"];
    LOOM_RETURN_IF_ERROR(CheckKeys(args, "spec.arguments", kArgumentsKeys));
    if (args.contains("parameters")) {
      LOOM_RETURN_IF_ERROR(CheckParameters(args["parameters"], "spec.arguments.parameters", true));
      for (const Json& p : args["parameters"]) global_params_.insert(p["name"].get<std::string>());
    }
    if (args.contains("artifacts")) {
      LOOM_RETURN_IF_ERROR(CheckArtifacts(args["artifacts"], "spec.arguments.artifacts"));
    }
    return OkStatus();
  }

  Status CheckParameters(const Json& params, const std::string& path, bool with_values) const {
    LOOM_RETURN_IF_ERROR(CheckList(params, path));
    std::set<std::string> seen;
    for (size_t i = 0; i < params.size(); ++i) {
      const Json& p = params[i];
      std::string pp = JoinField(path, i);
      LOOM_RETURN_IF_ERROR(CheckKeys(p, pp, kParameterKeys));
      if (!p.contains("name")) return Error(pp, "name is required");
      LOOM_RETURN_IF_ERROR(CheckString(p["name"], JoinField(pp, "name")));
      if (!seen.insert(p["name"].get<std::string>()).second) {
        return Error(JoinField(pp, "name"), "duplicate parameter \"" + p["name"].get<std::string>() + "\"");
      }
      if (p.contains("valueFrom")) {
        LOOM_RETURN_IF_ERROR(CheckKeys(p["valueFrom"], JoinField(pp, "valueFrom"), kValueFromKeys));
        if (p["valueFrom"].contains("expression")) {
          const std::string ep = JoinField(JoinField(pp, "valueFrom"), "expression");
          if (!p["valueFrom"]["expression"].is_string()) return Error(ep, "must be a string");
          Status s = CheckExpression(p["valueFrom"]["expression"].get<std::string>());
          if (!s.ok()) return Error(ep, s.message());
        }
      }
      if (p.contains("enum")) {
        LOOM_RETURN_IF_ERROR(CheckList(p["enum"], JoinField(pp, "enum")));
        if (p.contains("value") && !p["value"].is_null()) {
          std::string v = ParameterString(p["value"]);
          bool found = false;
          for (const Json& e : p["enum"]) found = found || ParameterString(e) == v;
          if (!found && VariablesIn(v).empty()) {
            return Error(JoinField(pp, "value"), "\"" + v + "\" is not one of the enum values");
          }
        }
      }
    }
    return OkStatus();
  }

  Status CheckArtifacts(const Json& arts, const std::string& path) const {
    LOOM_RETURN_IF_ERROR(CheckList(arts, path));
    for (size_t i = 0; i < arts.size(); ++i) {
      std::string ap = JoinField(path, i);
      LOOM_RETURN_IF_ERROR(CheckKeys(arts[i], ap, kArtifactKeys));
      if (!arts[i].contains("name")) return Error(ap, "name is required");
      LOOM_RETURN_IF_ERROR(CheckString(arts[i]["name"], JoinField(ap, "name")));
    }
    return OkStatus();
  }

  Status CheckRetry(const Json& r, const std::string& path) const {
    LOOM_RETURN_IF_ERROR(CheckKeys(r, path, kRetryKeys));
    if (r.contains("expression")) {
      const std::string ep = JoinField(path, "expression");
      if (!r["expression"].is_string()) return Error(ep, "must be a string");
      Status s = CheckExpression(r["expression"].get<std::string>());
      if (!s.ok()) return Error(ep, s.message());
    }
    if (r.contains("limit") && !r["limit"].is_number_integer() &&
        !(r["limit"].is_string() && !r["limit"].get<std::string>().empty() &&
          r["limit"].get<std::string>().find_first_not_of("0123456789") == std::string::npos)) {
      return Error(JoinField(path, "limit"), "must be an integer");
    }
    if (r.contains("retryPolicy")) {
      std::string p = r["retryPolicy"].is_string() ? r["retryPolicy"].get<std::string>() : "";
      if (p != "Always" && p != "OnFailure" && p != "OnError" && p != "OnTransientError") {
        return Error(JoinField(path, "retryPolicy"), "must be Always, OnFailure, OnError or OnTransientError");
      }
    }
    if (r.contains("backoff")) {
      double unused = 0;
      std::string bp = JoinField(path, "backoff");
      LOOM_RETURN_IF_ERROR(CheckKeys(r["backoff"], bp, kBackoffKeys));
      for (const char* f : {"duration", "maxDuration", "cap"}) {
        double s;
        if (r["backoff"].contains(f) && !ParseDuration(r["backoff"][f], &s)) {
          return Error(JoinField(bp, f), "not a duration (e.g. 10s, 2m, 1h)");
        }
      }
      if (r["backoff"].contains("factor") && !r["backoff"]["factor"].is_number() &&
          !(r["backoff"]["factor"].is_string() && ParseDuration(r["backoff"]["factor"], &unused) &&
            r["backoff"]["factor"].get<std::string>().find_first_not_of("0123456789.") == std::string::npos)) {
        return Error(JoinField(bp, "factor"), "must be a number");
      }
    }
    return OkStatus();
  }

  // What a step or task calls: its template (or nullptr when it cannot be known here).
  StatusOr<const Json*> CalledTemplate(const Json& step, const std::string& path) {
    int kinds = step.contains("template") + step.contains("templateRef") + step.contains("inline");
    if (kinds != 1) return Error(path, "exactly one of template, templateRef or inline is required");
    if (step.contains("template")) {
      LOOM_RETURN_IF_ERROR(CheckString(step["template"], JoinField(path, "template")));
      std::string name = step["template"].get<std::string>();
      if (!HaveTemplate(name)) return Error(JoinField(path, "template"), "no template named \"" + name + "\"");
      auto it = templates_.find(name);
      return it == templates_.end() ? nullptr : it->second;
    }
    if (step.contains("inline")) {
      LOOM_RETURN_IF_ERROR(CheckTemplate(step["inline"], JoinField(path, "inline"), /*inline_template=*/true));
      return &step["inline"];
    }
    const Json& ref = step["templateRef"];
    std::string rp = JoinField(path, "templateRef");
    LOOM_RETURN_IF_ERROR(CheckKeys(ref, rp, kTemplateRefKeys));
    if (!ref.contains("name") || !ref.contains("template")) return Error(rp, "name and template are required");
    LOOM_RETURN_IF_ERROR(CheckString(ref["name"], JoinField(rp, "name")));
    LOOM_RETURN_IF_ERROR(CheckString(ref["template"], JoinField(rp, "template")));
    if (ref.contains("clusterScope") && !ref["clusterScope"].is_boolean()) {
      return Error(JoinField(rp, "clusterScope"), "must be true or false");
    }
    if (!store_) return nullptr;
    std::string wt_name = ref["name"].get<std::string>();
    const bool cluster = ref.value("clusterScope", false);
    const std::string wt_kind = cluster ? kClusterWorkflowTemplate : "WorkflowTemplate";
    auto cached = ref_templates_.find(wt_kind + "/" + wt_name);
    if (cached == ref_templates_.end()) {
      StatusOr<Json> wt = store_->GetTemplate(cluster ? wt_name : TemplateKey(wt_name), cluster);
      if (!wt.ok()) return Error(JoinField(rp, "name"), "no " + wt_kind + " named \"" + wt_name + "\"");
      cached = ref_templates_.emplace(wt_kind + "/" + wt_name, std::move(*wt)).first;
    }
    const Json* t = cached->second.contains("spec")
                        ? FindTemplate(cached->second["spec"], ref["template"].get<std::string>())
                        : nullptr;
    if (!t) {
      return Error(JoinField(rp, "template"), wt_kind + " \"" + wt_name + "\" has no template named \"" +
                                                  ref["template"].get<std::string>() + "\"");
    }
    return t;
  }

  // What a step, task or hook calls, and its arguments against the called template's inputs.
  Status CheckCallee(const Json& step, const std::string& path) {
    LOOM_ASSIGN_OR_RETURN(const Json* callee, CalledTemplate(step, path));
    std::set<std::string> supplied;
    if (step.contains("arguments")) {
      std::string ap = JoinField(path, "arguments");
      LOOM_RETURN_IF_ERROR(CheckKeys(step["arguments"], ap, kArgumentsKeys));
      if (step["arguments"].contains("parameters")) {
        LOOM_RETURN_IF_ERROR(CheckParameters(step["arguments"]["parameters"], JoinField(ap, "parameters"), true));
        for (const Json& p : step["arguments"]["parameters"]) supplied.insert(p["name"].get<std::string>());
      }
      if (step["arguments"].contains("artifacts")) {
        LOOM_RETURN_IF_ERROR(CheckArtifacts(step["arguments"]["artifacts"], JoinField(ap, "artifacts")));
        for (const Json& a : step["arguments"]["artifacts"]) supplied.insert("artifact:" + a["name"].get<std::string>());
      }
    }
    if (callee && callee->is_object() && callee->contains("inputs") && (*callee)["inputs"].is_object()) {
      const Json& in = (*callee)["inputs"];
      if (in.contains("parameters") && in["parameters"].is_array()) {
        for (const Json& p : in["parameters"]) {
          if (!p.is_object() || !p.contains("name")) continue;
          std::string n = p.value("name", "");
          bool has_value = (p.contains("value") && !p["value"].is_null()) || p.contains("default") ||
                           (p.contains("valueFrom") && p["valueFrom"].is_object());
          if (!has_value && !supplied.count(n)) {
            return Error(path, "inputs.parameters." + n + " was not supplied (template \"" +
                                   callee->value("name", "") + "\" needs it)");
          }
        }
      }
      if (in.contains("artifacts") && in["artifacts"].is_array()) {
        for (const Json& a : in["artifacts"]) {
          if (!a.is_object()) continue;
          std::string n = a.value("name", "");
          bool has_source = a.contains("s3") || a.contains("http") || a.contains("raw") ||
                            a.contains("git") || a.contains("gcs") || a.contains("from") ||
                            a.value("optional", false);
          if (!has_source && !supplied.count("artifact:" + n)) {
            return Error(path, "inputs.artifacts." + n + " was not supplied (template \"" +
                                   callee->value("name", "") + "\" needs it)");
          }
        }
      }
    }
    return OkStatus();
  }

  // Lifecycle hooks (a step's, a task's or the workflow's): each calls a template with its
  // arguments; one other than exit needs an expression. `known`: the steps or tasks whose
  // {{steps.X.*}} / {{tasks.X.*}} the hooks may read (a step's own, for its exit hook).
  Status CheckHooks(const Json& hooks, const std::string& path, const std::string& prefix,
                    const std::set<std::string>& known) {
    if (!hooks.is_object()) return Error(path, "must be an object");
    for (auto it = hooks.begin(); it != hooks.end(); ++it) {
      const std::string hp = JoinField(path, it.key());
      const Json& hook = it.value();
      LOOM_RETURN_IF_ERROR(CheckKeys(hook, hp, kHookKeys));
      LOOM_RETURN_IF_ERROR(CheckCallee(hook, hp));
      if (hook.contains("expression")) {
        const std::string ep = JoinField(hp, "expression");
        if (!hook["expression"].is_string()) return Error(ep, "must be a string");
        Status s = CheckExpression(hook["expression"].get<std::string>());
        if (!s.ok()) return Error(ep, s.message());
      } else if (it.key() != kExitHook) {
        return Error(hp, "expression is required (a hook other than exit runs when its expression is true)");
      }
      if (!prefix.empty()) LOOM_RETURN_IF_ERROR(CheckReferences(hook, hp, prefix, known));
    }
    return OkStatus();
  }

  // A step's or task's own fields, what it calls, and its hooks (which may read its own outputs
  // and status besides those of `known`).
  Status CheckCall(const Json& step, const std::string& path, const Keys& keys, const std::string& prefix = "",
                   std::set<std::string> known = {}) {
    LOOM_RETURN_IF_ERROR(CheckKeys(step, path, keys));
    if (!step.contains("name")) return Error(path, "name is required");
    LOOM_RETURN_IF_ERROR(CheckString(step["name"], JoinField(path, "name")));
    LOOM_RETURN_IF_ERROR(CheckCallee(step, path));
    if (step.contains("hooks") && !prefix.empty()) {  // a DAG's tasks: CheckDag, once it knows them all
      known.insert(step["name"].get<std::string>());
      LOOM_RETURN_IF_ERROR(CheckHooks(step["hooks"], JoinField(path, "hooks"), prefix, known));
    }
    if (step.contains("when")) {
      if (!step["when"].is_string()) return Error(JoinField(path, "when"), "must be a string");
      Status s = CheckWhenSyntax(step["when"].get<std::string>());
      if (!s.ok()) return Error(JoinField(path, "when"), s.message());
    }
    if (step.contains("withItems")) LOOM_RETURN_IF_ERROR(CheckList(step["withItems"], JoinField(path, "withItems")));
    if (step.contains("withParam") && !step["withParam"].is_string()) {
      return Error(JoinField(path, "withParam"), "must be a string (a JSON list, or a {{...}} that gives one)");
    }
    if (step.contains("withSequence")) {
      std::string sp = JoinField(path, "withSequence");
      LOOM_RETURN_IF_ERROR(CheckKeys(step["withSequence"], sp, kSequenceKeys));
      if (step["withSequence"].contains("count") && step["withSequence"].contains("end")) {
        return Error(sp, "count and end are exclusive");
      }
    }
    if (step.contains("continueOn")) {
      LOOM_RETURN_IF_ERROR(CheckKeys(step["continueOn"], JoinField(path, "continueOn"), kContinueOnKeys));
    }
    if (step.contains("onExit")) {
      LOOM_RETURN_IF_ERROR(CheckString(step["onExit"], JoinField(path, "onExit")));
      if (!HaveTemplate(step["onExit"].get<std::string>())) {
        return Error(JoinField(path, "onExit"), "no template named \"" + step["onExit"].get<std::string>() + "\"");
      }
    }
    return OkStatus();
  }

  // containerSet: containers with unique names, each a Container plus `dependencies` on others
  // of the set (no cycle), volumeMounts shared by all, retryStrategy {retries, duration}.
  Status CheckContainerSet(const Json& set, const std::string& path) {
    LOOM_RETURN_IF_ERROR(CheckKeys(set, path, kContainerSetKeys));
    if (!set.contains("containers")) return Error(path, "containers is required");
    const std::string cp = JoinField(path, "containers");
    LOOM_RETURN_IF_ERROR(CheckList(set["containers"], cp));
    if (set["containers"].empty()) return Error(cp, "at least one container is required");
    std::map<std::string, std::vector<std::string>> deps;
    Keys keys = kContainerKeys;
    keys.insert("dependencies");
    for (size_t i = 0; i < set["containers"].size(); ++i) {
      const Json& c = set["containers"][i];
      const std::string p = JoinField(cp, i);
      LOOM_RETURN_IF_ERROR(CheckKeys(c, p, keys));
      if (!c.contains("name") || !c["name"].is_string()) return Error(p, "name is required");
      if (!c.contains("image")) return Error(p, "image is required");
      const std::string n = c["name"].get<std::string>();
      if (deps.count(n)) return Error(JoinField(p, "name"), "more than one container named \"" + n + "\"");
      for (const char* f : {"command", "args", "dependencies"}) {
        if (c.contains(f)) LOOM_RETURN_IF_ERROR(CheckList(c[f], JoinField(p, f)));
      }
      deps[n] = {};
      if (c.contains("dependencies")) {
        for (const Json& d : c["dependencies"]) deps[n].push_back(d.is_string() ? d.get<std::string>() : d.dump());
      }
    }
    for (size_t i = 0; i < set["containers"].size(); ++i) {
      const std::string n = set["containers"][i]["name"].get<std::string>();
      for (const std::string& d : deps[n]) {
        if (!deps.count(d)) {
          return Error(JoinField(JoinField(cp, i), "dependencies"), "no container named \"" + d + "\" in the set");
        }
      }
    }
    // A cycle would leave its containers waiting for ever: Kahn's order must take every one.
    std::map<std::string, int> waiting;
    for (const auto& [n, ds] : deps) waiting[n] = static_cast<int>(ds.size());
    bool progressed = true;
    while (progressed) {
      progressed = false;
      for (auto& [n, count] : waiting) {
        if (count != 0) continue;
        count = -1;
        progressed = true;
        for (const auto& [m, ds] : deps) {
          for (const std::string& d : ds) {
            if (d == n) --waiting[m];
          }
        }
      }
    }
    for (const auto& [n, count] : waiting) {
      if (count > 0) return Error(cp, "dependencies form a cycle through container \"" + n + "\"");
    }
    if (set.contains("retryStrategy")) {
      const std::string rp = JoinField(path, "retryStrategy");
      LOOM_RETURN_IF_ERROR(CheckKeys(set["retryStrategy"], rp, kContainerSetRetryKeys));
      if (!set["retryStrategy"].contains("retries")) return Error(rp, "retries is required");
      if (set["retryStrategy"].contains("duration")) {
        double secs;
        if (!ParseDuration(set["retryStrategy"]["duration"], &secs)) {
          return Error(JoinField(rp, "duration"), "not a duration (e.g. 30s, 1m)");
        }
      }
    }
    return OkStatus();
  }

  // A template's memoize: key, cache.configMap.name (a ConfigMap of the workflow's namespace,
  // memoize.h) and an optional maxAge.
  Status CheckMemoize(const Json& m, const std::string& path) const {
    LOOM_RETURN_IF_ERROR(CheckKeys(m, path, {"key", "maxAge", "cache"}));
    if (!m.contains("key")) return Error(path, "key is required");
    LOOM_RETURN_IF_ERROR(CheckString(m["key"], JoinField(path, "key")));
    if (!m.contains("cache")) return Error(path, "cache is required");
    const std::string cp = JoinField(path, "cache");
    LOOM_RETURN_IF_ERROR(CheckKeys(m["cache"], cp, {"configMap"}));
    if (!m["cache"].contains("configMap")) return Error(cp, "configMap is required");
    const std::string mp = JoinField(cp, "configMap");
    LOOM_RETURN_IF_ERROR(CheckKeys(m["cache"]["configMap"], mp, {"name", "key", "optional"}));
    for (const char* f : {"key", "optional"}) {  // a ConfigMapKeySelector's: the cache is the whole map
      if (m["cache"]["configMap"].contains(f)) {
        return Error(JoinField(mp, f), "not supported on one machine: the cache is the whole ConfigMap, one "
                                       "entry per memoize key, as Argo keeps it");
      }
    }
    if (!m["cache"]["configMap"].contains("name")) return Error(mp, "name is required");
    LOOM_RETURN_IF_ERROR(CheckString(m["cache"]["configMap"]["name"], JoinField(mp, "name")));
    if (m.contains("maxAge")) {
      double s;
      const Json& age = m["maxAge"];
      if (!ParseDuration(age, &s) && !(age.is_string() && !VariablesIn(age.get<std::string>()).empty())) {
        return Error(JoinField(path, "maxAge"), "not a duration (e.g. 10s, 1h)");
      }
    }
    return OkStatus();
  }

  // synchronization (synchronization.h): mutex/mutexes {name, namespace}, semaphore/semaphores
  // {configMapKeyRef: {name, key}, namespace}.
  Status CheckSynchronization(const Json& sync, const std::string& path) const {
    LOOM_RETURN_IF_ERROR(CheckKeys(sync, path, {"mutex", "mutexes", "semaphore", "semaphores"}));
    auto one = [&](const Json& item, const std::string& p, bool mutex) -> Status {
      LOOM_RETURN_IF_ERROR(CheckKeys(item, p, mutex ? Keys{"name", "namespace", "database"}
                                                    : Keys{"configMapKeyRef", "namespace", "database"}));
      if (item.contains("database")) {
        return Error(JoinField(p, "database"), "not supported on one machine: every lock is kept in Loom's state "
                                               "store, which all engines on the machine share; leave database out");
      }
      if (item.contains("namespace")) LOOM_RETURN_IF_ERROR(CheckString(item["namespace"], JoinField(p, "namespace")));
      if (mutex) {
        if (!item.contains("name")) return Error(p, "name is required");
        return CheckString(item["name"], JoinField(p, "name"));
      }
      if (!item.contains("configMapKeyRef")) return Error(p, "configMapKeyRef is required");
      const std::string rp = JoinField(p, "configMapKeyRef");
      LOOM_RETURN_IF_ERROR(CheckKeys(item["configMapKeyRef"], rp, {"name", "key", "optional"}));
      if (item["configMapKeyRef"].contains("optional")) {
        return Error(JoinField(rp, "optional"), "not supported on one machine: a semaphore's limit must be there");
      }
      for (const char* f : {"name", "key"}) {
        if (!item["configMapKeyRef"].contains(f)) return Error(rp, std::string(f) + " is required");
        LOOM_RETURN_IF_ERROR(CheckString(item["configMapKeyRef"][f], JoinField(rp, f)));
      }
      return OkStatus();
    };
    for (const char* f : {"mutex", "semaphore"}) {
      if (sync.contains(f)) LOOM_RETURN_IF_ERROR(one(sync[f], JoinField(path, f), std::string(f) == "mutex"));
      const std::string list = std::string(f) == "mutex" ? "mutexes" : "semaphores";
      if (!sync.contains(list)) continue;
      LOOM_RETURN_IF_ERROR(CheckList(sync[list], JoinField(path, list)));
      for (size_t i = 0; i < sync[list].size(); ++i) {
        LOOM_RETURN_IF_ERROR(one(sync[list][i], JoinField(JoinField(path, list), i), std::string(f) == "mutex"));
      }
    }
    return OkStatus();
  }

  // Argo's fields Loom does not act on yet: refused by name rather than accepted and ignored.
  Status CheckNotYet(const Json& obj, const std::string& path) const {
    static const std::pair<const char*, const char*> kNotYet[] = {
        {"metrics", "Loom exports no custom Prometheus metrics yet"},
        {"ttlSecondsAfterFinished", "Argo replaced it with ttlStrategy.secondsAfterCompletion, which Loom's server acts on"}};
    for (const auto& [field, why] : kNotYet) {
      if (obj.contains(field)) return Error(JoinField(path, field), std::string("not supported on one machine: ") + why);
    }
    return OkStatus();
  }

  Status CheckTemplate(const Json& t, const std::string& path, bool inline_template = false) {
    Keys keys = kTemplateKeys;
    LOOM_RETURN_IF_ERROR(CheckKeys(t, path, keys));
    if (!inline_template && !t.contains("name")) return Error(path, "name is required");
    std::string name = t.value("name", "");
    std::vector<std::string> kinds;
    for (const char* k : {"container", "script", "resource", "steps", "dag", "suspend", "http", "containerSet"}) {
      if (t.contains(k)) kinds.push_back(k);
    }
    for (const char* k : {"data", "plugin"}) {
      if (t.contains(k)) return Error(JoinField(path, k), std::string(k) + " templates are not supported by Loom");
    }
    if (t.contains("daemon") && !t["daemon"].is_boolean() &&
        !(t["daemon"].is_string() && !VariablesIn(t["daemon"].get<std::string>()).empty())) {
      return Error(JoinField(path, "daemon"), "must be true or false");
    }
    if (t.contains("failFast") && !t["failFast"].is_boolean()) {
      return Error(JoinField(path, "failFast"), "must be true or false");
    }
    if (kinds.empty()) {
      return Error(path, "template \"" + name + "\" needs one of container, script, resource, steps, dag, suspend, http or containerSet");
    }
    if (kinds.size() > 1) return Error(path, "template \"" + name + "\" has both " + kinds[0] + " and " + kinds[1]);
    const std::string& kind = kinds[0];
    std::string kp = JoinField(path, kind);
    if ((t.contains("daemon") && t["daemon"] == true) && kind != "container" && kind != "script") {
      return Error(JoinField(path, "daemon"), "only a container or script template can be a daemon, not a " + kind + " template");
    }

    std::set<std::string> inputs, input_artifacts, outputs;
    if (t.contains("inputs")) {
      std::string ip = JoinField(path, "inputs");
      LOOM_RETURN_IF_ERROR(CheckKeys(t["inputs"], ip, kInputsKeys));
      if (t["inputs"].contains("parameters")) {
        LOOM_RETURN_IF_ERROR(CheckParameters(t["inputs"]["parameters"], JoinField(ip, "parameters"), false));
        for (const Json& p : t["inputs"]["parameters"]) inputs.insert(p["name"].get<std::string>());
      }
      if (t["inputs"].contains("artifacts")) {
        LOOM_RETURN_IF_ERROR(CheckArtifacts(t["inputs"]["artifacts"], JoinField(ip, "artifacts")));
        for (size_t i = 0; i < t["inputs"]["artifacts"].size(); ++i) {
          const Json& a = t["inputs"]["artifacts"][i];
          input_artifacts.insert(a["name"].get<std::string>());
          if ((kind == "container" || kind == "script") && !a.contains("path")) {
            return Error(JoinField(JoinField(JoinField(ip, "artifacts"), i), "path"), "path is required");
          }
        }
      }
    }
    if (t.contains("outputs")) {
      std::string op = JoinField(path, "outputs");
      LOOM_RETURN_IF_ERROR(CheckKeys(t["outputs"], op, kOutputsKeys));
      if (t["outputs"].contains("parameters")) {
        const Json& ps = t["outputs"]["parameters"];
        LOOM_RETURN_IF_ERROR(CheckParameters(ps, JoinField(op, "parameters"), false));
        for (size_t i = 0; i < ps.size(); ++i) {
          std::string pp = JoinField(JoinField(op, "parameters"), i);
          if (!ps[i].contains("valueFrom") && !ps[i].contains("value")) {
            return Error(pp, "valueFrom is required for output parameter \"" + ps[i]["name"].get<std::string>() + "\"");
          }
          if (ps[i].contains("valueFrom") && ps[i]["valueFrom"].contains("expression") && kind != "steps" &&
              kind != "dag") {
            return Error(JoinField(JoinField(pp, "valueFrom"), "expression"),
                         "not supported in a " + kind + " template: an output's expression is evaluated over a "
                         "steps or dag template's scope");
          }
        }
      }
      if (t["outputs"].contains("artifacts")) {
        LOOM_RETURN_IF_ERROR(CheckArtifacts(t["outputs"]["artifacts"], JoinField(op, "artifacts")));
      }
    }
    if (t.contains("retryStrategy")) LOOM_RETURN_IF_ERROR(CheckRetry(t["retryStrategy"], JoinField(path, "retryStrategy")));
    if (t.contains("memoize")) LOOM_RETURN_IF_ERROR(CheckMemoize(t["memoize"], JoinField(path, "memoize")));
    if (t.contains("synchronization")) {
      LOOM_RETURN_IF_ERROR(CheckSynchronization(t["synchronization"], JoinField(path, "synchronization")));
    }
    LOOM_RETURN_IF_ERROR(CheckNotYet(t, path));
    for (const char* f : {"parallelism", "activeDeadlineSeconds"}) {
      if (t.contains(f) && !t[f].is_number_integer() &&
          !(t[f].is_string() && !VariablesIn(t[f].get<std::string>()).empty())) {
        return Error(JoinField(path, f), "must be an integer");
      }
    }
    if (t.contains("timeout")) {
      double s;
      if (!ParseDuration(t["timeout"], &s) && !(t["timeout"].is_string() && !VariablesIn(t["timeout"].get<std::string>()).empty())) {
        return Error(JoinField(path, "timeout"), "not a duration (e.g. 30s, 5m)");
      }
    }

    std::set<std::string> step_names;  // names a {{steps.X}} / {{tasks.X}} may use
    if (kind == "container" || kind == "script") {
      Keys ck = kContainerKeys;
      if (kind == "script") ck.insert("source");
      LOOM_RETURN_IF_ERROR(CheckKeys(t[kind], kp, ck));
      if (kind == "script" && !t[kind].contains("source")) return Error(kp, "source is required");
      // A daemon's readinessProbe decides when the workflow goes on (probe.h); other templates'
      // probes are passed over, as nothing waits for them.
      if ((t.contains("daemon") && t["daemon"] == true) && t[kind].contains("readinessProbe")) {
        const std::string pp = JoinField(kp, "readinessProbe");
        Status probe = CheckProbe(t[kind]["readinessProbe"], pp);
        if (!probe.ok()) {
          // The probe's message starts with the field it is about: the line is that field's.
          const std::string& m = probe.message();
          const size_t colon = m.find(": ");
          return Error(colon == std::string::npos ? pp : m.substr(0, colon),
                       colon == std::string::npos ? m : m.substr(colon + 2));
        }
      }
      if (!t[kind].contains("image")) return Error(kp, "image is required");
      for (const char* f : {"command", "args"}) {
        if (t[kind].contains(f)) LOOM_RETURN_IF_ERROR(CheckList(t[kind][f], JoinField(kp, f)));
      }
    } else if (kind == "http") {
      Status http = CheckHttpTemplate(t[kind], kp);
      if (!http.ok()) {
        // The message starts with the field it is about: the line is that field's.
        const std::string& m = http.message();
        const size_t colon = m.find(": ");
        return Error(colon == std::string::npos ? kp : m.substr(0, colon),
                     colon == std::string::npos ? m : m.substr(colon + 2));
      }
    } else if (kind == "containerSet") {
      LOOM_RETURN_IF_ERROR(CheckContainerSet(t[kind], kp));
    } else if (kind == "resource") {
      LOOM_RETURN_IF_ERROR(CheckKeys(t[kind], kp, kResourceKeys));
      if (!t[kind].contains("action")) return Error(kp, "action is required");
      if (!t[kind].contains("manifest") && !t[kind].contains("manifestFrom")) return Error(kp, "manifest is required");
    } else if (kind == "suspend") {
      LOOM_RETURN_IF_ERROR(CheckKeys(t[kind], kp, kSuspendKeys));
      if (t[kind].contains("duration")) {
        double s;
        if (!ParseDuration(t[kind]["duration"], &s) &&
            !(t[kind]["duration"].is_string() && !VariablesIn(t[kind]["duration"].get<std::string>()).empty())) {
          return Error(JoinField(kp, "duration"), "not a duration (e.g. 20s, 1m)");
        }
      }
    } else if (kind == "steps") {
      LOOM_RETURN_IF_ERROR(CheckList(t["steps"], kp));
      for (size_t g = 0; g < t["steps"].size(); ++g) {
        std::string gp = JoinField(kp, g);
        LOOM_RETURN_IF_ERROR(CheckList(t["steps"][g], gp));
        for (size_t s = 0; s < t["steps"][g].size(); ++s) {
          const Json& step = t["steps"][g][s];
          std::string sp = JoinField(gp, s);
          LOOM_RETURN_IF_ERROR(CheckCall(step, sp, kStepKeys, "steps.", step_names));
          // A step may use the outputs of steps in earlier groups only (its hooks its own too).
          LOOM_RETURN_IF_ERROR(CheckReferences(WithoutHooks(step), sp, "steps.", step_names));
        }
        for (const Json& step : t["steps"][g]) step_names.insert(step["name"].get<std::string>());
      }
    } else if (kind == "dag") {
      LOOM_RETURN_IF_ERROR(CheckKeys(t["dag"], kp, kDagKeys));
      if (!t["dag"].contains("tasks")) return Error(kp, "tasks is required");
      if (t["dag"].contains("failFast") && !t["dag"]["failFast"].is_boolean()) {
        return Error(JoinField(kp, "failFast"), "must be true or false");
      }
      LOOM_RETURN_IF_ERROR(CheckDag(t["dag"], kp, &step_names));
    }
    // Variables the template's own fields use (steps and tasks were checked above).
    Json own = t;
    own.erase("steps");
    if (own.contains("dag")) own.erase("dag");
    LOOM_RETURN_IF_ERROR(CheckVariables(own, path, inputs, input_artifacts, step_names, kind));
    if (t.contains("outputs")) {
      LOOM_RETURN_IF_ERROR(CheckReferences(t["outputs"], JoinField(path, "outputs"),
                                           kind == "dag" ? "tasks." : "steps.", step_names));
    }
    if (kind == "steps" || kind == "dag") {
      // inputs.* and workflow.parameters.* inside steps and tasks.
      LOOM_RETURN_IF_ERROR(CheckVariables(t[kind], kp, inputs, input_artifacts, step_names, kind));
    }
    return OkStatus();
  }

  Status CheckDag(const Json& dag, const std::string& path, std::set<std::string>* names) {
    std::string tp = JoinField(path, "tasks");
    LOOM_RETURN_IF_ERROR(CheckList(dag["tasks"], tp));
    const Json& tasks = dag["tasks"];
    std::map<std::string, size_t> index;
    Keys keys = kStepKeys;
    keys.insert("dependencies");
    keys.insert("depends");
    for (size_t i = 0; i < tasks.size(); ++i) {
      std::string p = JoinField(tp, i);
      LOOM_RETURN_IF_ERROR(CheckCall(tasks[i], p, keys));
      std::string n = tasks[i]["name"].get<std::string>();
      if (!index.emplace(n, i).second) return Error(JoinField(p, "name"), "duplicate task name \"" + n + "\"");
    }
    *names = {};
    for (const auto& [n, i] : index) names->insert(n);
    std::vector<std::vector<size_t>> deps(tasks.size());
    for (size_t i = 0; i < tasks.size(); ++i) {
      std::string p = JoinField(tp, i);
      const Json& task = tasks[i];
      if (task.contains("dependencies") && task.contains("depends")) {
        return Error(p, "dependencies and depends cannot be used together");
      }
      std::set<std::string> on;
      if (task.contains("dependencies")) {
        std::string dp = JoinField(p, "dependencies");
        LOOM_RETURN_IF_ERROR(CheckList(task["dependencies"], dp));
        for (size_t j = 0; j < task["dependencies"].size(); ++j) {
          LOOM_RETURN_IF_ERROR(CheckString(task["dependencies"][j], JoinField(dp, j)));
          on.insert(task["dependencies"][j].get<std::string>());
        }
      }
      if (task.contains("depends")) {
        std::string dp = JoinField(p, "depends");
        if (!task["depends"].is_string()) return Error(dp, "must be a string");
        StatusOr<std::set<std::string>> named = DependsTasks(task["depends"].get<std::string>());
        if (!named.ok()) return Error(dp, named.status().message());
        on = *named;
      }
      for (const std::string& d : on) {
        auto it = index.find(d);
        if (it == index.end()) {
          return Error(JoinField(p, task.contains("depends") ? "depends" : "dependencies"),
                       "task \"" + d + "\" does not exist");
        }
        deps[i].push_back(it->second);
      }
      LOOM_RETURN_IF_ERROR(CheckReferences(WithoutHooks(task), p, "tasks.", *names));
      if (task.contains("hooks")) {
        LOOM_RETURN_IF_ERROR(CheckHooks(task["hooks"], JoinField(p, "hooks"), "tasks.", *names));
      }
    }
    if (dag.contains("target")) {
      LOOM_RETURN_IF_ERROR(CheckString(dag["target"], JoinField(path, "target")));
    }
    // Cycles: depth-first search, reporting the cycle's tasks in order.
    std::vector<int> state(tasks.size(), 0);
    std::vector<size_t> stack;
    std::function<StatusOr<bool>(size_t)> visit = [&](size_t i) -> StatusOr<bool> {
      state[i] = 1;
      stack.push_back(i);
      for (size_t d : deps[i]) {
        if (state[d] == 1) {
          std::string cycle;
          auto from = std::find(stack.begin(), stack.end(), d);
          for (auto it = from; it != stack.end(); ++it) cycle += tasks[*it]["name"].get<std::string>() + " -> ";
          cycle += tasks[d]["name"].get<std::string>();
          return Error(JoinField(JoinField(path, "tasks"), d), "dependency cycle: " + cycle);
        }
        if (state[d] == 0) {
          LOOM_ASSIGN_OR_RETURN(bool ok, visit(d));
          (void)ok;
        }
      }
      stack.pop_back();
      state[i] = 2;
      return true;
    };
    for (size_t i = 0; i < tasks.size(); ++i) {
      if (state[i] == 0) {
        StatusOr<bool> r = visit(i);
        if (!r.ok()) return r.status();
      }
    }
    return OkStatus();
  }

  // {{steps.X...}} / {{tasks.X...}} in `value` must name one of `known`.
  Status CheckReferences(const Json& value, const std::string& path, const std::string& prefix,
                         const std::set<std::string>& known) const {
    Status result;
    WalkStrings(value, path, [&](const std::string& s, const std::string& p) {
      if (!result.ok()) return;
      for (const std::string& var : VariablesIn(s)) {
        if (var.rfind(prefix, 0) != 0 || var == prefix + "name") continue;  // steps.name: the step's own
        std::string rest = var.substr(prefix.size());
        std::string name = rest.substr(0, rest.find('.'));
        if (!known.count(name)) {
          result = Error(p, "failed to resolve {{" + var + "}}: no " +
                                (prefix == "steps." ? "earlier step" : "task") + " named \"" + name + "\"");
        }
      }
    });
    return result;
  }

  Status CheckVariables(const Json& value, const std::string& path, const std::set<std::string>& inputs,
                        const std::set<std::string>& input_artifacts, const std::set<std::string>& steps,
                        const std::string& kind) const {
    Status result;
    WalkStrings(value, path, [&](const std::string& s, const std::string& p) {
      if (!result.ok()) return;
      Status expressions = CheckExpressionTags(s);
      if (!expressions.ok()) {
        result = Error(p, expressions.message());
        return;
      }
      for (const std::string& var : VariablesIn(s)) {
        if (var.empty() || var[0] == '=') continue;  // an expression's variables are checked when it runs
        std::string unresolved = "failed to resolve {{" + var + "}}";
        if (var.rfind("inputs.parameters.", 0) == 0) {
          if (!inputs.count(var.substr(18))) {
            result = Error(p, unresolved + ": the template declares no input parameter \"" + var.substr(18) + "\"");
          }
        } else if (var.rfind("inputs.artifacts.", 0) == 0) {
          std::string rest = var.substr(17);
          if (!input_artifacts.count(rest.substr(0, rest.find('.')))) {
            result = Error(p, unresolved + ": the template declares no input artifact \"" +
                                  rest.substr(0, rest.find('.')) + "\"");
          }
        } else if (var.rfind("workflow.parameters.", 0) == 0 && var != "workflow.parameters.json") {
          if (!global_params_.count(var.substr(20)) && !(has_workflow_template_ref_ && !store_)) {
            result = Error(p, unresolved + ": spec.arguments declares no parameter \"" + var.substr(20) + "\"");
          }
        }
      }
    });
    return result;
  }

  static void WalkStrings(const Json& v, const std::string& path,
                          const std::function<void(const std::string&, const std::string&)>& f) {
    if (v.is_string()) {
      f(v.get_ref<const std::string&>(), path);
    } else if (v.is_array()) {
      for (size_t i = 0; i < v.size(); ++i) WalkStrings(v[i], JoinField(path, i), f);
    } else if (v.is_object()) {
      for (auto it = v.begin(); it != v.end(); ++it) WalkStrings(it.value(), JoinField(path, it.key()), f);
    }
  }

  const Json& m_;
  std::string source_;
  const Store* store_;
  const SourceLines* lines_;
  std::string kind_;
  Json empty_ = Json::object();
  Json referenced_;
  std::map<std::string, Json> ref_templates_;
  std::map<std::string, const Json*> templates_;
  std::set<std::string> global_params_;
  bool has_workflow_template_ref_ = false;
};

// Go's time.ParseDuration subset Argo uses ("10s", "1m30s", "2h", "500ms"), or a bare number of
// seconds.
bool ParseDuration(const Json& v, double* seconds) {
  if (v.is_number()) {
    *seconds = v.get<double>();
    return true;
  }
  if (!v.is_string()) return false;
  const std::string s = v.get<std::string>();
  if (s.empty()) return false;
  char* end = nullptr;
  double plain = std::strtod(s.c_str(), &end);
  if (end && *end == '\0') {
    *seconds = plain;
    return true;
  }
  double total = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) ++j;
    if (j == i) return false;
    double n = std::strtod(s.substr(i, j - i).c_str(), nullptr);
    size_t k = j;
    while (k < s.size() && std::isalpha(static_cast<unsigned char>(s[k]))) ++k;
    std::string unit = s.substr(j, k - j);
    if (unit == "h") total += n * 3600;
    else if (unit == "m") total += n * 60;
    else if (unit == "s") total += n;
    else if (unit == "ms") total += n / 1000;
    else if (unit == "us" || unit == "µs") total += n / 1e6;
    else if (unit == "ns") total += n / 1e9;
    else return false;
    i = k;
  }
  *seconds = total;
  return true;
}

}  // namespace

bool DurationSeconds(const Json& value, double* seconds) { return ParseDuration(value, seconds); }

StatusOr<Json> LoadManifest(std::string_view text, const std::string& source_name, SourceLines* lines) {
  LOOM_ASSIGN_OR_RETURN(Json manifest, ParseYaml(text, source_name));
  SourceLines collected;
  try {
    CollectLines(YAML::Load(std::string(text)), "", collected);
  } catch (const YAML::Exception&) {
    // ParseYaml above accepted it; lines are a nicety.
  }
  LOOM_RETURN_IF_ERROR(Lint(manifest, source_name, nullptr, &collected));
  if (lines) *lines = std::move(collected);
  return manifest;
}

StatusOr<Json> LoadManifestFile(const std::string& path, SourceLines* lines) {
  LOOM_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return LoadManifest(text, path, lines);
}

Status Lint(const Json& manifest, const std::string& source_name, const Store* templates,
            const SourceLines* lines) {
  // A field of another type than Argo's that no check above looks at first must still be an
  // error about this document, never an exception (tests/security/fuzz).
  try {
    return Linter(manifest, source_name, templates, lines).Run();
  } catch (const Json::exception& e) {
    std::string what = e.what();
    if (size_t p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    return InvalidArgument(source_name + ": a field has the wrong type (" + what + ")");
  }
}

const Json* FindTemplate(const Json& spec, const std::string& name) {
  if (!spec.is_object() || !spec.contains("templates") || !spec["templates"].is_array()) return nullptr;
  for (const Json& t : spec["templates"]) {
    if (t.is_object() && t.value("name", "") == name) return &t;
  }
  return nullptr;
}

namespace {

const std::set<std::string> kHttpKeys = {"url",  "method",         "headers",           "body",
                                         "timeoutSeconds", "successCondition", "insecureSkipVerify"};
const std::set<std::string> kHeaderKeys = {"name", "value", "valueFrom"};


std::string HttpField(const std::string& path, const std::string& name) { return path.empty() ? name : path + "." + name; }

}  // namespace

Status CheckHttpTemplate(const Json& http, const std::string& path) {
  if (!http.is_object()) return InvalidArgument(path + ": must be an object");
  for (auto it = http.begin(); it != http.end(); ++it) {
    if (!kHttpKeys.count(it.key())) {
      return InvalidArgument(HttpField(path, it.key()) + ": unknown field \"" + it.key() + "\"" +
                             (it.key() == "bodyFrom" ? " (bodyFrom is not supported on one machine: use body)" : ""));
    }
  }
  if (!http.contains("url") || !http["url"].is_string() || http["url"].get<std::string>().empty()) {
    return InvalidArgument(HttpField(path, "url") + ": a URL is required");
  }
  for (const char* f : {"method", "body", "successCondition"}) {
    if (http.contains(f) && !http[f].is_string()) return InvalidArgument(HttpField(path, f) + ": must be a string");
  }
  if (http.contains("successCondition")) {
    StatusOr<Expression> parsed = Expression::Parse(http["successCondition"].get<std::string>());
    if (!parsed.ok()) return InvalidArgument(HttpField(path, "successCondition") + ": " + parsed.status().message());
  }
  if (http.contains("timeoutSeconds") && !(http["timeoutSeconds"].is_number_integer() && http["timeoutSeconds"] > 0)) {
    return InvalidArgument(HttpField(path, "timeoutSeconds") + ": must be a positive integer");
  }
  if (http.contains("insecureSkipVerify") && !http["insecureSkipVerify"].is_boolean()) {
    return InvalidArgument(HttpField(path, "insecureSkipVerify") + ": must be true or false");
  }
  if (http.contains("headers")) {
    const Json& headers = http["headers"];
    if (!headers.is_array()) return InvalidArgument(HttpField(path, "headers") + ": must be a list");
    for (size_t i = 0; i < headers.size(); ++i) {
      const std::string hp = HttpField(path, "headers") + "[" + std::to_string(i) + "]";
      if (!headers[i].is_object()) return InvalidArgument(hp + ": must be an object");
      for (auto it = headers[i].begin(); it != headers[i].end(); ++it) {
        if (!kHeaderKeys.count(it.key())) return InvalidArgument(HttpField(hp, it.key()) + ": unknown field \"" + it.key() + "\"");
      }
      if (!headers[i].contains("name") || !headers[i]["name"].is_string()) {
        return InvalidArgument(HttpField(hp, "name") + ": a header name is required");
      }
      if (headers[i].contains("valueFrom")) {
        const Json& from = headers[i]["valueFrom"];
        if (!from.is_object() || from.size() != 1 || !from.contains("secretKeyRef")) {
          return InvalidArgument(HttpField(hp, "valueFrom") + ": only secretKeyRef is supported (Argo's only source)");
        }
      }
    }
  }
  const std::string method = http.value("method", "GET");
  if (http.contains("body") && method != "POST" && method != "PUT" && method != "PATCH") {
    return InvalidArgument(HttpField(path, "body") + ": sent only with POST, PUT or PATCH, not " + method);
  }
  return OkStatus();
}


}  // namespace loom::workflow
