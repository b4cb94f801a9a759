// {{...}} substitution.
#include "workflow/vars.h"

#include <gtest/gtest.h>

namespace loom::workflow {
namespace {

TEST(Vars, SubstitutesAndReportsWhatItCannotResolve) {
  Scope scope = {{"inputs.parameters.x", "42"}, {"workflow.name", "wf"}};
  EXPECT_EQ(*SubstituteString("x={{inputs.parameters.x}} in {{ workflow.name }}", scope), "x=42 in wf");
  auto missing = SubstituteString("{{inputs.parameters.y}}", scope);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "failed to resolve {{inputs.parameters.y}}");
  auto kept = SubstituteString("{{item}}-{{workflow.name}}", scope,
                               [](std::string_view n) { return n == "item"; });
  EXPECT_EQ(*kept, "{{item}}-wf");
}

TEST(Vars, JsonStringsOnly) {
  Scope scope = {{"a", "1"}};
  Json in = {{"args", {"{{a}}", 2}}, {"{{a}}", "k"}};
  Json out = *SubstituteJson(in, scope);
  EXPECT_EQ(out["args"][0], "1");
  EXPECT_EQ(out["args"][1], 2);
  EXPECT_TRUE(out.contains("{{a}}"));  // keys are left alone
}

TEST(Vars, ItemsAndParameters) {
  Scope scope;
  AddItem(Json{{"name", "jesse"}, {"n", 3}}, scope);
  EXPECT_EQ(scope["item.name"], "jesse");
  EXPECT_EQ(scope["item.n"], "3");
  EXPECT_EQ(scope["item"], "{\"name\":\"jesse\",\"n\":3}");
  EXPECT_EQ(ParameterString(Json("s")), "s");
  EXPECT_EQ(ParameterString(Json(true)), "true");
  EXPECT_EQ(VariablesIn("{{a}} {{ b.c }} {{a}}"), (std::set<std::string>{"a", "b.c"}));
}

}  // namespace
}  // namespace loom::workflow
