// `when` and `depends` as Argo evaluates them.
#include "workflow/expr.h"

#include <gtest/gtest.h>

#include <map>

namespace loom::workflow {
namespace {

TEST(When, ComparesStringsAsStringsAndNumbersAsNumbers) {
  struct Case { const char* expr; bool want; };
  for (const Case& c : std::vector<Case>{
           {"heads == heads", true},
           {"heads == tails", false},
           {"heads != tails", true},
           {"'heads' == heads", true},
           {"\"a b\" == 'a b'", true},
           {"5 > 3", true},
           {"10 > 9", true},          // numbers, not strings ("10" < "9")
           {"1.5 <= 1.50", true},
           {"5 == 5.0", true},
           {"apple < banana", true},  // strings compare as strings
           {"true", true},
           {"!false", true},
           {"1 == 1 && (2 > 3 || tails != heads)", true},
           {"!(1 == 1)", false},
           {"hello =~ 'h.*o'", true},
           {"hello !~ '^x'", true},
           {"3rd == 3rd", true},
           {"2 + 2 == 4", true},
       }) {
    auto got = EvaluateWhen(c.expr);
    ASSERT_TRUE(got.ok()) << c.expr << ": " << got.status().ToString();
    EXPECT_EQ(*got, c.want) << c.expr;
  }
}

TEST(When, ANumberNeverEqualsAString) {
  EXPECT_FALSE(*EvaluateWhen("5 == '5'"));
}

TEST(When, ErrorsAreArgosWording) {
  auto not_bool = EvaluateWhen("1 + 1");
  ASSERT_FALSE(not_bool.ok());
  EXPECT_EQ(not_bool.status().message(), "Expected boolean evaluation for '1 + 1'. Got 2");
  auto bad = EvaluateWhen("a ==");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind("Invalid 'when' expression 'a ==': ", 0), 0u) << bad.status().message();
  EXPECT_FALSE(EvaluateWhen("(a == b").ok());
  EXPECT_FALSE(EvaluateWhen("a @ b").ok());
  EXPECT_FALSE(EvaluateWhen("heads > 3").ok());
}

TEST(When, SyntaxCheckSeesThroughVariables) {
  EXPECT_TRUE(CheckWhenSyntax("{{steps.flip.outputs.result}} == heads").ok());
  EXPECT_TRUE(CheckWhenSyntax("{{inputs.parameters.n}} > 3").ok());
  EXPECT_FALSE(CheckWhenSyntax("{{steps.flip.outputs.result}} ==").ok());
  EXPECT_FALSE(CheckWhenSyntax("(({{x}} == 1)").ok());
}

TEST(Depends, TaskAloneMeansSucceededOrSkipped) {
  std::map<std::string, std::string> phase = {{"A", "Succeeded"}, {"B", "Failed"}, {"C", "Skipped"}, {"my-task", "Succeeded"}};
  auto result = [&](const std::string& t, const std::string& what) { return phase[t] == what; };
  struct Case { const char* expr; bool want; };
  for (const Case& c : std::vector<Case>{
           {"A", true},
           {"C", true},
           {"B", false},
           {"B.Failed", true},
           {"A && B.Failed", true},
           {"A && B", false},
           {"A.Succeeded || B.Succeeded", true},
           {"!B.Succeeded", true},
           {"(A || B) && C.Skipped", true},
           {"my-task.Succeeded", true},
       }) {
    auto got = EvaluateDepends(c.expr, result);
    ASSERT_TRUE(got.ok()) << c.expr << ": " << got.status().ToString();
    EXPECT_EQ(*got, c.want) << c.expr;
  }
}

TEST(Depends, NamesItsTasksAndRejectsNonsense) {
  auto tasks = DependsTasks("A && (B.Failed || my-task.AnySucceeded)");
  ASSERT_TRUE(tasks.ok()) << tasks.status().ToString();
  EXPECT_EQ(*tasks, (std::set<std::string>{"A", "B", "my-task"}));
  EXPECT_FALSE(DependsTasks("A.Finished").ok());
  EXPECT_FALSE(DependsTasks("A &&").ok());
  EXPECT_FALSE(DependsTasks("'A'").ok());
}

}  // namespace
}  // namespace loom::workflow
