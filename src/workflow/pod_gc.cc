#include "workflow/pod_gc.h"

#include <set>

#include "workflow/spec.h"

namespace loom::workflow {
namespace {

Status CheckSelector(const Json& s) {
  if (s.is_null()) return OkStatus();
  if (!s.is_object()) return InvalidArgument("podGC.labelSelector invalid: must be an object");
  for (const auto& [k, v] : s.items()) {
    if (k != "matchLabels" && k != "matchExpressions") {
      return InvalidArgument("podGC.labelSelector invalid: unknown field \"" + k + "\"");
    }
  }
  if (s.contains("matchLabels")) {
    if (!s["matchLabels"].is_object()) return InvalidArgument("podGC.labelSelector invalid: matchLabels must be a map of strings");
    for (const auto& [k, v] : s["matchLabels"].items()) {
      if (!v.is_string()) return InvalidArgument("podGC.labelSelector invalid: matchLabels." + k + " must be a string");
    }
  }
  if (s.contains("matchExpressions")) {
    if (!s["matchExpressions"].is_array()) return InvalidArgument("podGC.labelSelector invalid: matchExpressions must be a list");
    for (const Json& e : s["matchExpressions"]) {
      const std::string op = e.is_object() && e.contains("operator") && e["operator"].is_string() ? e["operator"].get<std::string>() : "";
      if (!e.is_object() || !e.contains("key") || !e["key"].is_string()) {
        return InvalidArgument("podGC.labelSelector invalid: a matchExpression needs a key");
      }
      const bool set_op = op == "In" || op == "NotIn";
      if (!set_op && op != "Exists" && op != "DoesNotExist") {
        return InvalidArgument("podGC.labelSelector invalid: \"" + op + "\" is not a valid label selector operator");
      }
      const Json values = e.value("values", Json::array());
      if (!values.is_array() || (set_op && values.empty()) || (!set_op && !values.empty())) {
        return InvalidArgument("podGC.labelSelector invalid: values: " +
                               std::string(set_op ? "must be specified when `operator` is 'In' or 'NotIn'"
                                                  : "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
      }
    }
  }
  return OkStatus();
}

}  // namespace

StatusOr<PodGC> PodGCFromJson(const Json& j) {
  PodGC gc;
  if (j.is_null()) return gc;
  if (!j.is_object()) return InvalidArgument("podGC: must be an object");
  for (const auto& [k, v] : j.items()) {
    if (k != "strategy" && k != "labelSelector" && k != "deleteDelayDuration") {
      return InvalidArgument("podGC." + k + ": unknown field \"" + k + "\"");
    }
  }
  const Json strategy = j.value("strategy", Json(""));
  gc.strategy = strategy.is_string() ? strategy.get<std::string>() : "?";
  static const std::set<std::string> kStrategies = {"", "OnPodCompletion", "OnPodSuccess", "OnWorkflowCompletion",
                                                    "OnWorkflowSuccess"};
  if (!kStrategies.count(gc.strategy)) return InvalidArgument("podGC.strategy unknown strategy '" + gc.strategy + "'");
  LOOM_RETURN_IF_ERROR(CheckSelector(j.value("labelSelector", Json())));
  gc.label_selector = j.value("labelSelector", Json());
  if (j.contains("deleteDelayDuration") && !DurationSeconds(j["deleteDelayDuration"], &gc.delete_delay_seconds)) {
    return InvalidArgument("podGC.deleteDelayDuration: not a duration (e.g. 30s, 5m)");
  }
  return gc;
}

bool MatchesLabelSelector(const Json& s, const Json& labels) {
  if (!s.is_object()) return true;
  auto label = [&labels](const std::string& k) -> const Json* {
    return labels.is_object() && labels.contains(k) ? &labels[k] : nullptr;
  };
  const Json match_labels = s.value("matchLabels", Json::object());
  for (const auto& [k, v] : match_labels.items()) {
    const Json* l = label(k);
    if (!l || *l != v) return false;
  }
  for (const Json& e : s.value("matchExpressions", Json::array())) {
    const Json* l = label(e.value("key", ""));
    const std::string op = e.value("operator", "");
    bool in = false;
    for (const Json& v : e.value("values", Json::array())) in = in || (l && *l == v);
    if ((op == "In" && !in) || (op == "NotIn" && in) || (op == "Exists" && !l) || (op == "DoesNotExist" && l)) return false;
  }
  return true;
}

}  // namespace loom::workflow
