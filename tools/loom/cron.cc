// loom cron: CronWorkflows, as argo cron. They are kept in the workflow store and run by
// `loom server` (workflow/cron_workflow.h); these commands only read and edit them.
//   loom cron create FILE...        linted, then stored (as argo cron create, it prints the get view)
//   loom cron list                  NAME AGE LAST RUN NEXT RUN SCHEDULES TIMEZONE SUSPENDED
//   loom cron get NAME [-o json|yaml]
//   loom cron delete NAME...|--all   (the workflows it submitted stay)
//   loom cron suspend NAME... / resume NAME...
#include <ctime>
#include <iostream>

#include "commands.h"
#include "core/file.h"
#include "core/time.h"
#include "core/yaml_lines.h"
#include "kinds.h"
#include "workflow/cron_workflow.h"
#include "workflow/store.h"

namespace loom::cli {
namespace {

using workflow::kCronWorkflow;

std::string Schedules(const Json& spec) {
  if (spec.contains("schedules") && spec["schedules"].is_array()) {
    std::string out;
    for (const Json& s : spec["schedules"]) out += (out.empty() ? "" : ",") + (s.is_string() ? s.get<std::string>() : s.dump());
    return out;
  }
  return spec.value("schedule", "");
}

// The next time any schedule fires after now, or 0.
int64_t NextRun(const Json& spec, int64_t now) {
  auto schedules = workflow::CronSchedules(spec);
  return schedules.ok() ? workflow::NextCronTime(*schedules, now) : 0;
}

// humanize.Timestamp as argo prints it: "Mon Dec 07 21:08:00 +0000 (5m ago)".
std::string Timestamp(int64_t t, int64_t now) {
  char buf[64];
  const time_t tt = static_cast<time_t>(t);
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(buf, sizeof(buf), "%a %b %d %H:%M:%S +0000", &tm);
  return std::string(buf) + (t <= now ? " (" + KubeAge(now - t) + " ago)" : " (in " + KubeAge(t - now) + ")");
}

std::string GetView(const Json& cron) {
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  const Json meta = cron.value("metadata", Json::object());
  const Json spec = cron.value("spec", Json::object());
  const Json status = cron.value("status", Json::object());
  std::string out;
  auto line = [&](const std::string& key, const std::string& value) {
    char buf[64];
    snprintf(buf, sizeof(buf), "%-30s ", key.c_str());
    out += buf + value + "\n";
  };
  line("Name:", meta.value("name", ""));
  line("Namespace:", meta.value("namespace", "default"));
  line("Created:", Timestamp(static_cast<int64_t>(ParseRfc3339(meta.value("creationTimestamp", ""))), now));
  line("Schedules:", Schedules(spec));
  line("Suspended:", spec.value("suspend", false) ? "true" : "false");
  if (spec.contains("timezone")) line("Timezone:", spec.value("timezone", ""));
  if (spec.contains("startingDeadlineSeconds")) line("StartingDeadlineSeconds:", spec["startingDeadlineSeconds"].dump());
  if (spec.contains("concurrencyPolicy")) line("ConcurrencyPolicy:", spec.value("concurrencyPolicy", ""));
  if (status.contains("lastScheduledTime")) {
    line("LastScheduledTime:", Timestamp(static_cast<int64_t>(ParseRfc3339(status.value("lastScheduledTime", ""))), now));
  }
  if (const int64_t next = NextRun(spec, now); next != 0) line("NextScheduledTime:", Timestamp(next, now));
  std::string active;
  for (const Json& a : status.value("active", Json::array())) active += (active.empty() ? "" : ", ") + a.value("name", "");
  if (!active.empty()) line("Active Workflows:", active);
  const Json conditions = status.value("conditions", Json::array());
  if (!conditions.empty()) {
    line("Conditions:", "");
    for (const Json& c : conditions) {
      line((c.value("type", "") == "SubmissionError" ? "✖ " : "  ") + c.value("type", ""), c.value("message", ""));
    }
  }
  const Json params = spec.value("workflowSpec", Json::object()).value("arguments", Json::object()).value("parameters", Json::array());
  if (!params.empty()) {
    line("Workflow Parameters:", "");
    for (const Json& p : params) {
      if (p.contains("value")) line("  " + p.value("name", "") + ":", p["value"].is_string() ? p["value"].get<std::string>() : p["value"].dump());
    }
  }
  return out;
}

StatusOr<std::unique_ptr<workflow::Store>> OpenCronStore() { return workflow::Store::Open(workflow::DefaultStorePath()); }

// Linted, then stored with a creation time (kept from the stored one when there is one) and the
// stored status: what `loom cron create` and `loom apply` do. Returns "created", "configured" or
// "unchanged" and the object as stored.
StatusOr<std::pair<std::string, Json>> PutCron(workflow::Store& store, Json manifest, const std::string& source,
                                               const workflow::SourceLines* lines) {
  LOOM_RETURN_IF_ERROR(workflow::LintCronWorkflow(manifest, source, &store, lines));
  const std::string name = manifest["metadata"].value("name", "");
  auto old = store.GetObject(kCronWorkflow, name);
  if (!old.ok() && old.status().code() != StatusCode::kNotFound) return old.status();
  manifest.erase("status");
  if (old.ok()) {
    Json same = *old;
    same.erase("status");
    same["metadata"].erase("creationTimestamp");
    if (same == manifest) return std::make_pair(std::string("unchanged"), *old);
    manifest["metadata"]["creationTimestamp"] = (*old)["metadata"].value("creationTimestamp", "");
    if (old->contains("status")) manifest["status"] = (*old)["status"];
  } else {
    manifest["metadata"]["creationTimestamp"] = Rfc3339(static_cast<double>(std::time(nullptr)));
  }
  LOOM_RETURN_IF_ERROR(store.PutObject(manifest));
  return std::make_pair(std::string(old.ok() ? "configured" : "created"), manifest);
}

int Run(const Args& args) {
  static const char kUsage[] =
      "usage: loom cron <create FILE...|list|get NAME [-o json|yaml]|delete NAME...|suspend NAME...|resume NAME...>  "
      "(CronWorkflows, run by loom server)\n";
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    (args.empty() ? std::cerr : std::cout) << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string verb = args[0];
  Args rest(args.begin() + 1, args.end());
  std::string output;
  bool all = false;
  FlagSet flags("loom cron " + verb + " [flags]");
  if (verb == "get") flags.String("o", &output, "json or yaml");
  if (verb == "delete") flags.Bool("all", &all, "delete every CronWorkflow");
  std::vector<std::string> positional;
  int code = 0;
  const std::string cmd = "cron " + verb;
  if (!ParseFlagsOrExit(flags, rest, &positional, cmd.c_str(), &code)) return code;
  auto store = OpenCronStore();
  if (!store.ok()) return Fail(cmd.c_str(), store.status());
  if (verb == "create") {
    if (positional.empty()) return Fail(cmd.c_str(), InvalidArgument("expected a CronWorkflow file"));
    for (const std::string& file : positional) {
      auto text = ReadFile(file);
      if (!text.ok()) return Fail(cmd.c_str(), text.status());
      auto lines = YamlFieldLines(*text);
      auto manifest = ParseYaml(*text, file);
      if (!manifest.ok()) return Fail(cmd.c_str(), manifest.status());
      if (!manifest->is_object() || manifest->value("kind", "") != kCronWorkflow) {
        return Fail(cmd.c_str(), InvalidArgument(file + ": kind: expected CronWorkflow"));
      }
      auto put = PutCron(**store, *manifest, file, lines.ok() ? &*lines : nullptr);
      if (!put.ok()) return Fail(cmd.c_str(), put.status());
      std::cout << GetView(put->second) << std::flush;
    }
    return 0;
  }
  if (verb == "list") {
    auto list = (*store)->ListObjects(kCronWorkflow);
    if (!list.ok()) return Fail(cmd.c_str(), list.status());
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    std::vector<std::vector<std::string>> rows = {{"NAME", "AGE", "LAST RUN", "NEXT RUN", "SCHEDULES", "TIMEZONE", "SUSPENDED"}};
    for (const Json& c : *list) {
      const Json spec = c.value("spec", Json::object());
      const int64_t last = static_cast<int64_t>(ParseRfc3339(c.value("status", Json::object()).value("lastScheduledTime", "")));
      const int64_t next = NextRun(spec, now);
      const int64_t created = static_cast<int64_t>(ParseRfc3339(c["metadata"].value("creationTimestamp", "")));
      rows.push_back({c["metadata"].value("name", ""), KubeAge(now - created), last > 0 ? KubeAge(now - last) : "N/A",
                      next > 0 ? KubeAge(next - now) : "N/A", Schedules(spec), spec.value("timezone", ""),
                      spec.value("suspend", false) ? "true" : "false"});
    }
    std::vector<size_t> width(rows[0].size(), 0);
    for (const auto& r : rows) for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
    for (const auto& r : rows) {
      std::string line;
      for (size_t i = 0; i < r.size(); ++i) line += i + 1 < r.size() ? r[i] + std::string(width[i] - r[i].size() + 3, ' ') : r[i];
      std::cout << line << "\n";
    }
    std::cout << std::flush;
    return 0;
  }
  if (verb == "get") {
    if (positional.size() != 1) return Fail(cmd.c_str(), InvalidArgument("expected one CronWorkflow name"));
    auto c = (*store)->GetObject(kCronWorkflow, positional[0]);
    if (!c.ok()) return Fail(cmd.c_str(), c.status());
    if (output == "json") std::cout << c->dump(2) << std::endl;
    else if (output == "yaml") std::cout << ToYaml(*c) << std::flush;
    else if (output.empty()) std::cout << GetView(*c) << std::flush;
    else return Fail(cmd.c_str(), InvalidArgument("-o: \"" + output + "\" is not json or yaml"));
    return 0;
  }
  if (verb == "delete" || verb == "suspend" || verb == "resume") {
    if (all) {
      auto list = (*store)->ListObjects(kCronWorkflow);
      if (!list.ok()) return Fail(cmd.c_str(), list.status());
      for (const Json& c : *list) positional.push_back(c["metadata"].value("name", ""));
    }
    if (positional.empty()) return Fail(cmd.c_str(), InvalidArgument("expected a CronWorkflow name"));
    for (const std::string& name : positional) {
      if (verb == "delete") {
        if (Status s = (*store)->DeleteObject(kCronWorkflow, name); !s.ok()) return Fail(cmd.c_str(), s);
        std::cout << "CronWorkflow '" << name << "' deleted" << std::endl;
        continue;
      }
      auto c = (*store)->GetObject(kCronWorkflow, name);
      if (!c.ok()) return Fail(cmd.c_str(), c.status());
      (*c)["spec"]["suspend"] = verb == "suspend";
      if (Status s = (*store)->PutObject(*c); !s.ok()) return Fail(cmd.c_str(), s);
      std::cout << "CronWorkflow '" << name << "' " << (verb == "suspend" ? "suspended" : "resumed") << std::endl;
    }
    return 0;
  }
  fprintf(stderr, "loom cron: unknown command \"%s\"\n%s", verb.c_str(), kUsage);
  return 2;
}

// `loom apply` of a CronWorkflow.
StatusOr<std::pair<std::string, std::string>> ApplyCron(const Document& doc) {
  LOOM_ASSIGN_OR_RETURN(auto store, OpenCronStore());
  auto lines = YamlFieldLines(doc.text);
  LOOM_ASSIGN_OR_RETURN(auto put, PutCron(*store, doc.object, doc.source, lines.ok() ? &*lines : nullptr));
  return std::make_pair(put.second["metadata"].value("name", ""), put.first);
}

}  // namespace

int RunCron(const Args& args) { return Run(args); }

void AddCronKinds(std::vector<KindHandler>* kinds) {
  kinds->push_back({kCronWorkflow, "argoproj.io", {"argoproj.io/v1alpha1"}, ApplyCron, [](const std::string& ns, const std::string& name) -> Status {
                      (void)ns;  // CronWorkflows are kept by name alone (store.h's objects)
                      LOOM_ASSIGN_OR_RETURN(auto store, OpenCronStore());
                      return store->DeleteObject(kCronWorkflow, name);
                    }});
}

}  // namespace loom::cli
