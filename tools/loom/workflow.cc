// loom workflow (alias loom wf): Argo workflows on this machine, with argo's commands and output.
//   submit FILE [-p k=v]... [--parameter-file F] [--name N] [--watch|--wait] [-o name|json]
//   list | get NAME [-o json|yaml|wide] | logs NAME [NODE] [-f] | wait NAME...
//   stop | terminate | suspend | resume | retry | resubmit | delete NAME... | lint FILE...
// loom template create FILE... | list | get NAME | delete NAME...   (WorkflowTemplates)
//
// Workflows live in LoomHome()/workflows.db. When `loom server` is up (LoomHome()/server.json
// names it and its pid is alive), submit hands the workflow to it; otherwise the CLI runs the
// engine itself: in this process with --wait/--watch, else in a detached `loom workflow run NAME`
// (its own session; log in LoomHome()/run/<name>.engine.log). Every other command reads or edits
// the store directly, which a running engine picks up. Where engines, their run locks and the
// server are found is workflow/launcher.h's business.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>
#include <thread>
#include <unordered_map>
#include <atomic>

#include "commands.h"
#include "kinds.h"
#include "core/file.h"
#include "core/json.h"
#include "core/logging.h"
#include "net/http_client.h"
#include "workflow/engine.h"
#include "workflow/launcher.h"
#include "workflow/pod_runner.h"
#include "workflow/spec.h"
#include "workflow/store.h"

namespace loom::cli {
namespace {

using workflow::Engine;
using workflow::Store;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

// ---- time and formatting ----------------------------------------------------------------

// RFC 3339 "2026-11-28T20:01:02Z" -> seconds since the epoch (0 when empty or unparsable).
int64_t ParseTime(const std::string& text) {
  if (text.empty()) return 0;
  struct tm tm = {};
  if (strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

// Argo's short durations: "5s", "3m", "2h", "4d" (age), and "1m23s" style for run time.
std::string ShortDuration(int64_t secs) {
  if (secs < 0) secs = 0;
  if (secs < 60) return std::to_string(secs) + "s";
  if (secs < 3600) return std::to_string(secs / 60) + "m" + (secs % 60 ? std::to_string(secs % 60) + "s" : "");
  if (secs < 86400) return std::to_string(secs / 3600) + "h" + (secs % 3600 / 60 ? std::to_string(secs % 3600 / 60) + "m" : "");
  return std::to_string(secs / 86400) + "d";
}

int64_t Now() { return static_cast<int64_t>(time(nullptr)); }

// Duration of a node or workflow: finished (or now, while running) minus started.
std::string RunTime(const Json& obj) {
  const int64_t start = ParseTime(obj.value("startedAt", ""));
  if (start == 0) return "";
  const int64_t end = ParseTime(obj.value("finishedAt", ""));
  return ShortDuration((end != 0 ? end : Now()) - start);
}

const char* Icon(const std::string& phase) {
  if (phase == "Succeeded") return "✔";
  if (phase == "Failed") return "✖";
  if (phase == "Error") return "⚠";
  if (phase == "Running") return "●";
  if (phase == "Skipped" || phase == "Omitted") return "○";
  return "◷";  // Pending
}

// ---- the `argo get` view ------------------------------------------------------------------

struct Row {
  std::string step, tmpl, pod, duration, runtime, message;
};

Row MakeRow(const Json& n, const std::string& id, const std::string& lead, bool root) {
  Row row;
  const std::string type = n.value("type", "");
  const std::string name = root ? n.value("name", "") : n.value("displayName", n.value("name", ""));
  row.step = lead + Icon(n.value("phase", "")) + " " + name;
  row.tmpl = n.value("templateName", "");
  if (n.contains("templateRef") && n["templateRef"].is_object()) {
    row.tmpl = n["templateRef"].value("name", "") + "/" + n["templateRef"].value("template", "");
  }
  if (type == "Pod") row.pod = n.value("id", id);
  row.duration = (type == "Pod" || root) ? RunTime(n) : "";
  row.runtime = n.value("podRuntime", "");
  row.message = n.value("message", "");
  return row;
}

// The step groups of a Steps node, in order: each group's members (Argo chains group i+1 under
// the members of group i).
// status.nodes by id. A Json object keeps its keys in order and finds one by scanning them,
// which made drawing a 10,000-node workflow quadratic.
using NodeIndex = std::unordered_map<std::string, const Json*>;

NodeIndex IndexNodes(const Json& nodes) {
  NodeIndex index;
  index.reserve(nodes.size());
  for (auto it = nodes.begin(); it != nodes.end(); ++it) index.emplace(it.key(), &it.value());
  return index;
}

std::vector<std::vector<std::string>> StepGroups(const NodeIndex& nodes, const std::string& steps_id) {
  std::vector<std::vector<std::string>> groups;
  std::set<std::string> visited;
  auto next_group = [&](const Json& node) -> std::string {
    if (!node.contains("children")) return "";
    for (const Json& c : node["children"]) {
      const std::string cid = c.get<std::string>();
      if (nodes.count(cid) && nodes.at(cid)->value("type", "") == "StepGroup" && !visited.count(cid)) return cid;
    }
    return "";
  };
  std::string group = next_group(*nodes.at(steps_id));
  while (!group.empty() && !visited.count(group)) {
    visited.insert(group);
    std::vector<std::string> members;
    std::string following;
    for (const Json& c : nodes.at(group)->value("children", Json::array())) {
      const std::string cid = c.get<std::string>();
      if (!nodes.count(cid)) continue;
      if (nodes.at(cid)->value("type", "") == "StepGroup") {
        following = cid;
      } else {
        members.push_back(cid);
      }
    }
    groups.push_back(members);
    for (const std::string& m : members) {
      if (following.empty()) following = next_group(*nodes.at(m));
    }
    group = following;
  }
  return groups;
}

// The tree under `id` as `argo get` draws it: step groups as rows of siblings (┬ for parallel
// steps), DAG tasks under their dependencies, retries under their Retry node.
void TreeRows(const NodeIndex& nodes, const std::string& id, const std::string& lead, const std::string& indent,
              bool root, std::vector<Row>* rows, std::set<std::string>* seen) {
  if (!nodes.count(id) || seen->count(id)) return;
  seen->insert(id);
  const Json& n = *nodes.at(id);
  rows->push_back(MakeRow(n, id, lead, root));
  std::vector<std::vector<std::string>> groups;
  if (n.value("type", "") == "Steps") {
    groups = StepGroups(nodes, id);
  } else {
    for (const Json& c : n.value("children", Json::array())) {
      const std::string cid = c.get<std::string>();
      if (!nodes.count(cid) || seen->count(cid)) continue;
      const std::string ctype = nodes.at(cid)->value("type", "");
      if (ctype == "StepGroup" || ctype == "TaskGroup") {
        seen->insert(cid);
        continue;  // the next step group of an enclosing Steps node: drawn there
      }
      groups.push_back({cid});
    }
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    const bool last_group = g + 1 == groups.size();
    const auto& members = groups[g];
    for (size_t m = 0; m < members.size(); ++m) {
      const bool last_member = m + 1 == members.size();
      std::string member_lead, member_indent;
      if (members.size() == 1) {
        member_lead = indent + (last_group ? "└───" : "├───");
        member_indent = indent + (last_group ? "    " : "│   ");
      } else if (m == 0) {
        member_lead = indent + (last_group ? "└─┬─" : "├─┬─");
        member_indent = indent + (last_group ? "  │ " : "│ │ ");
      } else {
        member_lead = indent + (last_group ? "  " : "│ ") + (last_member ? "└─" : "├─");
        member_indent = indent + (last_group ? "  " : "│ ") + (last_member ? "  " : "│ ");
      }
      TreeRows(nodes, members[m], member_lead, member_indent, false, rows, seen);
    }
  }
}

// -o wide adds RUNTIME (a pod's podRuntime: container or process) before MESSAGE.
std::string PrintTable(const std::vector<Row>& rows, bool wide) {
  auto width = [](const std::string& s) {  // display columns of UTF-8 text
    size_t w = 0;
    for (unsigned char c : s) w += (c & 0xC0) != 0x80;
    return w;
  };
  size_t w[5] = {4, 8, 7, 8, 7};
  for (const Row& r : rows) {
    w[0] = std::max(w[0], width(r.step));
    w[1] = std::max(w[1], width(r.tmpl));
    w[2] = std::max(w[2], width(r.pod));
    w[3] = std::max(w[3], width(r.duration));
    w[4] = std::max(w[4], width(r.runtime));
  }
  auto pad = [&](const std::string& s, size_t n) { return s + std::string(n + 2 - width(s), ' '); };
  std::string out = pad("STEP", w[0]) + pad("TEMPLATE", w[1]) + pad("PODNAME", w[2]) + pad("DURATION", w[3]) +
                    (wide ? pad("RUNTIME", w[4]) : "") + "MESSAGE\n";
  for (const Row& r : rows) {
    out += pad(r.step, w[0]) + pad(r.tmpl, w[1]) + pad(r.pod, w[2]) + pad(r.duration, w[3]) +
           (wide ? pad(r.runtime, w[4]) : "") + r.message;
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += "\n";
  }
  return out;
}

std::string FormatGet(const Json& wf, bool wide = false) {
  static const Json kNone = Json::object();
  const Json& meta = wf["metadata"];
  const Json& status = wf.contains("status") ? wf["status"] : kNone;  // not copied: it holds every node
  const std::string name = meta.value("name", "");
  auto line = [](const std::string& k, const std::string& v) {
    return k + std::string(k.size() < 21 ? 21 - k.size() : 1, ' ') + v + "\n";
  };
  std::string out;
  out += line("Name:", name);
  out += line("Namespace:", meta.value("namespace", "default"));
  out += line("Status:", status.value("phase", "Pending"));
  if (!status.value("message", "").empty()) out += line("Message:", status.value("message", ""));
  out += line("Created:", meta.value("creationTimestamp", ""));
  if (!status.value("startedAt", "").empty()) out += line("Started:", status.value("startedAt", ""));
  if (!status.value("finishedAt", "").empty()) out += line("Finished:", status.value("finishedAt", ""));
  if (!RunTime(status).empty()) out += line("Duration:", RunTime(status));
  if (!status.value("progress", "").empty()) out += line("Progress:", status.value("progress", ""));
  const Json spec = wf.value("spec", Json::object());
  if (spec.contains("arguments") && spec["arguments"].contains("parameters") && !spec["arguments"]["parameters"].empty()) {
    out += "Parameters:\n";
    for (const Json& p : spec["arguments"]["parameters"]) {
      const Json v = p.value("value", Json(""));
      out += line("  " + p.value("name", "") + ":", v.is_string() ? v.get<std::string>() : v.dump());
    }
  }
  const Json& nodes = status.contains("nodes") ? status["nodes"] : kNone;
  if (nodes.empty()) return out;
  const NodeIndex index = IndexNodes(nodes);
  std::vector<Row> rows;
  std::set<std::string> seen;
  TreeRows(index, name, " ", " ", true, &rows, &seen);
  // Nodes outside the main tree: the exit handler (argo prints it below the tree).
  for (auto it = nodes.begin(); it != nodes.end(); ++it) {
    const Json& n = it.value();
    if (seen.count(it.key()) || n.value("type", "") == "StepGroup" || n.value("type", "") == "TaskGroup") continue;
    const std::string parent = n.value("boundaryID", "");
    if (!parent.empty() && index.count(parent) && !seen.count(parent)) continue;  // printed under its root
    bool is_child = false;
    for (auto jt = nodes.begin(); jt != nodes.end() && !is_child; ++jt) {
      if (!jt.value().contains("children")) continue;
      for (const Json& c : jt.value()["children"]) is_child = is_child || c == it.key();
    }
    if (is_child) continue;
    std::vector<Row> extra;
    TreeRows(index, it.key(), " ", " ", false, &extra, &seen);
    rows.insert(rows.end(), extra.begin(), extra.end());
  }
  return out + "\n" + PrintTable(rows, wide);
}

// ---- store, engine, server --------------------------------------------------------------

StatusOr<std::unique_ptr<Store>> OpenStore() { return Store::Open(workflow::DefaultStorePath()); }

struct Runtime {
  std::unique_ptr<Store> store;
  std::unique_ptr<workflow::LocalPodRunner> pods;
  std::unique_ptr<Engine> engine;
};

// --pod-runtime of the commands that run an engine (submit, run, resume, retry, resubmit):
// $LOOM_POD_RUNTIME (how a detached engine gets its starter's choice), else process.
std::string g_pod_runtime = std::getenv("LOOM_POD_RUNTIME") != nullptr ? std::getenv("LOOM_POD_RUNTIME") : "process";

StatusOr<Runtime> OpenRuntime() {
  Runtime rt;
  LOOM_ASSIGN_OR_RETURN(rt.store, OpenStore());
  workflow::PodRunnerOptions pod_options;
  pod_options.home = LoomHome();
  LOOM_ASSIGN_OR_RETURN(pod_options.runtime, PodRuntimeFlag(g_pod_runtime));
  LOOM_ASSIGN_OR_RETURN(pod_options.artifacts.s3, S3OptionsFromEnv());
  LOOM_ASSIGN_OR_RETURN(rt.pods, workflow::LocalPodRunner::Create(pod_options));
  workflow::EngineOptions options;
  options.store = rt.store.get();
  options.pods = rt.pods.get();
  LOOM_ASSIGN_OR_RETURN(rt.engine, Engine::Create(options));
  return rt;
}

// True when a `loom server` is up for this home (whether or not this process can talk to it).
bool ServerIsUp() {
  return workflow::FindRunningServer(LoomHome()).status().code() != StatusCode::kNotFound;
}

// True when some engine (this machine's CLI or server) runs the workflow. Asking never takes its
// run lock. An unreadable lock table counts as "being run": nothing is started twice.
bool BeingRun(const std::string& name) {
  auto held = workflow::BeingRun(LoomHome(), name);
  if (!held.ok()) LOOM_LOG(WARNING) << held.status().message();
  return !held.ok() || *held;
}

// The detached engine runs pods as this command was told (--pod-runtime), through the
// environment it inherits.
Status StartDetachedEngine(const std::string& name) {
  setenv("LOOM_POD_RUNTIME", g_pod_runtime.c_str(), 1);
  return workflow::StartDetachedEngine(LoomHome(), name);
}

// Prints node changes as lines (not a terminal) or redraws the `get` view (a terminal) until
// the workflow completes or `done` says so. Returns the final workflow.
Json Watch(Store& store, const std::string& name, bool redraw, const std::function<bool()>& done) {
  std::map<std::string, std::string> phases;
  Json wf;
  std::string last_view;
  for (;;) {
    auto got = store.GetWorkflow(name);
    if (got.ok()) {
      wf = *got;
      const Json status = wf.value("status", Json::object());
      if (redraw) {
        std::string view = FormatGet(wf);
        if (view != last_view) {
          std::cout << "\033[H\033[2J" << view << std::flush;
          last_view = view;
        }
      } else {
        const Json nodes = status.value("nodes", Json::object());
        std::vector<Json> changed;
        for (auto it = nodes.begin(); it != nodes.end(); ++it) {
          const Json& n = it.value();
          const std::string type = n.value("type", "");
          if (type != "Pod" && type != "Suspend" && type != "Skipped") continue;
          const std::string phase = n.value("phase", "");
          if (phases[it.key()] == phase) continue;
          phases[it.key()] = phase;
          changed.push_back(n);
        }
        std::sort(changed.begin(), changed.end(), [](const Json& a, const Json& b) {
          return a.value("startedAt", "") < b.value("startedAt", "");
        });
        for (const Json& n : changed) {
          const std::string phase = n.value("phase", "");
          std::string text = std::string(Icon(phase)) + " " + n.value("name", "") + "  " + phase;
          if (workflow::IsCompletedPhase(phase) && !RunTime(n).empty()) text += "  " + RunTime(n);
          if (!n.value("message", "").empty()) text += "  " + n.value("message", "");
          std::cout << text << std::endl;
        }
      }
      if (workflow::IsCompletedPhase(status.value("phase", ""))) break;
    }
    if (done && done()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return wf;
}

// Waits for the workflow to complete (polling the store); returns its phase.
std::string WaitFor(Store& store, const std::string& name) {
  for (;;) {
    auto wf = store.GetWorkflow(name);
    if (!wf.ok()) return "NotFound";
    const std::string phase = (*wf)["status"].value("phase", "");
    if (workflow::IsCompletedPhase(phase)) return phase;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::vector<std::pair<std::string, std::string>> ParseParameters(const std::vector<std::string>& texts, Status* error) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& t : texts) {
    const size_t eq = t.find('=');
    if (eq == std::string::npos || eq == 0) {
      *error = InvalidArgument("-p: \"" + t + "\" is not name=value");
      return {};
    }
    out.emplace_back(t.substr(0, eq), t.substr(eq + 1));
  }
  return out;
}

// Flags that repeat (-p a=1 -p b=2) are taken out before FlagSet sees the rest.
std::vector<std::string> TakeRepeated(Args* args, const std::string& name) {
  std::vector<std::string> values;
  Args rest;
  for (size_t i = 0; i < args->size(); ++i) {
    const std::string& a = (*args)[i];
    const std::string dash1 = "-" + name, dash2 = "--" + name;
    if ((a == dash1 || a == dash2) && i + 1 < args->size()) {
      values.push_back((*args)[++i]);
    } else if (a.rfind(dash1 + "=", 0) == 0) {
      values.push_back(a.substr(dash1.size() + 1));
    } else if (a.rfind(dash2 + "=", 0) == 0) {
      values.push_back(a.substr(dash2.size() + 1));
    } else {
      rest.push_back(a);
    }
  }
  *args = rest;
  return values;
}

std::atomic<Engine*> g_engine{nullptr};

// Runs the engine on `name` in this process until it completes (or a signal asks it to stop).
Status RunHere(Runtime& rt, const std::string& name, bool watch, bool quiet) {
  // The progress view says what the engine's INFO lines would (jobs created, finished...).
  if (watch && Env("LOOM_MIN_LOG_LEVEL").empty()) SetMinLogSeverity(LogSeverity::kWarning);
  g_engine = rt.engine.get();
  Status result;
  std::atomic<bool> finished{false};
  std::thread engine([&] {
    result = rt.engine->Run(name);
    finished = true;
  });
  if (watch) {
    Watch(*rt.store, name, isatty(STDOUT_FILENO), [&] { return finished.load(); });
  }
  engine.join();
  if (watch && !quiet && result.ok()) {
    auto wf = rt.store->GetWorkflow(name);
    if (wf.ok() && isatty(STDOUT_FILENO)) std::cout << "\033[H\033[2J" << FormatGet(*wf) << std::flush;
  }
  g_engine = nullptr;
  return result;
}

void InstallSignals() {
  WatchStopSignals([] {
    if (Engine* e = g_engine.load()) {
      fprintf(stderr, "loom workflow: stopping the engine; the workflow stays Running until `loom workflow resume` continues it\n");
      e->RequestShutdown();
    } else {
      _exit(130);
    }
  });
}

int ExitForPhase(const std::string& phase) { return phase == "Succeeded" ? 0 : 1; }

// Puts a manifest in -n's namespace, as kubectl does; one naming another is refused.
Status PlaceInNamespace(Json* manifest, const std::string& ns, bool ns_given, const std::string& source) {
  if (!manifest->is_object() || !manifest->contains("metadata") || !(*manifest)["metadata"].is_object())
    return OkStatus();  // Lint names what is wrong
  Json& meta = (*manifest)["metadata"];
  if (!ns_given) return OkStatus();
  if (meta.contains("namespace") && meta["namespace"] != ns)
    return InvalidArgument(source + ": metadata.namespace: " + meta["namespace"].dump() + " does not match -n " + ns);
  meta["namespace"] = ns;
  return OkStatus();
}

// ---- commands -----------------------------------------------------------------------------

// POSTs a workflow to the running loom server (`body`: manifest, sourceName, submitOptions) into
// the manifest's namespace, as argo submit does (the server refuses one naming another); returns
// the created workflow.
StatusOr<Json> SubmitToServer(const workflow::ServerInfo& server, const Json& manifest, const std::string& text,
                              Json body) {
  body["manifest"] = text;  // the text, not the parsed object, so the server's errors keep its lines
  net::HttpRequest request;
  request.method = "POST";
  const Json meta = manifest.is_object() ? manifest.value("metadata", Json::object()) : Json::object();
  const std::string ns = meta.is_object() && meta.contains("namespace") && meta["namespace"].is_string()
                             ? meta["namespace"].get<std::string>() : "default";
  request.url = "/api/v1/workflows/" + net::UrlEncode(ns, false);
  request.headers = {{"Content-Type", "application/json"}};
  request.body = body.dump();
  LOOM_ASSIGN_OR_RETURN(net::HttpResponse response, workflow::CallServer(server, request));
  auto created = ParseJson(response.body, "loom server");
  if (response.status != 200 || !created.ok()) {
    return InvalidArgument(created.ok() ? created->value("message", created->value("error", response.body)) : response.body);
  }
  return created;
}

int Submit(Args args) {
  std::vector<std::string> params = TakeRepeated(&args, "p");
  std::vector<std::string> more = TakeRepeated(&args, "parameter");
  params.insert(params.end(), more.begin(), more.end());
  std::string parameter_file, name, output, generate_name, ns = "default";
  bool watch = false, wait = false;
  FlagSet flags("loom workflow submit FILE [-p name=value]... [flags]");
  NamespaceFlags(flags, &ns);
  flags.String("parameter-file", &parameter_file, "a YAML/JSON map of parameter values");
  flags.String("name", &name, "the workflow's name (instead of metadata.name / generateName)");
  flags.String("generate-name", &generate_name, "metadata.generateName to use");
  flags.Bool("watch", &watch, "show the workflow's progress until it ends; exit 0 when it Succeeded");
  flags.Bool("wait", &wait, "wait until it ends; exit 0 when it Succeeded");
  flags.String("pod-runtime", &g_pod_runtime, kPodRuntimeHelp);
  flags.String("o", &output, "name or json: print only the name, or the submitted object");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "workflow submit", &code)) return code;
  if (positional.size() != 1) return Fail("workflow submit", InvalidArgument("expected one workflow file"));
  if (auto runtime = PodRuntimeFlag(g_pod_runtime); !runtime.ok()) return Fail("workflow submit", runtime.status());
  Status perr;
  auto parameters = ParseParameters(params, &perr);
  if (!perr.ok()) return Fail("workflow submit", perr);
  workflow::SourceLines lines;
  auto manifest = workflow::LoadManifestFile(positional[0], &lines);
  if (!manifest.ok()) return Fail("workflow submit", manifest.status());
  if (Status s = PlaceInNamespace(&*manifest, ns, flags.IsSet("n") || flags.IsSet("namespace"), positional[0]); !s.ok())
    return Fail("workflow submit", s);
  if (!generate_name.empty()) {
    (*manifest)["metadata"].erase("name");
    (*manifest)["metadata"]["generateName"] = generate_name;
  }

  std::string wf_name;
  auto found = workflow::FindRunningServer(LoomHome());
  if (!found.ok() && found.status().code() != StatusCode::kNotFound) return Fail("workflow submit", found.status());
  const std::string server = found.ok() ? found->url : "";
  if (!server.empty() && flags.IsSet("pod-runtime")) {
    return Fail("workflow submit", FailedPrecondition("--pod-runtime: the loom server at " + server +
                                                      " runs this workflow's pods as its own --pod-runtime says"));
  }
  if (!server.empty()) {
    // The file's text, not the parsed object, so the server's errors keep its name and lines;
    // the namespace is the request's.
    auto text = ReadFile(positional[0]);
    if (!text.ok()) return Fail("workflow submit", text.status());
    Json body = {{"sourceName", positional[0]}, {"submitOptions", {{"parameters", Json::array()}}}};
    for (const auto& [k, v] : parameters) body["submitOptions"]["parameters"].push_back(k + "=" + v);
    if (!name.empty()) body["submitOptions"]["name"] = name;
    else if (!generate_name.empty()) body["submitOptions"]["generateName"] = generate_name;
    if (!parameter_file.empty()) {
      auto values = workflow::ReadParameterFile(parameter_file);
      if (!values.ok()) return Fail("workflow submit", values.status());
      for (const auto& [k, v] : *values) body["submitOptions"]["parameters"].push_back(k + "=" + v);
    }
    auto created = SubmitToServer(*found, *manifest, *text, body);
    if (!created.ok()) return Fail("workflow submit", created.status());
    wf_name = workflow::ObjectKey(*created);
    if (output == "name") {
      std::cout << workflow::KeyName(wf_name) << std::endl;
    } else if (output == "json") {
      std::cout << created->dump(2) << std::endl;
    } else {
      std::cout << "Name:                " << workflow::KeyName(wf_name) << "\nServer:              " << server << std::endl;
    }
    if (!watch && !wait) return 0;
    auto store = OpenStore();
    if (!store.ok()) return Fail("workflow submit", store.status());
    if (watch) Watch(**store, wf_name, isatty(STDOUT_FILENO), nullptr);
    return ExitForPhase(WaitFor(**store, wf_name));
  }

  InstallSignals();
  auto rt = OpenRuntime();
  if (!rt.ok()) return Fail("workflow submit", rt.status());
  workflow::SubmitOptions options;
  options.parameters = parameters;
  options.parameter_file = parameter_file;
  options.name = name;
  options.source_name = positional[0];
  options.source_lines = &lines;
  auto submitted = rt->engine->Submit(*manifest, options);
  if (!submitted.ok()) return Fail("workflow submit", submitted.status());
  wf_name = *submitted;  // its key
  if (output == "name") {
    std::cout << workflow::KeyName(wf_name) << std::endl;
  } else if (output == "json") {
    auto wf = rt->store->GetWorkflow(wf_name);
    if (wf.ok()) std::cout << wf->dump(2) << std::endl;
  } else if (!watch) {
    auto wf = rt->store->GetWorkflow(wf_name);
    if (wf.ok()) std::cout << FormatGet(*wf) << std::flush;
  }
  if (!watch && !wait) {
    Status s = StartDetachedEngine(wf_name);
    if (!s.ok()) return Fail("workflow submit", s);
    return 0;
  }
  Status s = RunHere(*rt, wf_name, watch, output == "name");
  if (!s.ok()) return Fail("workflow submit", s);
  auto wf = rt->store->GetWorkflow(wf_name);
  const std::string phase = wf.ok() ? (*wf)["status"].value("phase", "") : "";
  if (wait && output != "name") std::cout << workflow::KeyName(wf_name) << " " << phase << std::endl;
  return ExitForPhase(phase);
}

// argo list: one namespace's workflows ("default", or -n), or every namespace's with -A and a
// NAMESPACE column first.
int List(const Args& args) {
  std::string output, ns = "default", selector_text;
  bool all = false;
  FlagSet flags("loom workflow list [-n NAMESPACE | -A] [flags]");
  flags.String("o", &output, "name or json");
  flags.String("l", &selector_text, "a label query to filter on: k=v, k==v, k!=v, k or !k, separated by commas "
                                    "(e.g. -l workflows.argoproj.io/phase=Failed)");
  flags.String("selector", &selector_text, "a label query (as -l)");
  NamespaceFlags(flags, &ns);
  flags.Bool("A", &all, "list workflows in every namespace");
  flags.Bool("all-namespaces", &all, "list workflows in every namespace (as -A)");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "workflow list", &code)) return code;
  if (!positional.empty())
    return Fail("workflow list", InvalidArgument("unexpected argument \"" + positional[0] + "\""));
  if (all && (flags.IsSet("n") || flags.IsSet("namespace")))
    return Fail("workflow list", InvalidArgument("-A lists every namespace: it cannot be given with -n"));
  auto selector = ParseLabelSelector(selector_text);
  if (!selector.ok()) return Fail("workflow list", selector.status());
  auto store = OpenStore();
  if (!store.ok()) return Fail("workflow list", store.status());
  auto stored = (*store)->ListWorkflows();
  if (!stored.ok()) return Fail("workflow list", stored.status());
  auto namespace_of = [](const Json& wf) { return wf["metadata"].value("namespace", std::string("default")); };
  std::vector<Json> list;
  for (Json& wf : *stored) {
    if ((all || namespace_of(wf) == ns) && selector->Matches(wf["metadata"].value("labels", Json()))) {
      list.push_back(std::move(wf));
    }
  }
  if (output == "json") {
    std::cout << Json(list).dump(2) << std::endl;
    return 0;
  }
  if (output == "name") {
    for (const Json& wf : list) std::cout << wf["metadata"].value("name", "") << "\n";
    return 0;
  }
  size_t w = 4, nw = 9;
  for (const Json& wf : list) {
    w = std::max(w, wf["metadata"].value("name", "").size());
    nw = std::max(nw, namespace_of(wf).size());
  }
  auto namespace_column = [&](const std::string& text) {
    if (all) printf("%-*s  ", static_cast<int>(nw), text.c_str());
  };
  namespace_column("NAMESPACE");
  printf("%-*s  %-10s %-4s %-9s %-9s %s\n", static_cast<int>(w), "NAME", "STATUS", "AGE", "DURATION", "PRIORITY", "MESSAGE");
  for (const Json& wf : list) {
    const Json status = wf.value("status", Json::object());
    const int64_t created = ParseTime(wf["metadata"].value("creationTimestamp", ""));
    namespace_column(namespace_of(wf));
    printf("%-*s  %-10s %-4s %-9s %-9s %s\n", static_cast<int>(w), wf["metadata"].value("name", "").c_str(),
           status.value("phase", "Pending").c_str(), created ? KubeAge(Now() - created).c_str() : "",
           RunTime(status).c_str(), "0", status.value("message", "").c_str());
  }
  return 0;
}

int Get(const Args& args) {
  std::string output, ns = "default";
  FlagSet flags("loom workflow get NAME [flags]");
  flags.String("o", &output, "json, yaml, or wide (argo's tree view with each pod's RUNTIME: container or process) "
                             "(default: argo's tree view)");
  NamespaceFlags(flags, &ns);
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "workflow get", &code)) return code;
  if (positional.size() != 1) return Fail("workflow get", InvalidArgument("expected one workflow name"));
  auto store = OpenStore();
  if (!store.ok()) return Fail("workflow get", store.status());
  auto wf = (*store)->GetWorkflow(workflow::ObjectKey(ns, positional[0]));
  if (!wf.ok()) return Fail("workflow get", wf.status());
  if (output == "json") {
    std::cout << wf->dump(2) << std::endl;
  } else if (output == "yaml") {
    std::cout << ToYaml(*wf) << std::flush;
  } else if (output.empty() || output == "wide") {
    std::cout << FormatGet(*wf, output == "wide") << std::flush;
  } else {
    return Fail("workflow get", InvalidArgument("-o: \"" + output + "\" is not json, yaml or wide"));
  }
  return 0;
}

// The pod nodes of a workflow in start order, or the one named by `which` (id, name or display name).
std::vector<Json> PodNodes(const Json& wf, const std::string& which) {
  std::vector<Json> pods;
  const Json nodes = wf["status"].value("nodes", Json::object());
  for (auto it = nodes.begin(); it != nodes.end(); ++it) {
    const Json& n = it.value();
    if (n.value("type", "") != "Pod") continue;
    if (!which.empty() && which != it.key() && which != n.value("name", "") && which != n.value("displayName", "")) continue;
    pods.push_back(n);
  }
  std::sort(pods.begin(), pods.end(), [](const Json& a, const Json& b) {
    return a.value("startedAt", "") < b.value("startedAt", "");
  });
  return pods;
}

int Logs(const Args& args) {
  bool follow = false;
  std::string ns = "default";
  FlagSet flags("loom workflow logs NAME [NODE] [flags]");
  flags.Bool("f", &follow, "follow: print as pods write, until the workflow ends");
  NamespaceFlags(flags, &ns);
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "workflow logs", &code)) return code;
  if (positional.empty() || positional.size() > 2) return Fail("workflow logs", InvalidArgument("expected NAME [NODE]"));
  const std::string name = workflow::ObjectKey(ns, positional[0]), which = positional.size() == 2 ? positional[1] : "";
  auto store = OpenStore();
  if (!store.ok()) return Fail("workflow logs", store.status());
  std::map<std::string, int64_t> offsets;
  std::map<std::string, std::string> partial;  // an unfinished last line per pod
  for (;;) {
    auto wf = (*store)->GetWorkflow(name);
    if (!wf.ok()) return Fail("workflow logs", wf.status());
    const bool completed = workflow::IsCompletedPhase((*wf)["status"].value("phase", ""));
    std::vector<Json> pods = PodNodes(*wf, which);
    if (!which.empty() && pods.empty()) {
      return Fail("workflow logs", NotFound("workflow " + positional[0] + " has no pod node \"" + which + "\""));
    }
    for (const Json& pod : pods) {
      const std::string id = pod.value("id", "");
      int64_t total = 0;
      auto chunk = (*store)->ReadLog(name, id, offsets[id], 1 << 20, &total);
      if (!chunk.ok()) return Fail("workflow logs", chunk.status());
      offsets[id] += static_cast<int64_t>(chunk->size());
      std::string text = partial[id] + *chunk;
      const bool pod_done = workflow::IsCompletedPhase(pod.value("phase", ""));
      size_t end = text.rfind('\n');
      std::string complete = end == std::string::npos ? "" : text.substr(0, end + 1);
      partial[id] = end == std::string::npos ? text : text.substr(end + 1);
      if (pod_done && offsets[id] >= total && !partial[id].empty()) complete += partial[id] + "\n", partial[id].clear();
      if (complete.empty()) continue;
      if (which.empty()) {
        const std::string prefix = pod.value("name", id) + ": ";
        size_t start = 0;
        while (start < complete.size()) {
          size_t nl = complete.find('\n', start);
          std::cout << prefix << complete.substr(start, nl - start + 1);
          start = nl + 1;
        }
      } else {
        std::cout << complete;
      }
      std::cout << std::flush;
    }
    if (!follow || completed) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return 0;
}

int Wait(const Args& args) {
  std::string ns = "default";
  FlagSet flags("loom workflow wait NAME... [flags]");
  NamespaceFlags(flags, &ns);
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "workflow wait", &code)) return code;
  if (positional.empty()) return Fail("workflow wait", InvalidArgument("expected a workflow name"));
  auto store = OpenStore();
  if (!store.ok()) return Fail("workflow wait", store.status());
  int result = 0;
  for (const std::string& name : positional) {
    const std::string key = workflow::ObjectKey(ns, name);
    auto wf = (*store)->GetWorkflow(key);
    if (!wf.ok()) return Fail("workflow wait", wf.status());
    const std::string phase = WaitFor(**store, key);
    std::cout << name << " " << phase << std::endl;
    if (phase != "Succeeded") result = 1;
  }
  return result;
}

// stop / terminate / suspend / resume / retry / resubmit / delete: one call each per name.
// Terminates a running workflow (waiting up to 10 s for its engine to let go), then removes it,
// its nodes, logs and pod folders.
Status DeleteWorkflow(Runtime& rt, const std::string& name) {
  auto wf = rt.store->GetWorkflow(name);
  if (wf.ok() && !workflow::IsCompletedPhase((*wf)["status"].value("phase", ""))) {
    (void)rt.engine->Terminate(name);
    for (int i = 0; i < 100 && BeingRun(name); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return workflow::DeleteWorkflowData(*rt.store, LoomHome(), name);
}

int Action(const std::string& verb, const Args& args) {
  bool all = false, detach_engine = true;
  std::string ns = "default";
  FlagSet flags("loom workflow " + verb + " NAME... [flags]");
  NamespaceFlags(flags, &ns);
  if (verb == "delete") flags.Bool("all", &all, "delete every workflow of the namespace");
  if (verb == "resume" || verb == "retry") {
    flags.Bool("engine", &detach_engine, "start an engine in the background when none runs the workflow");
  }
  if (verb == "resume" || verb == "retry" || verb == "resubmit") flags.String("pod-runtime", &g_pod_runtime, kPodRuntimeHelp);
  std::vector<std::string> positional;
  int code = 0;
  const std::string cmd = "workflow " + verb;
  if (!ParseFlagsOrExit(flags, args, &positional, cmd.c_str(), &code)) return code;
  auto rt = OpenRuntime();
  if (!rt.ok()) return Fail(cmd.c_str(), rt.status());
  if (all) {
    auto list = rt->store->ListWorkflows();
    if (!list.ok()) return Fail(cmd.c_str(), list.status());
    for (const Json& wf : *list) {
      if (workflow::KeyNamespace(workflow::ObjectKey(wf)) == ns) positional.push_back(wf["metadata"].value("name", ""));
    }
  }
  if (positional.empty()) return Fail(cmd.c_str(), InvalidArgument("expected a workflow name"));
  for (const std::string& shown : positional) {
    const std::string name = workflow::ObjectKey(ns, shown);  // the key
    Status s;
    std::string message = "workflow " + shown;
    if (verb == "stop") {
      s = rt->engine->Stop(name), message += " stopped";
    } else if (verb == "terminate") {
      s = rt->engine->Terminate(name), message += " terminated";
    } else if (verb == "suspend") {
      s = rt->engine->Suspend(name), message += " suspended";
    } else if (verb == "resume") {
      s = rt->engine->Resume(name), message += " resumed";
    } else if (verb == "retry" || verb == "resubmit") {
      auto r = verb == "retry" ? rt->engine->Retry(name) : rt->engine->Resubmit(name);
      s = r.status();
      if (r.ok()) {
        message = verb == "retry" ? "workflow " + shown + " retried"
                                  : "workflow " + workflow::KeyName(*r) + " submitted (from " + shown + ")";
        if (verb == "resubmit") s = StartDetachedEngine(*r);
      }
    } else if (verb == "delete") {
      s = DeleteWorkflow(*rt, name);
      message = "Workflow '" + shown + "' deleted";
    }
    if (!s.ok()) return Fail(cmd.c_str(), s);
    // A workflow that nothing runs (its engine was killed, or it was submitted elsewhere) gets
    // an engine, as `loom server` would give it on start.
    if ((verb == "resume" || verb == "retry") && detach_engine) {
      auto wf = rt->store->GetWorkflow(name);
      if (wf.ok() && !workflow::IsCompletedPhase((*wf)["status"].value("phase", "")) && !BeingRun(name) &&
          !ServerIsUp()) {
        Status started = StartDetachedEngine(name);
        if (!started.ok()) return Fail(cmd.c_str(), started);
        message += " (engine started)";
      }
    }
    std::cout << message << std::endl;
  }
  return 0;
}

// The engine for one stored workflow, in the foreground: what submit starts detached.
int RunEngine(const Args& args) {
  bool watch = false;
  std::string ns = "default";
  FlagSet flags("loom workflow run NAME [flags]");
  NamespaceFlags(flags, &ns);
  flags.Bool("watch", &watch, "show progress");
  flags.String("pod-runtime", &g_pod_runtime, kPodRuntimeHelp);
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "workflow run", &code)) return code;
  if (positional.size() != 1) return Fail("workflow run", InvalidArgument("expected one workflow name"));
  InstallSignals();
  auto rt = OpenRuntime();
  if (!rt.ok()) return Fail("workflow run", rt.status());
  const std::string key = workflow::ObjectKey(ns, positional[0]);
  Status s = RunHere(*rt, key, watch, false);
  if (!s.ok()) return Fail("workflow run", s);
  auto wf = rt->store->GetWorkflow(key);
  const std::string phase = wf.ok() ? (*wf)["status"].value("phase", "") : "";
  std::cout << positional[0] << " " << phase << std::endl;
  return ExitForPhase(phase);
}

int Lint(const Args& args) {
  FlagSet flags("loom workflow lint FILE... [flags]");
  std::vector<std::string> positional;
  int code = 0;
  if (!ParseFlagsOrExit(flags, args, &positional, "workflow lint", &code)) return code;
  if (positional.empty()) return Fail("workflow lint", InvalidArgument("expected a workflow file"));
  auto store = OpenStore();
  if (!store.ok()) return Fail("workflow lint", store.status());
  int result = 0;
  for (const std::string& file : positional) {
    workflow::SourceLines lines;
    auto manifest = workflow::LoadManifestFile(file, &lines);
    Status s = manifest.ok() ? workflow::Lint(*manifest, file, store->get(), &lines) : manifest.status();
    if (!s.ok()) {
      std::cerr << s.message() << std::endl;
      result = 1;
    }
  }
  if (result == 0) std::cout << "✔ no linting errors found!" << std::endl;
  return result;
}

}  // namespace

int RunWorkflow(const Args& args) {
  static const char kUsage[] =
      "usage: loom workflow <command> (alias: loom wf)\n"
      "  submit FILE [-p k=v]... [--parameter-file F] [--name N] [--watch|--wait] [-o name|json]\n"
      "  list [-o name|json]          get NAME [-o json|yaml]      logs NAME [NODE] [-f]\n"
      "  wait NAME...                 stop NAME...                 terminate NAME...\n"
      "  suspend NAME...              resume NAME...               retry NAME...\n"
      "  resubmit NAME...             delete NAME...|--all         lint FILE...\n"
      "every command takes -n NAMESPACE (default: default): names are unique per namespace\n"
      "state: $LOOM_HOME/workflows.db (LOOM_HOME defaults to ~/.loom)\n";
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    (args.empty() ? std::cerr : std::cout) << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string verb = args[0];
  Args rest(args.begin() + 1, args.end());
  if (verb == "submit") return Submit(rest);
  if (verb == "list" || verb == "ls") return List(rest);
  if (verb == "get") return Get(rest);
  if (verb == "logs") return Logs(rest);
  if (verb == "wait") return Wait(rest);
  if (verb == "lint") return Lint(rest);
  if (verb == "run") return RunEngine(rest);
  if (verb == "stop" || verb == "terminate" || verb == "suspend" || verb == "resume" || verb == "retry" ||
      verb == "resubmit" || verb == "delete") {
    return Action(verb, rest);
  }
  fprintf(stderr, "loom workflow: unknown command \"%s\"\n%s", verb.c_str(), kUsage);
  return 2;
}

namespace {

// loom template (WorkflowTemplates) and loom cluster-template (ClusterWorkflowTemplates), as argo
// template and argo cluster-template.
int RunTemplates(const Args& args, bool cluster) {
  const std::string noun = cluster ? "cluster-template" : "template";
  const std::string kind = cluster ? workflow::kClusterWorkflowTemplate : "WorkflowTemplate";
  const std::string usage = "usage: loom " + noun + " <create FILE...|list|get NAME [-o json|yaml]|delete NAME...>" +
                            std::string(cluster ? "" : " [-n NAMESPACE]") + "  (" +
                            kind + "s)\n";
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    (args.empty() ? std::cerr : std::cout) << usage;
    return args.empty() ? 2 : 0;
  }
  const std::string verb = args[0];
  Args rest(args.begin() + 1, args.end());
  std::string output, ns = "default";
  FlagSet flags("loom " + noun + " " + verb + " [flags]");
  flags.String("o", &output, "json or yaml (get)");
  if (!cluster) NamespaceFlags(flags, &ns);
  std::vector<std::string> positional;
  int code = 0;
  const std::string cmd = noun + " " + verb;
  if (!ParseFlagsOrExit(flags, rest, &positional, cmd.c_str(), &code)) return code;
  auto store = OpenStore();
  if (!store.ok()) return Fail(cmd.c_str(), store.status());
  if (verb == "create") {
    if (positional.empty()) return Fail(cmd.c_str(), InvalidArgument("expected a " + kind + " file"));
    for (const std::string& file : positional) {
      workflow::SourceLines lines;
      auto manifest = workflow::LoadManifestFile(file, &lines);
      if (!manifest.ok()) return Fail(cmd.c_str(), manifest.status());
      if (!cluster) {
        if (Status s = PlaceInNamespace(&*manifest, ns, flags.IsSet("n") || flags.IsSet("namespace"), file); !s.ok())
          return Fail(cmd.c_str(), s);
      }
      if (manifest->value("kind", "") != kind) {
        return Fail(cmd.c_str(), InvalidArgument(file + ": kind: expected " + kind + ", got \"" + manifest->value("kind", "") + "\""));
      }
      Status s = (*store)->PutTemplate(*manifest);
      if (!s.ok()) return Fail(cmd.c_str(), s);
      std::cout << (cluster ? "clusterworkflowtemplate " : "workflowtemplate ") << (*manifest)["metadata"].value("name", "")
                << " created" << std::endl;
    }
    return 0;
  }
  if (verb == "list") {
    auto list = (*store)->ListTemplates(cluster);
    if (!list.ok()) return Fail(cmd.c_str(), list.status());
    std::cout << "NAME" << std::endl;
    for (const Json& t : *list) {
      if (cluster || workflow::KeyNamespace(workflow::ObjectKey(t)) == ns) std::cout << t["metadata"].value("name", "") << std::endl;
    }
    return 0;
  }
  if (verb == "get") {
    if (positional.size() != 1) return Fail(cmd.c_str(), InvalidArgument("expected one template name"));
    auto t = (*store)->GetTemplate(cluster ? positional[0] : workflow::ObjectKey(ns, positional[0]), cluster);
    if (!t.ok()) return Fail(cmd.c_str(), t.status());
    if (output == "json") {
      std::cout << t->dump(2) << std::endl;
    } else {
      std::cout << ToYaml(*t) << std::flush;
    }
    return 0;
  }
  if (verb == "delete") {
    if (positional.empty()) return Fail(cmd.c_str(), InvalidArgument("expected a template name"));
    for (const std::string& name : positional) {
      Status s = (*store)->DeleteTemplate(cluster ? name : workflow::ObjectKey(ns, name), cluster);
      if (!s.ok()) return Fail(cmd.c_str(), s);
      std::cout << kind << " '" << name << "' deleted" << std::endl;
    }
    return 0;
  }
  fprintf(stderr, "loom %s: unknown command \"%s\"\n%s", noun.c_str(), verb.c_str(), usage.c_str());
  return 2;
}

// `loom apply` of a Workflow: submitted as `loom workflow submit` submits it (to the running
// server, else here with a detached engine).
StatusOr<std::pair<std::string, std::string>> ApplyWorkflow(const Document& doc) {
  auto found = workflow::FindRunningServer(LoomHome());
  if (!found.ok() && found.status().code() != StatusCode::kNotFound) return found.status();
  if (found.ok()) {
    Json body = {{"sourceName", doc.source}, {"submitOptions", {{"parameters", Json::array()}}}};
    LOOM_ASSIGN_OR_RETURN(Json created, SubmitToServer(*found, doc.object, doc.text, body));
    return std::make_pair(created["metadata"].value("name", ""), std::string("created"));
  }
  workflow::SourceLines lines;
  LOOM_ASSIGN_OR_RETURN(Json manifest, workflow::LoadManifest(doc.text, doc.source, &lines));
  LOOM_ASSIGN_OR_RETURN(Runtime rt, OpenRuntime());
  workflow::SubmitOptions options;
  options.source_name = doc.source;
  options.source_lines = &lines;
  LOOM_ASSIGN_OR_RETURN(std::string name, rt.engine->Submit(manifest, options));
  LOOM_RETURN_IF_ERROR(StartDetachedEngine(name));
  return std::make_pair(name, std::string("created"));
}

// `loom apply` of a WorkflowTemplate or ClusterWorkflowTemplate: linted, then stored.
StatusOr<std::pair<std::string, std::string>> ApplyTemplate(const Document& doc) {
  workflow::SourceLines lines;
  LOOM_ASSIGN_OR_RETURN(Json manifest, workflow::LoadManifest(doc.text, doc.source, &lines));
  LOOM_ASSIGN_OR_RETURN(auto store, OpenStore());
  const std::string name = manifest["metadata"].value("name", "");
  const bool cluster = manifest.value("kind", "") == workflow::kClusterWorkflowTemplate;
  auto old = store->GetTemplate(cluster ? name : workflow::ObjectKey(manifest), cluster);
  if (old.ok() && *old == manifest) return std::make_pair(name, std::string("unchanged"));
  LOOM_RETURN_IF_ERROR(store->PutTemplate(manifest));
  return std::make_pair(name, std::string(old.ok() ? "configured" : "created"));
}

}  // namespace

int RunTemplate(const Args& args) { return RunTemplates(args, false); }
int RunClusterTemplate(const Args& args) { return RunTemplates(args, true); }

void AddWorkflowKinds(std::vector<KindHandler>* kinds) {
  const std::vector<std::string> v1alpha1 = {"argoproj.io/v1alpha1"};
  kinds->push_back({"Workflow", "argoproj.io", v1alpha1, ApplyWorkflow,
                    [](const std::string& ns, const std::string& name) -> Status {
                      LOOM_ASSIGN_OR_RETURN(Runtime rt, OpenRuntime());
                      return DeleteWorkflow(rt, workflow::ObjectKey(ns, name));
                    }});
  for (bool cluster : {false, true}) {
    kinds->push_back({cluster ? workflow::kClusterWorkflowTemplate : "WorkflowTemplate", "argoproj.io", v1alpha1,
                      ApplyTemplate, [cluster](const std::string& ns, const std::string& name) -> Status {
                        LOOM_ASSIGN_OR_RETURN(auto store, OpenStore());
                        return store->DeleteTemplate(cluster ? name : workflow::ObjectKey(ns, name), cluster);
                      }});
  }
}

}  // namespace loom::cli
