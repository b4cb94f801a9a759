// Artifacts between workflow steps through a real S3 server (Swift + s3api, the CTest fixture of
// tests/storage): a directory saved as tgz to s3://<bucket>/runs/<workflow>/out.tgz with the
// endpoint, insecure and credential-secret fields of an Argo S3 artifact (the credentials come
// from the environment), read back by the next step from `from:`, and the object checked with
// Debian's aws CLI (an independent client).
#include <gtest/gtest.h>

#include "core/file.h"
#include "core/json.h"
#include "test_util/subprocess.h"
#include "test_util/swift_env.h"
#include "test_util/test_env.h"

namespace loom {
namespace {

TEST(WorkflowS3Test, ArtifactsThroughS3) {
  auto s3 = loom::testing::SwiftEnv();
  ASSERT_FALSE(s3["AWS_ENDPOINT_URL"].empty());
  testing::ScratchDir home, work, logs;
  std::vector<std::string> env = {"LOOM_HOME=" + home.path()};
  for (const char* k : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"}) env.push_back(std::string(k) + "=" + s3[k]);
  testing::ProcessResult mb = testing::Run({"/usr/bin/aws", "--endpoint-url", s3["AWS_ENDPOINT_URL"], "s3", "mb", "s3://loom-wf"},
                                           logs.path(), env);
  (void)mb;  // exists already on a second run: fine
  const std::string endpoint = s3["AWS_ENDPOINT_URL"].substr(std::string("http://").size());
  const std::string file = work.Join("s3.yaml");
  ASSERT_TRUE(WriteFileAtomic(file, R"(apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: s3-artifacts}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: gen, template: gen}
    - - name: use
        template: use
        arguments: {artifacts: [{name: in, from: "{{steps.gen.outputs.artifacts.out}}"}]}
  - name: gen
    script: {image: alpine, command: [sh], source: "mkdir -p /tmp/out/sub; echo s3-hello > /tmp/out/sub/f.txt"}
    outputs:
      artifacts:
      - name: out
        path: /tmp/out
        s3:
          endpoint: )" + endpoint + R"(
          insecure: true
          bucket: loom-wf
          key: runs/{{workflow.name}}/out.tgz
          accessKeySecret: {name: s3-creds, key: accessKey}
          secretKeySecret: {name: s3-creds, key: secretKey}
  - name: use
    inputs: {artifacts: [{name: in, path: /tmp/in}]}
    script: {image: alpine, command: [sh], source: "cat /tmp/in/sub/f.txt"}
)").ok());
  testing::ProcessResult r = testing::Run({testing::LoomBinary(), "wf", "submit", file, "--wait"}, logs.path(), env);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err
                            << testing::Run({testing::LoomBinary(), "wf", "get", "s3-artifacts"}, logs.path(), env).out;
  testing::ProcessResult out = testing::Run({testing::LoomBinary(), "wf", "logs", "s3-artifacts"}, logs.path(), env);
  EXPECT_NE(out.out.find("s3-hello"), std::string::npos) << out.out;
  // The object, read by aws: a gzip'd tar.
  const std::string copy = work.Join("out.tgz");
  testing::ProcessResult cp = testing::Run({"/usr/bin/aws", "--endpoint-url", s3["AWS_ENDPOINT_URL"], "s3", "cp",
                                            "s3://loom-wf/runs/s3-artifacts/out.tgz", copy}, logs.path(), env);
  ASSERT_EQ(cp.exit_code, 0) << cp.err;
  auto bytes = ReadFile(copy);
  ASSERT_TRUE(bytes.ok());
  ASSERT_GE(bytes->size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>((*bytes)[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>((*bytes)[1]), 0x8b);
  testing::ProcessResult tar = testing::Run({"tar", "tzf", copy}, logs.path());
  EXPECT_NE(tar.out.find("out/sub/f.txt"), std::string::npos) << tar.out;
}

}  // namespace
}  // namespace loom
