// Loading and checking manifests (the bad-input cases with their lines are data: cases/bad_*).
#include "workflow/spec.h"

#include <gtest/gtest.h>

#include "test_util/test_env.h"
#include "workflow/store.h"

namespace loom::workflow {
namespace {

constexpr const char* kGood = R"(apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: hello-
spec:
  entrypoint: main
  arguments:
    parameters:
    - name: who
      value: world
  templates:
  - name: main
    dag:
      tasks:
      - name: a
        template: say
        arguments:
          parameters: [{name: what, value: "{{workflow.parameters.who}}"}]
      - name: b
        depends: a.Succeeded
        templateRef: {name: library, template: say}
        arguments:
          parameters: [{name: what, value: "{{tasks.a.outputs.result}}"}]
  - name: say
    inputs:
      parameters: [{name: what}]
    script:
      image: alpine
      command: [sh]
      source: echo {{inputs.parameters.what}}
)";

TEST(Spec, LoadsAndRemembersLines) {
  SourceLines lines;
  auto m = LoadManifest(kGood, "hello.yaml", &lines);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)["spec"]["templates"][0]["dag"]["tasks"][1]["depends"], "a.Succeeded");
  EXPECT_EQ(lines["spec.templates[0].dag.tasks[1].depends"], 20);
  EXPECT_EQ(lines["spec.templates[1].script.source"], 30);
  ASSERT_NE(FindTemplate((*m)["spec"], "say"), nullptr);
  EXPECT_EQ(FindTemplate((*m)["spec"], "nope"), nullptr);
}

TEST(Spec, TemplateRefsAreCheckedAgainstTheStore) {
  loom::testing::ScratchDir dir;
  auto store = std::move(Store::Open(dir.Join("w.db"))).value();
  auto m = LoadManifest(kGood, "hello.yaml");
  ASSERT_TRUE(m.ok());
  Status missing = Lint(*m, "hello.yaml", store.get());
  EXPECT_EQ(missing.message(),
            "hello.yaml: spec.templates[0].dag.tasks[1].templateRef.name: no WorkflowTemplate named \"library\"");
  auto lib = LoadManifest(R"(apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: library}
spec:
  templates:
  - name: shout
    container: {image: alpine, command: [echo, hi]}
)", "library.yaml");
  ASSERT_TRUE(lib.ok()) << lib.status().ToString();
  ASSERT_TRUE(store->PutTemplate(*lib).ok());
  EXPECT_EQ(Lint(*m, "hello.yaml", store.get()).message(),
            "hello.yaml: spec.templates[0].dag.tasks[1].templateRef.template: WorkflowTemplate \"library\" has no "
            "template named \"say\"");
}

TEST(Spec, Durations) {
  double s = 0;
  EXPECT_TRUE(DurationSeconds(Json("1m30s"), &s));
  EXPECT_EQ(s, 90);
  EXPECT_TRUE(DurationSeconds(Json("500ms"), &s));
  EXPECT_EQ(s, 0.5);
  EXPECT_TRUE(DurationSeconds(Json(5), &s));
  EXPECT_EQ(s, 5);
  EXPECT_TRUE(DurationSeconds(Json("20"), &s));
  EXPECT_EQ(s, 20);
  EXPECT_FALSE(DurationSeconds(Json("5 minutes"), &s));
}

}  // namespace
}  // namespace loom::workflow
