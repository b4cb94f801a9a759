#include "workflow/cron_workflow.h"

#include <algorithm>
#include <set>

#include "core/logging.h"
#include "core/time.h"
#include "workflow/expr.h"
#include "workflow/store.h"
#include "workflow/vars.h"

namespace loom::workflow {
namespace {

constexpr const char* kCronLabel = "workflows.argoproj.io/cron-workflow";
constexpr const char* kScheduledTime = "workflows.argoproj.io/scheduled-time";

const std::set<std::string> kCronSpecKeys = {
    "schedule", "schedules", "timezone", "concurrencyPolicy", "startingDeadlineSeconds", "successfulJobsHistoryLimit",
    "failedJobsHistoryLimit", "suspend", "when", "workflowSpec", "workflowMetadata", "stopStrategy"};

std::string ParentOf(const std::string& path) {
  const size_t cut = path.find_last_of(".[");
  return cut == std::string::npos ? "" : path.substr(0, cut);
}

class CronLinter {
 public:
  CronLinter(const std::string& source, const SourceLines* lines) : source_(source), lines_(lines) {}

  Status Error(const std::string& path, const std::string& why) const {
    std::string where = source_;
    for (std::string p = path; lines_ != nullptr; p = ParentOf(p)) {
      if (auto it = lines_->find(p); it != lines_->end()) {
        where += ":" + std::to_string(it->second);
        break;
      }
      if (p.empty()) break;
    }
    return InvalidArgument(where + ": " + path + ": " + why);
  }

 private:
  const std::string& source_;
  const SourceLines* lines_;
};

}  // namespace

StatusOr<std::vector<CronSchedule>> CronSchedules(const Json& spec) {
  std::vector<std::string> texts;
  if (spec.contains("schedules") && spec["schedules"].is_array() && !spec["schedules"].empty()) {
    for (const Json& s : spec["schedules"]) texts.push_back(s.is_string() ? s.get<std::string>() : s.dump());
  } else if (spec.contains("schedule") && spec["schedule"].is_string()) {
    texts.push_back(spec["schedule"].get<std::string>());
  }
  const std::string zone = spec.contains("timezone") && spec["timezone"].is_string() ? spec["timezone"].get<std::string>() : "";
  std::vector<CronSchedule> out;
  for (const std::string& t : texts) {
    LOOM_ASSIGN_OR_RETURN(CronSchedule s, CronSchedule::Parse(t, zone));
    out.push_back(std::move(s));
  }
  return out;
}

int64_t NextCronTime(const std::vector<CronSchedule>& schedules, int64_t after) {
  int64_t best = 0;
  for (const CronSchedule& s : schedules) {
    const int64_t t = s.Next(after);
    if (t != 0 && (best == 0 || t < best)) best = t;
  }
  return best;
}

Status LintCronWorkflow(const Json& manifest, const std::string& source, const Store* store, const SourceLines* lines) {
  CronLinter lint(source, lines);
  if (!manifest.is_object()) return InvalidArgument(source + ": a CronWorkflow must be an object");
  for (auto it = manifest.begin(); it != manifest.end(); ++it) {
    static const std::set<std::string> kTop = {"apiVersion", "kind", "metadata", "spec", "status"};
    if (!kTop.count(it.key())) return lint.Error(it.key(), "unknown field \"" + it.key() + "\"");
  }
  const Json meta = manifest.value("metadata", Json::object());
  if (!meta.is_object() || !meta.contains("name") || !meta["name"].is_string() || meta["name"].get<std::string>().empty()) {
    return lint.Error("metadata", "name is required (a CronWorkflow has no generateName)");
  }
  if (!manifest.contains("spec") || !manifest["spec"].is_object()) return lint.Error("spec", "must be an object");
  const Json& spec = manifest["spec"];
  for (auto it = spec.begin(); it != spec.end(); ++it) {
    if (!kCronSpecKeys.count(it.key())) return lint.Error("spec." + it.key(), "unknown field \"" + it.key() + "\"");
  }
  if (spec.contains("stopStrategy")) {
    return lint.Error("spec.stopStrategy", "not supported on one machine: Loom does not stop a CronWorkflow on a "
                                           "condition; `loom cron suspend` stops it");
  }
  if (spec.contains("schedules") && spec.contains("schedule")) {
    return lint.Error("spec.schedules", "give schedules or schedule, not both");
  }
  if (spec.contains("schedules")) {
    if (!spec["schedules"].is_array() || spec["schedules"].empty()) return lint.Error("spec.schedules", "must be a non-empty list");
    for (size_t i = 0; i < spec["schedules"].size(); ++i) {
      if (!spec["schedules"][i].is_string()) return lint.Error(JoinField("spec.schedules", i), "must be a string");
    }
  } else if (!spec.contains("schedule") || !spec["schedule"].is_string()) {
    return lint.Error("spec", "schedules (or schedule) is required");
  }
  if (spec.contains("timezone")) {
    if (!spec["timezone"].is_string()) return lint.Error("spec.timezone", "must be a string");
    if (auto zone = TimeZone::Load(spec["timezone"].get<std::string>()); !zone.ok()) {
      return lint.Error("spec.timezone", zone.status().message());
    }
  }
  const std::string zone = spec.value("timezone", "");
  const bool plural = spec.contains("schedules");
  const Json list = plural ? spec["schedules"] : Json::array({spec["schedule"]});
  for (size_t i = 0; i < list.size(); ++i) {
    if (auto s = CronSchedule::Parse(list[i].get<std::string>(), zone); !s.ok()) {
      return lint.Error(plural ? JoinField("spec.schedules", i) : "spec.schedule",
                        "cron schedule " + list[i].get<std::string>() + " is malformed: " + s.status().message());
    }
  }
  if (spec.contains("concurrencyPolicy")) {
    const std::string p = spec["concurrencyPolicy"].is_string() ? spec["concurrencyPolicy"].get<std::string>() : "";
    if (p != "Allow" && p != "Forbid" && p != "Replace") {
      return lint.Error("spec.concurrencyPolicy", "must be Allow, Forbid or Replace, not " + spec["concurrencyPolicy"].dump());
    }
  }
  for (const char* f : {"startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"}) {
    if (spec.contains(f) && (!spec[f].is_number_integer() || spec[f].get<int64_t>() < 0)) {
      return lint.Error(std::string("spec.") + f, "must be a non-negative integer");
    }
  }
  if (spec.contains("suspend") && !spec["suspend"].is_boolean()) return lint.Error("spec.suspend", "must be true or false");
  if (spec.contains("when")) {
    if (!spec["when"].is_string()) return lint.Error("spec.when", "must be a string");
    Scope scope;
    for (const char* v : {"name", "namespace", "lastScheduledTime", "failed", "succeeded"}) {
      scope[std::string("cronworkflow.") + v] = "0";
    }
    auto text = SubstituteString(spec["when"].get<std::string>(), scope);
    if (!text.ok()) return lint.Error("spec.when", text.status().message());
  }
  if (spec.contains("workflowMetadata")) {
    const Json& wm = spec["workflowMetadata"];
    if (!wm.is_object()) return lint.Error("spec.workflowMetadata", "must be an object");
    for (auto it = wm.begin(); it != wm.end(); ++it) {
      if (it.key() != "labels" && it.key() != "annotations") {
        return lint.Error("spec.workflowMetadata." + it.key(),
                          "not supported on one machine: only labels and annotations are copied to the workflow");
      }
      if (!it.value().is_object()) return lint.Error("spec.workflowMetadata." + it.key(), "must be a map of strings");
    }
  }
  if (!spec.contains("workflowSpec") || !spec["workflowSpec"].is_object()) {
    return lint.Error("spec.workflowSpec", "is required (the spec of the workflows it submits)");
  }
  // spec.workflowSpec as a Workflow's spec, its lines and its errors under spec.workflowSpec.
  const Json wf = {{"apiVersion", "argoproj.io/v1alpha1"},
                   {"kind", "Workflow"},
                   {"metadata", {{"name", meta["name"]}}},
                   {"spec", spec["workflowSpec"]}};
  SourceLines moved;
  if (lines != nullptr) {
    for (const auto& [path, line] : *lines) {
      if (path.rfind("spec.workflowSpec", 0) == 0) moved["spec" + path.substr(17)] = line;
      else if (path.rfind("spec", 0) != 0) moved[path] = line;
    }
  }
  Status s = Lint(wf, source, store, lines != nullptr ? &moved : nullptr);
  if (s.ok()) return s;
  std::string message = s.message();
  const size_t at = message.find(": spec");
  if (at != std::string::npos) message.insert(at + 6, ".workflowSpec");
  return InvalidArgument(message);
}

Json CronChildWorkflow(const Json& cron, int64_t scheduled) {
  const Json meta = cron.value("metadata", Json::object());
  const std::string name = meta.value("name", "");
  Json labels = Json::object();
  Json annotations = {{kScheduledTime, Rfc3339(static_cast<double>(scheduled))}};
  const Json spec = cron.value("spec", Json::object());
  const Json wm = spec.value("workflowMetadata", Json::object());
  const Json wm_labels = wm.value("labels", Json::object());
  const Json wm_annotations = wm.value("annotations", Json::object());
  for (const auto& [k, v] : wm_labels.items()) labels[k] = v;
  for (const auto& [k, v] : wm_annotations.items()) annotations[k] = v;
  labels[kCronLabel] = name;
  Json wf_meta = {{"name", name + "-" + std::to_string(scheduled)}, {"labels", labels}, {"annotations", annotations}};
  if (meta.contains("namespace")) wf_meta["namespace"] = meta["namespace"];
  return {{"apiVersion", "argoproj.io/v1alpha1"}, {"kind", "Workflow"}, {"metadata", wf_meta},
          {"spec", spec.value("workflowSpec", Json::object())}};
}

namespace {

// Argo's UpsertCondition / RemoveCondition on status.conditions.
void SetCondition(Json& status, const std::string& type, const std::string& message, int64_t now) {
  Json& conditions = status["conditions"];
  if (!conditions.is_array()) conditions = Json::array();
  for (Json& c : conditions) {
    if (c.value("type", "") == type) {
      c["message"] = message;
      return;
    }
  }
  conditions.push_back({{"type", type}, {"status", "True"}, {"message", message},
                        {"lastTransitionTime", Rfc3339(static_cast<double>(now))}});
}

void RemoveCondition(Json& status, const std::string& type) {
  if (!status.contains("conditions") || !status["conditions"].is_array()) return;
  Json kept = Json::array();
  for (const Json& c : status["conditions"]) {
    if (c.value("type", "") != type) kept.push_back(c);
  }
  status["conditions"] = kept;
}

bool IsFinished(const std::string& phase) { return phase == "Succeeded" || phase == "Failed" || phase == "Error"; }

}  // namespace

void CronController::Tick(int64_t now) {
  auto crons = store_->ListObjects(kCronWorkflow);
  if (!crons.ok()) {
    LOOM_LOG(WARNING) << "cron: " << crons.status().message();
    return;
  }
  std::set<std::string> seen;
  for (Json& cron : *crons) {
    const std::string name = cron["metadata"].value("name", "");
    seen.insert(name);
    if (Status s = TickOne(std::move(cron), now); !s.ok()) LOOM_LOG(WARNING) << "cron " << name << ": " << s.message();
  }
  for (auto it = next_due_.begin(); it != next_due_.end();) {
    it = seen.count(it->first) ? std::next(it) : next_due_.erase(it);  // deleted ones forgotten
  }
}

Status CronController::TickOne(Json cron, int64_t now) {
  const std::string name = cron["metadata"].value("name", "");
  const Json spec = cron.value("spec", Json::object());
  Json status = cron.value("status", Json::object());
  if (!status.is_object()) status = Json::object();
  const Json before = status;

  // Finished children leave status.active and are counted.
  Json active = Json::array();
  for (const Json& ref : status.value("active", Json::array())) {
    auto phase = actions_.phase(ref.value("name", ""));
    if (!phase.ok() && phase.status().code() != StatusCode::kNotFound) return phase.status();
    if (!phase.ok()) continue;
    if (!IsFinished(*phase)) {
      active.push_back(ref);
    } else {
      const char* counter = *phase == "Succeeded" ? "succeeded" : "failed";
      status[counter] = status.value(counter, 0) + 1;
    }
  }
  status["active"] = active;

  // History limits: the newest successfulJobsHistoryLimit (3) Succeeded and
  // failedJobsHistoryLimit (1) Failed/Error children are kept.
  if (auto children = actions_.children(name); children.ok()) {
    std::vector<Json> ok, failed;
    for (const Json& c : *children) (c.value("phase", "") == "Succeeded" ? ok : failed).push_back(c);
    auto prune = [&](std::vector<Json>& list, int64_t keep) {
      std::sort(list.begin(), list.end(), [](const Json& a, const Json& b) {
        return a.value("finishedAt", "") > b.value("finishedAt", "");
      });
      for (size_t i = static_cast<size_t>(std::max<int64_t>(keep, 0)); i < list.size(); ++i) {
        if (Status s = actions_.remove(list[i].value("name", "")); !s.ok()) LOOM_LOG(WARNING) << "cron " << name << ": " << s.message();
      }
    };
    prune(ok, spec.value("successfulJobsHistoryLimit", 3));
    prune(failed, spec.value("failedJobsHistoryLimit", 1));
  }

  auto schedules = CronSchedules(spec);
  if (!schedules.ok()) {
    SetCondition(status, "SpecError", schedules.status().message(), now);
  } else {
    RemoveCondition(status, "SpecError");
    // The latest time a schedule came due since the last look (several missed between two looks
    // run once). On the first look (the server started, or the schedule is new or changed), a
    // time missed since lastScheduledTime runs only within startingDeadlineSeconds of it.
    int64_t due = 0;
    const std::string key = spec.value("timezone", "") + "|" + Json(spec.value("schedules", Json())).dump() + "|" +
                            spec.value("schedule", "");
    auto state = next_due_.find(name);
    if (state == next_due_.end() || state->second.first != key) {
      const int64_t last = static_cast<int64_t>(ParseRfc3339(status.value("lastScheduledTime", "")));
      if (state == next_due_.end() && last > 0 && spec.contains("startingDeadlineSeconds")) {
        for (int64_t t = NextCronTime(*schedules, last); t != 0 && t <= now; t = NextCronTime(*schedules, t)) due = t;
        if (due != 0 && now >= due + spec["startingDeadlineSeconds"].get<int64_t>()) due = 0;
      }
      next_due_[name] = {key, NextCronTime(*schedules, now)};
    } else if (state->second.second != 0 && now >= state->second.second) {
      due = state->second.second;
      for (int64_t t = NextCronTime(*schedules, due); t != 0 && t <= now; t = NextCronTime(*schedules, t)) due = t;
      state->second.second = NextCronTime(*schedules, now);
    }
    bool run = due != 0 && !spec.value("suspend", false);
    if (run && spec.contains("when")) {
      Scope scope = {{"cronworkflow.name", name},
                     {"cronworkflow.namespace", cron["metadata"].value("namespace", "default")},
                     {"cronworkflow.lastScheduledTime", status.value("lastScheduledTime", "")},
                     {"cronworkflow.failed", std::to_string(status.value("failed", 0))},
                     {"cronworkflow.succeeded", std::to_string(status.value("succeeded", 0))}};
      auto text = SubstituteString(spec["when"].get<std::string>(), scope);
      auto value = text.ok() ? EvaluateWhen(*text) : StatusOr<bool>(text.status());
      if (!value.ok()) {
        SetCondition(status, "SubmissionError", "run policy error: " + value.status().message(), now);
        status["failed"] = status.value("failed", 0) + 1;
        run = false;
      } else {
        run = *value;
      }
    }
    const std::string policy = spec.value("concurrencyPolicy", "Allow");
    if (run && !active.empty() && policy == "Forbid") run = false;
    if (run && !active.empty() && policy == "Replace") {
      for (const Json& ref : active) {
        if (Status s = actions_.terminate(ref.value("name", "")); !s.ok() && s.code() != StatusCode::kNotFound) {
          LOOM_LOG(WARNING) << "cron " << name << ": " << s.message();
        }
      }
    }
    if (run) {
      auto submitted = actions_.submit(CronChildWorkflow(cron, due));
      if (submitted.ok()) {
        status["active"].push_back({{"kind", "Workflow"}, {"apiVersion", "argoproj.io/v1alpha1"},
                                    {"name", *submitted}, {"namespace", cron["metadata"].value("namespace", "default")}});
        status["phase"] = "Active";
        status["lastScheduledTime"] = Rfc3339(static_cast<double>(due));
        RemoveCondition(status, "SubmissionError");
      } else if (submitted.status().code() != StatusCode::kAlreadyExists) {
        SetCondition(status, "SubmissionError", "Failed to submit Workflow: " + submitted.status().message(), now);
        status["failed"] = status.value("failed", 0) + 1;
      }
    }
  }
  if (!status.contains("phase")) status["phase"] = "Active";
  if (status == before) return OkStatus();
  // Only the status is this controller's: the rest is read again, so a suspend made meanwhile stays.
  LOOM_ASSIGN_OR_RETURN(Json fresh, store_->GetObject(kCronWorkflow, name));
  fresh["status"] = status;
  return store_->PutObject(fresh);
}

}  // namespace loom::workflow
