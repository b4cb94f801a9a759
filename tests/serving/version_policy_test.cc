#include "serving/version_policy.h"

#include <gtest/gtest.h>

namespace loom::serving {
namespace {

using V = std::vector<int64_t>;

TEST(VersionPolicyTest, LatestAllSpecific) {
  VersionPolicy latest;
  EXPECT_EQ(ApplyVersionPolicy(latest, {3, 1, 2}), V({3}));
  latest.num_versions = 2;
  EXPECT_EQ(ApplyVersionPolicy(latest, {3, 1, 2}), V({2, 3}));
  latest.num_versions = 5;
  EXPECT_EQ(ApplyVersionPolicy(latest, {3, 1}), V({1, 3}));
  EXPECT_EQ(ApplyVersionPolicy(latest, {}), V());
  VersionPolicy all{VersionPolicy::Kind::kAll, 1, {}};
  EXPECT_EQ(ApplyVersionPolicy(all, {5, 2, 9}), V({2, 5, 9}));
  VersionPolicy specific{VersionPolicy::Kind::kSpecific, 1, {2, 7}};
  EXPECT_EQ(ApplyVersionPolicy(specific, {1, 2, 3}), V({2}));
}

TEST(VersionPolicyTest, Parse) {
  auto p = ParseVersionPolicy("latest 3", "--model_version_policy");
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->kind, VersionPolicy::Kind::kLatest);
  EXPECT_EQ(p->num_versions, 3);
  p = ParseVersionPolicy("specific 1, 4", "f");
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->versions, V({1, 4}));
  EXPECT_EQ(ParseVersionPolicy("all", "f")->kind, VersionPolicy::Kind::kAll);
  EXPECT_EQ(ParseVersionPolicy("latest", "f")->num_versions, 1);
  auto bad = ParseVersionPolicy("newest 2", "--model_version_policy");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--model_version_policy"), std::string::npos);
  EXPECT_FALSE(ParseVersionPolicy("latest 0", "f").ok());
  EXPECT_FALSE(ParseVersionPolicy("specific 1,x", "f").ok());
  EXPECT_FALSE(ParseVersionPolicy("specific", "f").ok());
}

}  // namespace
}  // namespace loom::serving
