#include "core/json.h"

#include <gtest/gtest.h>

namespace loom {
namespace {

TEST(JsonTest, YamlScalarsKeepTheirTypes) {
  auto j = ParseYaml("a: 12\nb: 1.5\nc: true\nd: \"12\"\ne: relu\nf: [1, 2]\ng: ~\n", "x.yaml");
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_TRUE((*j)["a"].is_number_integer());
  EXPECT_EQ((*j)["a"], 12);
  EXPECT_TRUE((*j)["b"].is_number_float());
  EXPECT_EQ((*j)["c"], true);
  EXPECT_TRUE((*j)["d"].is_string());
  EXPECT_EQ((*j)["e"], "relu");
  EXPECT_EQ((*j)["f"].size(), 2u);
  EXPECT_TRUE((*j)["g"].is_null());
}

TEST(JsonTest, ErrorsNameSourceAndLine) {
  auto y = ParseYaml("a: 1\nb: [1, 2\n", "spec.yaml");
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().message().rfind("spec.yaml: line ", 0), 0u) << y.status().message();
  auto j = ParseJson("{\n  \"a\": 1,\n  \"b\": }", "spec.json");
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().message().rfind("spec.json: line 3, column", 0), 0u) << j.status().message();
}

// A number beyond double's range is an error value, not an exception (found by fuzzing).
TEST(JsonTest, HugeNumberIsAnError) {
  auto j = ParseJson("{\"data\": [0.5, 1e99999]}", "body");
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().message(), "body: number overflow parsing '1e99999'") << j.status().message();
}

TEST(JsonTest, JoinField) {
  EXPECT_EQ(JoinField(JoinField("", "layers"), 2), "layers[2]");
  EXPECT_EQ(JoinField("layers[2]", "units"), "layers[2].units");
}

}  // namespace
}  // namespace loom
