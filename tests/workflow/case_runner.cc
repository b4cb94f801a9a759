#include "workflow/case_runner.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <sstream>
#include <thread>

#include "container/config_store.h"
#include "core/file.h"
#include "core/json.h"
#include "workflow/engine.h"
#include "workflow/pod_runner.h"
#include "workflow/spec.h"
#include "workflow/store.h"

namespace loom::workflow::testing {
namespace {

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

// Replaces {{id:<node name>}} with the node's id.
std::string ExpandIds(const std::string& text, const std::string& workflow) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t open = text.find("{{id:", pos);
    if (open == std::string::npos) break;
    size_t close = text.find("}}", open);
    if (close == std::string::npos) break;
    out += text.substr(pos, open - pos) + NodeId(workflow, text.substr(open + 5, close - open - 5));
    pos = close + 2;
  }
  return out + text.substr(pos);
}

std::string Str(const Json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

}  // namespace

std::string RunCase(const std::string& cases_dir, const std::string& name, const std::string& home,
                    const CaseOptions& case_options) {
  std::ostringstream diff;
  auto expected_or = ReadJsonOrYamlFile(JoinPath(cases_dir, name + ".expected.yaml"));
  if (!expected_or.ok()) return expected_or.status().ToString();
  // {{param:<name>}} in what is expected stands for a parameter the test passes (a server's URL).
  std::function<void(Json&)> expand_params = [&](Json& v) {
    if (v.is_string()) {
      std::string text = v.get<std::string>();
      for (const auto& [k, value] : case_options.parameters) {
        const std::string tag = "{{param:" + k + "}}";
        for (size_t p; (p = text.find(tag)) != std::string::npos;) text.replace(p, tag.size(), value);
      }
      v = text;
    } else if (v.is_structured()) {
      for (Json& e : v) expand_params(e);
    }
  };
  Json expected = *expected_or;
  expand_params(expected);
  auto store_or = Store::Open(JoinPath(home, "workflows.db"));
  if (!store_or.ok()) return store_or.status().ToString();
  Store& store = **store_or;
  PodRunnerOptions pod_options;
  pod_options.home = home;
  pod_options.kill_grace_secs = 1;
  pod_options.artifacts.s3 = case_options.s3;
  auto pods = LocalPodRunner::Create(pod_options);
  if (!pods.ok()) return pods.status().ToString();
  EngineOptions options;
  options.store = &store;
  options.pods = pods->get();
  options.home = home;
  options.poll_interval_ms = 20;
  auto engine_or = Engine::Create(options);
  if (!engine_or.ok()) return engine_or.status().ToString();
  Engine& engine = **engine_or;

  for (const Json& t : expected.value("templates", Json::array())) {
    auto wt = LoadManifestFile(JoinPath(cases_dir, t.get<std::string>()));
    if (!wt.ok()) return wt.status().ToString();
    Status s = store.PutTemplate(*wt);
    if (!s.ok()) return s.ToString();
  }
  for (const Json& c : expected.value("configmaps", Json::array())) {
    const std::string file = JoinPath(cases_dir, c.get<std::string>());
    auto doc = ReadJsonOrYamlFile(file);
    if (!doc.ok()) return doc.status().ToString();
    auto cm = container::ConfigObjectFromManifest(*doc, file);
    if (!cm.ok()) return cm.status().ToString();
    Status s = container::ConfigStore(JoinPath(home, "objects"), cm->namespace_name).Put(*cm, false);
    if (!s.ok()) return s.ToString();
  }
  SourceLines lines;
  auto manifest = LoadManifestFile(JoinPath(cases_dir, name + ".yaml"), &lines);
  if (!manifest.ok()) return manifest.status().ToString();
  SubmitOptions submit;
  submit.name = name;
  submit.source_name = name + ".yaml";
  submit.source_lines = &lines;
  std::string scratch = JoinPath(home, "scratch");
  (void)MakeDirs(scratch);
  const Json parameters = expected.value("parameters", Json::object());
  for (auto& [k, v] : parameters.items()) {
    std::string value = Str(v);
    for (size_t p; (p = value.find("$SCRATCH")) != std::string::npos;) value.replace(p, 8, scratch);
    submit.parameters.emplace_back(k, value);
  }
  for (const auto& [k, v] : case_options.parameters) submit.parameters.emplace_back(k, v);
  auto submitted = engine.Submit(*manifest, submit);
  if (!submitted.ok()) return submitted.status().ToString();

  // Actions from another thread, as a user at another terminal.
  std::atomic<bool> done{false};
  std::thread actor([&] {
    for (const Json& a : expected.value("actions", Json::array())) {
      std::string when = a.value("when", "");
      std::string node_name = when.substr(0, when.rfind(' '));
      std::string phase = when.substr(when.rfind(' ') + 1);
      while (!done.load()) {
        auto node = store.GetNode(name, NodeId(name, node_name));
        if (node.ok() && node->value("phase", "") == phase) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (done.load()) return;
      std::string what = a.value("do", "");
      Status s = what == "resume" ? engine.Resume(name)
                 : what == "stop" ? engine.Stop(name)
                 : what == "terminate" ? engine.Terminate(name)
                 : what == "suspend" ? engine.Suspend(name)
                                     : InvalidArgument("unknown action " + what);
      if (!s.ok()) return;
    }
  });
  Status run = engine.Run(name);
  done.store(true);
  actor.join();
  if (!run.ok()) return "Run: " + run.ToString();

  auto wf_or = store.GetWorkflow(name);
  if (!wf_or.ok()) return wf_or.status().ToString();
  const Json& status = (*wf_or)["status"];
  if (status.value("phase", "") != expected.value("phase", "")) {
    diff << "workflow phase: got " << status.value("phase", "") << ", want " << expected.value("phase", "")
         << " (message: " << status.value("message", "") << ")\n";
  }
  if (expected.contains("message") && status.value("message", "") != ExpandIds(Str(expected["message"]), name)) {
    diff << "workflow message: got \"" << status.value("message", "") << "\", want \""
         << ExpandIds(Str(expected["message"]), name) << "\"\n";
  }
  if (expected.contains("outputs") && status.value("outputs", Json::object()) != expected["outputs"]) {
    diff << "workflow outputs: got " << status.value("outputs", Json::object()).dump() << ", want "
         << expected["outputs"].dump() << "\n";
  }
  const Json labels = (*wf_or)["metadata"].value("labels", Json::object());
  const Json want_labels = expected.value("labels", Json::object());
  for (auto& [k, v] : want_labels.items()) {
    if (!labels.contains(k) || labels[k] != v) {
      diff << "label " << k << ": got " << (labels.contains(k) ? labels[k].dump() : "<none>") << ", want " << v.dump() << "\n";
    }
  }
  const Json want_configmaps = expected.value("configmaps_after", Json::object());
  for (auto& [cm_name, keys] : want_configmaps.items()) {
    auto cm = container::ConfigStore(JoinPath(home, "objects")).Get(container::ConfigKind::kConfigMap, cm_name);
    if (!cm.ok()) {
      diff << "configmap " << cm_name << ": " << cm.status().message() << "\n";
      continue;
    }
    for (auto& [key, want] : keys.items()) {
      auto it = cm->data.find(key);
      Json got = it == cm->data.end() ? Json() : Json::parse(it->second, nullptr, false);
      for (auto& [f, v] : want.items()) {
        const Json w = v.is_string() ? Json(ExpandIds(v.get<std::string>(), name)) : v;
        if (!got.is_object() || !got.contains(f) || got[f] != w) {
          diff << "configmap " << cm_name << "." << key << "." << f << ": got "
               << (got.is_object() && got.contains(f) ? got[f].dump() : "<none>") << ", want " << w.dump() << "\n";
        }
      }
    }
  }
  const Json& nodes = status["nodes"];
  std::map<std::string, const Json*> by_name;
  for (auto& [id, n] : nodes.items()) by_name[n.value("name", "")] = &n;
  const Json want_nodes = expected.value("nodes", Json::object());
  for (auto& [node_name, want] : want_nodes.items()) {
    auto it = by_name.find(node_name);
    if (it == by_name.end()) {
      diff << "missing node " << node_name << "\n";
      continue;
    }
    const Json& got = *it->second;
    for (const char* f : {"type", "phase", "displayName"}) {
      if (want.contains(f) && got.value(f, "") != Str(want[f])) {
        diff << node_name << "." << f << ": got " << got.value(f, "") << ", want " << Str(want[f])
             << " (message: " << got.value("message", "") << ")\n";
      }
    }
    if (want.contains("message") && got.value("message", "") != ExpandIds(Str(want["message"]), name)) {
      diff << node_name << ".message: got \"" << got.value("message", "") << "\", want \""
           << ExpandIds(Str(want["message"]), name) << "\"\n";
    }
    if (want.contains("memoizationStatus") && got.value("memoizationStatus", Json()) != want["memoizationStatus"]) {
      diff << node_name << ".memoizationStatus: got " << got.value("memoizationStatus", Json()).dump() << ", want "
           << want["memoizationStatus"].dump() << "\n";
    }
    const Json outputs = got.value("outputs", Json::object());
    if (want.contains("result") && Str(outputs.value("result", Json(""))) != Str(want["result"])) {
      diff << node_name << ".outputs.result: got \"" << Str(outputs.value("result", Json(""))) << "\", want \""
           << Str(want["result"]) << "\"\n";
    }
    for (const char* section : {"parameters", "inputs"}) {
      if (!want.contains(section)) continue;
      const Json list = std::string(section) == "inputs"
                            ? got.value("inputs", Json::object()).value("parameters", Json::array())
                            : outputs.value("parameters", Json::array());
      for (auto& [p, v] : want[section].items()) {
        std::string value = "<none>";
        for (const Json& e : list) if (e.value("name", "") == p) value = Str(e.value("value", Json("")));
        if (value != Str(v)) diff << node_name << "." << section << "." << p << ": got \"" << value << "\", want \"" << Str(v) << "\"\n";
      }
    }
  }
  for (const auto& [node_name, n] : by_name) {
    if (!want_nodes.contains(node_name)) {
      diff << "unexpected node " << node_name << " (" << n->value("type", "") << " " << n->value("phase", "")
           << " " << n->value("message", "") << ")\n";
    }
  }
  for (const Json& f : expected.value("files", Json::array())) {
    auto text = ReadFile(JoinPath(scratch, f.value("path", "")));
    std::string got = text.ok() ? *text : "<" + text.status().ToString() + ">";
    if (got != Str(f["content"])) diff << "file " << f.value("path", "") << ": got \"" << got << "\", want \"" << Str(f["content"]) << "\"\n";
  }
  return diff.str();
}

std::string RunBadCase(const std::string& cases_dir, const std::string& name, const std::string& home) {
  auto want = ReadFile(JoinPath(cases_dir, name + ".expected"));
  if (!want.ok()) return want.status().ToString();
  auto store_or = Store::Open(JoinPath(home, "workflows.db"));
  if (!store_or.ok()) return store_or.status().ToString();
  EngineOptions options;
  options.store = store_or->get();
  options.home = home;
  auto engine = Engine::Create(options);
  if (!engine.ok()) return engine.status().ToString();
  // As `loom workflow submit` does it: load (with lines), then submit (lint with the store).
  auto text = ReadFile(JoinPath(cases_dir, name + ".yaml"));
  if (!text.ok()) return text.status().ToString();
  SourceLines lines;
  std::string source = name + ".yaml";
  auto manifest = LoadManifest(*text, source, &lines);
  Status error = manifest.status();
  if (manifest.ok()) {
    SubmitOptions submit;
    submit.source_name = source;
    submit.source_lines = &lines;
    auto submitted = (*engine)->Submit(*manifest, submit);
    if (submitted.ok()) return "submitted as " + *submitted + ", want the error: " + Trim(*want);
    error = submitted.status();
  }
  std::string diff;
  if (error.message() != Trim(*want)) diff = "error: got \"" + error.message() + "\", want \"" + Trim(*want) + "\"\n";
  auto stored = (*store_or)->ListWorkflows();
  if (stored.ok() && !stored->empty()) diff += "a workflow was stored\n";
  return diff;
}

}  // namespace loom::workflow::testing
