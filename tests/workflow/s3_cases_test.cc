// The S3 workflow cases (cases/s3_*.yaml) against a real S3 server: Swift's s3api on 127.0.0.1,
// started by the CTest fixture (scripts/swift), whose AWS_* settings are in $LOOM_SWIFT_DIR/env.
// The object the workflow wrote is then read back with the storage client, independently.
#include <gtest/gtest.h>

#include "core/file.h"
#include "storage/s3_store.h"
#include "test_util/swift_env.h"
#include "test_util/test_env.h"
#include "workflow/case_runner.h"

namespace loom::workflow {
namespace {

TEST(WorkflowS3, ArtifactsGoThroughABucket) {
  auto env = loom::testing::SwiftEnv();
  ASSERT_FALSE(env["AWS_ENDPOINT_URL"].empty());
  storage::S3Options s3;
  s3.bucket = "loom-workflow";
  s3.endpoint = env["AWS_ENDPOINT_URL"];
  s3.access_key = env["AWS_ACCESS_KEY_ID"];
  s3.secret_key = env["AWS_SECRET_ACCESS_KEY"];
  s3.region = env["AWS_REGION"];
  auto store = storage::S3Store::Create(s3);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Status created = (*store)->CreateBucket();
  ASSERT_TRUE(created.ok() || created.code() == StatusCode::kAlreadyExists) << created.ToString();

  testing::CaseOptions options;
  std::string endpoint = env["AWS_ENDPOINT_URL"];
  options.parameters["s3-endpoint"] = endpoint.substr(endpoint.find("://") + 3);  // host:port, insecure
  options.parameters["s3-bucket"] = s3.bucket;
  options.s3 = s3;
  options.s3.bucket.clear();
  options.s3.endpoint.clear();
  loom::testing::ScratchDir home;
  EXPECT_EQ(testing::RunCase(JoinPath(loom::testing::SourceDir(), "tests/workflow/cases"), "s3_artifacts",
                             home.path(), options),
            "");
  // The tarball is in the bucket, under the key the workflow gave it.
  auto head = (*store)->Head("s3_artifacts/data.tgz");
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_GT(head->size, 0);
}

}  // namespace
}  // namespace loom::workflow
