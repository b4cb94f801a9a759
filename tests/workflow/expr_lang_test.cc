// {{=...}} expressions: every case of tests/workflow/expressions/cases.yaml, evaluated as the
// engine evaluates a tag (EvaluateExpressionTag over a flat scope), and the variables an
// expression requires, as Argo's getIdentifiers lists them.
#include "workflow/expr_lang.h"

#include <gtest/gtest.h>

#include "core/file.h"
#include "test_util/test_env.h"
#include "workflow/vars.h"

namespace loom::workflow {
namespace {

TEST(ExprLang, Cases) {
  const std::string path = JoinPath(loom::testing::SourceDir(), "tests/workflow/expressions/cases.yaml");
  auto cases = ReadJsonOrYamlFile(path);
  ASSERT_TRUE(cases.ok()) << cases.status().ToString();
  ASSERT_GT(cases->size(), 200u);
  for (const Json& c : *cases) {
    const std::string expr = c.at("expr").get<std::string>();
    Scope scope;
    const Json env = c.value("env", Json::object());
    for (auto& [k, v] : env.items()) scope[k] = v.get<std::string>();
    StatusOr<std::string> got = EvaluateExpressionTag(expr, scope);
    if (c.contains("error")) {
      const std::string want = c["error"].get<std::string>();
      EXPECT_FALSE(got.ok()) << expr << " gave " << (got.ok() ? *got : "");
      if (!got.ok()) EXPECT_NE(got.status().message().find(want), std::string::npos) << expr << ": " << got.status().message();
    } else {
      ASSERT_TRUE(c.contains("want")) << expr;
      EXPECT_TRUE(got.ok()) << expr << ": " << got.status().ToString();
      if (got.ok()) EXPECT_EQ(*got, c["want"].get<std::string>()) << expr;
    }
  }
}

TEST(ExprLang, SyntaxErrorsNameTheColumn) {
  auto bad = EvaluateExpressionTag("asInt(x) +", {{"x", "1"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "expression \"asInt(x) +\": column 10: unexpected end of expression");
  EXPECT_TRUE(CheckExpressionTags("a {{=1 + 2}} b {{inputs.parameters.x}}").ok());
  Status s = CheckExpressionTags("ok {{=1}} then {{=foo(1)}}");
  EXPECT_EQ(s.message(), "expression \"foo(1)\": column 1: unknown function foo");
}

TEST(ExprLang, RequiredVariablesAreArgosIdentifiers) {
  struct Case {
    const char* expr;
    std::vector<std::string> want;
  };
  for (const Case& c : std::vector<Case>{
           {"item.requiredKey", {"item.requiredKey", "item"}},
           {"item.optionalKey ?? 'fallback'", {"item"}},
           {"item['optionalKey'] ?? ''", {"item"}},
           {"item?.optionalKey", {"item"}},
           {"item.a?.b", {"item"}},
           {"item.requiredKey + (item.optionalKey ?? 'x')", {"item.requiredKey", "item"}},
           {"tasks.a.outputs.result ?? 'default'", {"tasks"}},
           {"steps['a-b'].outputs.result", {"steps.a-b.outputs.result", "steps.a-b.outputs", "steps.a-b", "steps"}},
           {"asInt(x) + sprig.int(y)", {"x", "y"}},
           {"let v = a; v.b + map([1], # + c)", {"a", "c"}},
       }) {
    auto e = Expression::Parse(c.expr);
    ASSERT_TRUE(e.ok()) << c.expr;
    auto got = e->RequiredVariables();
    std::sort(got.begin(), got.end());
    auto want = c.want;
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want) << c.expr;
  }
}

TEST(ExprLang, EnvNestsTheScope) {
  Json env = ExprEnv({{"item", "{\"a\":\"1\"}"}, {"item-x", "2"}, {"item.a", "1"}, {"workflow.name", "w"}});
  EXPECT_EQ(env.size(), 3u);
  EXPECT_EQ(env["item"].dump(), R"({"a":"1"})");
  EXPECT_EQ(env["item-x"], "2");
  EXPECT_EQ(env["workflow"]["name"], "w");
}

TEST(ExprLang, UnresolvedNamesKeepTheTagWhenAskedTo) {
  auto keep = [](std::string_view name) { return name.rfind("outputs.", 0) == 0; };
  auto kept = SubstituteString("{{=outputs.parameters.x + 'a'}} {{=inputs.parameters.y}}",
                               {{"inputs.parameters.y", "Y"}}, +keep);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(*kept, "{{=outputs.parameters.x + 'a'}} Y");
  auto missing = SubstituteString("{{=inputs.parameters.z}}", {{"inputs.parameters.y", "Y"}});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "failed to evaluate expression \"inputs.parameters.z\": inputs.parameters.z is missing");
}

}  // namespace
}  // namespace loom::workflow
