// Argo's successCondition / failureCondition syntax and jsonPath outputs on a TFJob's object.
#include "workflow/resource.h"

#include <gtest/gtest.h>

namespace loom::workflow {
namespace {

const Json kJob = ParseJson(R"({"metadata": {"name": "mnist"},
  "status": {"conditions": [{"type": "Succeeded", "status": "True"}],
             "replicaStatuses": {"Worker": {"succeeded": 2, "failed": 0}, "Chief": {"active": 1}}}})", "job").value();

bool Holds(const std::string& condition) {
  auto r = EvaluateCondition(condition, kJob);
  EXPECT_TRUE(r.ok()) << condition << ": " << r.status().ToString();
  return r.ok() && *r;
}

TEST(ConditionTest, Comparisons) {
  EXPECT_TRUE(Holds("status.replicaStatuses.Worker.succeeded > 1"));
  EXPECT_FALSE(Holds("status.replicaStatuses.Worker.succeeded > 2"));
  EXPECT_TRUE(Holds("status.replicaStatuses.Worker.succeeded >= 2"));
  EXPECT_TRUE(Holds("status.replicaStatuses.Worker.failed < 1"));
  EXPECT_TRUE(Holds("metadata.name == mnist"));
  EXPECT_TRUE(Holds("metadata.name = mnist"));
  EXPECT_TRUE(Holds("metadata.name != other"));
  EXPECT_TRUE(Holds("status.conditions.0.type == Succeeded"));
  EXPECT_FALSE(Holds("status.replicaStatuses.PS.succeeded > 0"));  // missing field: false
}

TEST(ConditionTest, SetsExistenceAndConjunction) {
  EXPECT_TRUE(Holds("status.conditions.0.type in (Succeeded, Done)"));
  EXPECT_FALSE(Holds("status.conditions.0.type notin (Succeeded,Done)"));
  EXPECT_TRUE(Holds("status.replicaStatuses.Chief"));
  EXPECT_TRUE(Holds("!status.replicaStatuses.Evaluator"));
  EXPECT_TRUE(Holds("metadata.name == mnist, status.replicaStatuses.Worker.succeeded > 0"));
  EXPECT_FALSE(Holds("metadata.name == mnist, status.replicaStatuses.Worker.succeeded > 5"));
  EXPECT_FALSE(Holds(""));
}

TEST(ConditionTest, BadConditionsNameTheRequirement) {
  auto r = EvaluateCondition("status.replicaStatuses.Worker.succeeded > many", kJob);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("many is not a number"), std::string::npos) << r.status().message();
  auto set = EvaluateCondition("metadata.name in mnist", kJob);
  ASSERT_FALSE(set.ok());
  EXPECT_NE(set.status().message().find("expected a set in parentheses"), std::string::npos);
}

TEST(JsonPathTest, SimplePaths) {
  EXPECT_EQ(JsonPathValue("{.metadata.name}", kJob).value(), "mnist");
  EXPECT_EQ(JsonPathValue(".status.replicaStatuses.Worker.succeeded", kJob).value(), "2");
  EXPECT_EQ(JsonPathValue("{.status.replicaStatuses.Chief}", kJob).value(), R"({"active":1})");
  EXPECT_EQ(JsonPathValue("{.status.nothing}", kJob).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace loom::workflow
