// The typed model (model.h): every manifest of examples/ and tests/workflow/cases reads into the
// structs and writes back as it was; node status and the enums round-trip; bad shapes name the
// field.
#include "workflow/model.h"

#include <gtest/gtest.h>

#include "core/file.h"
#include "test_util/test_env.h"
#include "workflow/spec.h"

namespace loom::workflow {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Manifests Lint accepts (without a template store), from the examples and the test cases.
std::vector<std::string> Manifests() {
  std::vector<std::string> out;
  const std::string src = loom::testing::SourceDir();
  for (const std::string dir : {"examples/mnist", "examples/daemon", "tests/workflow/cases"}) {
    auto names = ListDir(JoinPath(src, dir));
    if (!names.ok()) continue;
    for (const std::string& n : *names) {
      if (!EndsWith(n, ".yaml") || EndsWith(n, ".expected.yaml")) continue;
      out.push_back(JoinPath(JoinPath(src, dir), n));
    }
  }
  return out;
}

// Key order is not part of a document's meaning: compare unordered.
nlohmann::json Unordered(const Json& j) { return nlohmann::json::parse(j.dump()); }

TEST(ModelTest, EveryManifestRoundTrips) {
  int checked = 0;
  for (const std::string& path : Manifests()) {
    StatusOr<Json> manifest = LoadManifestFile(path);
    if (!manifest.ok()) continue;  // a bad_ case, or not a workflow (a TFJob)
    StatusOr<Workflow> wf = WorkflowFromJson(*manifest);
    ASSERT_TRUE(wf.ok()) << path << ": " << wf.status().message();
    EXPECT_EQ(Unordered(ToJson(*wf)), Unordered(*manifest)) << path;
    ++checked;
  }
  // The examples and most cases: a glob that found nothing must not pass.
  EXPECT_GT(checked, 20);
}

TEST(ModelTest, TemplateKindsAndFields) {
  Json t = ParseYaml(R"(
name: t
inputs: {parameters: [{name: n, default: 3}], artifacts: [{name: a, path: /tmp/a, s3: {key: k}}]}
outputs: {parameters: [{name: o, valueFrom: {path: /tmp/o, default: d}, globalName: g}]}
retryStrategy: {limit: "2", retryPolicy: Always, backoff: {duration: 1s, factor: 2}}
parallelism: 4
daemon: true
nodeSelector: {disk: ssd}
container: {image: busybox, command: [sh]}
)", "t").value();
  StatusOr<Template> tmpl = TemplateFromJson(t, "spec.templates[0]");
  ASSERT_TRUE(tmpl.ok()) << tmpl.status().message();
  EXPECT_EQ(tmpl->kind, TemplateKind::kContainer);
  EXPECT_EQ(tmpl->inputs.parameters[0].default_value, Json(3));
  ASSERT_TRUE(tmpl->inputs.artifacts[0].location.s3.has_value());
  EXPECT_EQ(tmpl->inputs.artifacts[0].location.s3->key, "k");
  EXPECT_TRUE(tmpl->inputs.artifacts[0].HasSource());
  ASSERT_NE(tmpl->OutputParameter("o"), nullptr);
  EXPECT_EQ(tmpl->OutputParameter("o")->global_name, "g");
  EXPECT_EQ(*tmpl->OutputParameter("o")->value_from->path, "/tmp/o");
  EXPECT_EQ(tmpl->retry_strategy->Limit(), 2);
  EXPECT_EQ(tmpl->retry_strategy->retry_policy, "Always");
  EXPECT_EQ(tmpl->Parallelism(), 4);
  EXPECT_TRUE(tmpl->IsDaemon());
  EXPECT_EQ(tmpl->pod, Json::parse(R"({"nodeSelector": {"disk": "ssd"}})"));
  EXPECT_EQ(tmpl->container["image"], "busybox");
  EXPECT_EQ(Unordered(ToJson(*tmpl)), Unordered(t));
}

TEST(ModelTest, StepsAndTasks) {
  Json t = ParseYaml(R"(
name: main
dag:
  target: b
  tasks:
  - {name: a, template: x, withItems: [1, 2], continueOn: {failed: true}}
  - {name: b, templateRef: {name: wt, template: y}, depends: "a.Succeeded", when: "1 == 1"}
  - {name: c, inline: {suspend: {duration: 5s}}, dependencies: [a], withSequence: {count: "3"}}
)", "t").value();
  StatusOr<Template> tmpl = TemplateFromJson(t, "t");
  ASSERT_TRUE(tmpl.ok()) << tmpl.status().message();
  EXPECT_EQ(tmpl->kind, TemplateKind::kDag);
  ASSERT_EQ(tmpl->dag.tasks.size(), 3u);
  EXPECT_EQ(*tmpl->dag.target, "b");
  const Step& a = tmpl->dag.tasks[0];
  EXPECT_TRUE(a.IsLoop());
  EXPECT_TRUE(a.ContinuesOn(NodePhase::kFailed));
  EXPECT_FALSE(a.ContinuesOn(NodePhase::kError));
  const Step& b = tmpl->dag.tasks[1];
  EXPECT_EQ(b.CalledName(), "y");
  EXPECT_EQ(*b.depends, "a.Succeeded");
  EXPECT_EQ(*b.when, "1 == 1");
  const Step& c = tmpl->dag.tasks[2];
  ASSERT_NE(c.inline_template, nullptr);
  EXPECT_EQ(c.inline_template->kind, TemplateKind::kSuspend);
  EXPECT_EQ(*c.dependencies, std::vector<std::string>{"a"});
  EXPECT_EQ(Unordered(ToJson(*tmpl)), Unordered(t));
}

TEST(ModelTest, WrongShapesNameTheField) {
  auto err = [](const char* yaml) {
    StatusOr<Template> t = TemplateFromJson(ParseYaml(yaml, "t").value(), "spec.templates[1]");
    return t.ok() ? std::string("ok") : t.status().message();
  };
  EXPECT_EQ(err("{name: t, steps: {a: 1}}"), "spec.templates[1].steps: must be a list");
  EXPECT_EQ(err("{name: t, steps: [[{name: s, template: 3}]]}"),
            "spec.templates[1].steps[0][0].template: must be a string");
  EXPECT_EQ(err("{name: t, container: {}, script: {}}"),
            "spec.templates[1]: needs exactly one of container, script, resource, steps, dag, suspend, http or containerSet");
  EXPECT_EQ(err("{name: t, dag: {tasks: [{name: a, template: x, dependencies: [1]}]}}"),
            "spec.templates[1].dag.tasks[0].dependencies[0]: must be a string");
}

TEST(ModelTest, NodeStatusRoundTrips) {
  Json node = Json::parse(R"J({
    "id": "wf-1", "name": "wf[0].a(0)", "displayName": "a(0)", "type": "Pod", "templateName": "x",
    "templateScope": "local/wf", "phase": "Succeeded", "boundaryID": "wf", "message": "m",
    "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:00:01Z", "progress": "1/1",
    "daemoned": true, "podIP": "127.0.0.1",
    "inputs": {"parameters": [{"name": "p", "value": "1"}]},
    "outputs": {"parameters": [{"name": "o", "value": "v"}], "artifacts": [{"name": "a", "s3": {"key": "k"}}],
                "result": "out", "exitCode": "0"},
    "children": ["wf-2"], "outboundNodes": ["wf-3"], "hostNodeName": "kept"})J");
  StatusOr<NodeStatus> n = NodeStatusFromJson(node);
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(n->type, NodeType::kPod);
  EXPECT_EQ(n->phase, NodePhase::kSucceeded);
  EXPECT_TRUE(n->Fulfilled());
  EXPECT_TRUE(n->daemoned);
  EXPECT_TRUE(n->HasChild("wf-2"));
  EXPECT_EQ(n->outputs->result, Json("out"));
  EXPECT_EQ(ToJson(*n), node);  // Argo's field order, kept exactly

  Json bad = node;
  bad["phase"] = "Finished";
  EXPECT_EQ(NodeStatusFromJson(bad).status().message(), "unknown phase \"Finished\"");
}

TEST(ModelTest, WorkflowStatusRoundTrips) {
  Json status = Json::parse(R"J({
    "phase": "Running", "message": "m", "startedAt": "2026-01-01T00:00:00Z", "progress": "1/2",
    "outputs": {"parameters": [{"name": "g", "value": "1"}]},
    "storedTemplates": {"namespaced/wt/t": {"name": "t", "container": {"image": "busybox"}}},
    "conditions": [{"type": "Completed"}]})J");
  StatusOr<WorkflowStatus> s = WorkflowStatusFromJson(status);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->phase, "Running");
  EXPECT_EQ(s->outputs->parameters[0].name, "g");
  EXPECT_EQ(s->stored_templates.at("namespaced/wt/t").kind, TemplateKind::kContainer);
  EXPECT_EQ(ToJson(*s), status);
  // The nodes are the store's rows: not part of the status read here.
  Json with_nodes = status;
  with_nodes["nodes"] = {{"wf", {{"id", "wf"}}}};
  EXPECT_EQ(ToJson(WorkflowStatusFromJson(with_nodes).value()), status);
}

TEST(ModelTest, EnumsRoundTrip) {
  for (NodePhase p : {NodePhase::kPending, NodePhase::kRunning, NodePhase::kSucceeded, NodePhase::kFailed,
                      NodePhase::kError, NodePhase::kSkipped, NodePhase::kOmitted}) {
    EXPECT_EQ(ParseNodePhase(ToString(p)).value(), p);
  }
  for (NodeType t : {NodeType::kPod, NodeType::kSteps, NodeType::kStepGroup, NodeType::kDAG, NodeType::kTaskGroup,
                     NodeType::kRetry, NodeType::kSkipped, NodeType::kSuspend, NodeType::kContainer}) {
    EXPECT_EQ(ParseNodeType(ToString(t)).value(), t);
  }
  EXPECT_FALSE(IsCompleted(NodePhase::kRunning));
  EXPECT_TRUE(IsCompleted(NodePhase::kOmitted));
  EXPECT_FALSE(ParseNodeType("NoSuchType").ok());
}

}  // namespace
}  // namespace loom::workflow
