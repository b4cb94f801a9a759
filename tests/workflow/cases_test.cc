// The data-driven cases: every tests/workflow/cases/<case>.yaml runs on the real engine and pod
// runner and must end as <case>.expected.yaml says; every bad_<case>.yaml must fail to load or
// submit with the line in bad_<case>.expected, storing nothing. (s3_* cases need the S3 server
// and run in workflow_s3_cases_test, http_* cases an HTTP server: workflow_http_cases_test.)
#include <gtest/gtest.h>

#include "core/file.h"
#include "test_util/test_env.h"
#include "workflow/case_runner.h"

namespace loom::workflow {
namespace {

std::string CasesDir() { return JoinPath(loom::testing::SourceDir(), "tests/workflow/cases"); }

std::vector<std::string> CaseNames(bool bad) {
  std::vector<std::string> out;
  auto names = ListDir(CasesDir());
  if (!names.ok()) return out;
  for (const std::string& n : *names) {
    const std::string suffix = bad ? ".expected" : ".expected.yaml";
    if (n.size() <= suffix.size() || n.compare(n.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    std::string stem = n.substr(0, n.size() - suffix.size());
    if ((stem.rfind("bad_", 0) == 0) != bad || stem.rfind("s3_", 0) == 0 || stem.rfind("http_", 0) == 0) continue;
    out.push_back(stem);
  }
  return out;
}

class WorkflowCase : public ::testing::TestWithParam<std::string> {};

TEST_P(WorkflowCase, EndsAsExpected) {
  loom::testing::ScratchDir home;
  EXPECT_EQ(testing::RunCase(CasesDir(), GetParam(), home.path()), "");
}

INSTANTIATE_TEST_SUITE_P(Cases, WorkflowCase, ::testing::ValuesIn(CaseNames(false)),
                         [](const auto& info) { return info.param; });

class BadCase : public ::testing::TestWithParam<std::string> {};

TEST_P(BadCase, FailsWithItsLine) {
  loom::testing::ScratchDir home;
  EXPECT_EQ(testing::RunBadCase(CasesDir(), GetParam(), home.path()), "");
}

INSTANTIATE_TEST_SUITE_P(Cases, BadCase, ::testing::ValuesIn(CaseNames(true)),
                         [](const auto& info) { return info.param; });

TEST(WorkflowCases, ThereAreCases) {
  EXPECT_GE(CaseNames(false).size(), 10u);
  EXPECT_GE(CaseNames(true).size(), 5u);
}

}  // namespace
}  // namespace loom::workflow
