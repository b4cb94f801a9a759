#include "workflow/pod_spec_patch.h"

#include <map>
#include <set>
#include <string>

namespace loom::workflow {
namespace {

// The container fields a patch may set: what the runtimes act on (or refuse by name).
const std::set<std::string> kPatchableContainerFields = {
    "name", "image", "command", "args", "workingDir", "env", "envFrom", "resources", "securityContext",
    "volumeMounts", "imagePullPolicy"};

// Kubernetes' patchMergeKey of the lists a container holds; other lists are replaced whole.
const std::map<std::string, std::string> kMergeKeys = {
    {"env", "name"}, {"volumeMounts", "mountPath"}, {"ports", "containerPort"}};

Status MergeValue(Json& target, const Json& patch, const std::string& key, const std::string& field);

// A list merged by its merge key: an entry whose key matches is merged into, a new one appended.
Status MergeList(Json& target, const Json& patch, const std::string& merge_key, const std::string& field) {
  if (!target.is_array()) target = Json::array();
  for (size_t i = 0; i < patch.size(); ++i) {
    const Json& entry = patch[i];
    const std::string f = JoinField(field, i);
    if (!entry.is_object() || !entry.contains(merge_key)) return InvalidArgument(f + "." + merge_key + ": required");
    Json* found = nullptr;
    for (Json& t : target) {
      if (t.is_object() && t.value(merge_key, Json()) == entry[merge_key]) found = &t;
    }
    if (found == nullptr) {
      target.push_back(entry);
    } else {
      for (const auto& [k, v] : entry.items()) LOOM_RETURN_IF_ERROR(MergeValue(*found, v, k, JoinField(f, k)));
    }
  }
  return OkStatus();
}

// Strategic merge of patch[key] into target[key]: null removes, maps merge, lists with a merge
// key merge by it, anything else replaces.
Status MergeValue(Json& target, const Json& patch, const std::string& key, const std::string& field) {
  if (!key.empty() && key[0] == '$') return InvalidArgument(field + ": patch directives are not supported on one machine");
  if (patch.is_null()) {
    target.erase(key);
    return OkStatus();
  }
  if (patch.is_object()) {
    Json& t = target[key];
    if (!t.is_object()) t = Json::object();
    for (const auto& [k, v] : patch.items()) LOOM_RETURN_IF_ERROR(MergeValue(t, v, k, JoinField(field, k)));
    return OkStatus();
  }
  auto merge_key = kMergeKeys.find(key);
  if (patch.is_array() && merge_key != kMergeKeys.end()) return MergeList(target[key], patch, merge_key->second, field);
  target[key] = patch;
  return OkStatus();
}

// The pod's containers by name, as a patch names them: "main", then init containers and sidecars.
std::map<std::string, Json*> ContainersByName(Template* tmpl, bool init) {
  std::map<std::string, Json*> found;
  if (init) {
    for (Json& c : tmpl->init_containers) found[c.value("name", "")] = &c;
  } else {
    found["main"] = &tmpl->container;
    for (Json& c : tmpl->sidecars) found[c.value("name", "")] = &c;
  }
  return found;
}

Status PatchContainers(const Json& list, bool init, Template* tmpl, const std::string& field) {
  if (!list.is_array()) return InvalidArgument(field + ": must be a list of containers");
  std::map<std::string, Json*> containers = ContainersByName(tmpl, init);
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string f = JoinField(field, i);
    const Json& entry = list[i];
    if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string()) {
      return InvalidArgument(f + ".name: required (the container to patch)");
    }
    const std::string name = entry["name"].get<std::string>();
    auto c = containers.find(name);
    if (c == containers.end() || name.empty()) {
      return InvalidArgument(f + ".name: the pod has no container named \"" + name +
                             "\" (a patch cannot add a container on one machine; the template's is \"main\")");
    }
    for (const auto& [k, v] : entry.items()) {
      if (kPatchableContainerFields.count(k) == 0) {
        return InvalidArgument(JoinField(f, k) + ": not supported on one machine (a patch may set " +
                               "name, image, command, args, workingDir, env, envFrom, resources, securityContext, "
                               "volumeMounts, imagePullPolicy)");
      }
      if (k == "name") continue;
      LOOM_RETURN_IF_ERROR(MergeValue(*c->second, v, k, JoinField(f, k)));
    }
  }
  return OkStatus();
}

}  // namespace

Status ApplyPodSpecPatches(const std::vector<Json>& patches, Template* tmpl) {
  for (const Json& written : patches) {
    Json patch = written;
    if (written.is_string()) {
      // YAML is a superset of JSON: Argo converts either to JSON first.
      auto parsed = ParseYaml(written.get<std::string>(), "podSpecPatch");
      if (!parsed.ok()) return InvalidArgument("podSpecPatch: " + parsed.status().message());
      patch = std::move(*parsed);
    }
    if (patch.is_null()) continue;
    if (!patch.is_object()) return InvalidArgument("podSpecPatch: must be a map of a pod's spec fields");
    for (const auto& [key, value] : patch.items()) {
      const std::string field = "podSpecPatch." + key;
      if (key == "containers" || key == "initContainers") {
        LOOM_RETURN_IF_ERROR(PatchContainers(value, key == "initContainers", tmpl, field));
      } else if (key == "securityContext") {
        Json holder = Json::object();
        if (tmpl->security_context) holder["securityContext"] = *tmpl->security_context;
        LOOM_RETURN_IF_ERROR(MergeValue(holder, value, "securityContext", field));
        if (holder.contains("securityContext")) {
          tmpl->security_context = holder["securityContext"];
        } else {
          tmpl->security_context.reset();
        }
      } else {
        return InvalidArgument(field + ": not supported on one machine (a patch may set containers, initContainers "
                                       "and securityContext of the pod)");
      }
    }
  }
  tmpl->pod_spec_patch.reset();
  return OkStatus();
}

}  // namespace loom::workflow
