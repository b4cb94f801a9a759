// Pods as a user runs them: `loom secret` (created from literals and from a kind: Secret file,
// listed and described without values, deleted), and a workflow whose pod cannot see the engine's
// environment (its AWS_SECRET_ACCESS_KEY) but gets the Secret it asks for through secretKeyRef
// and envFrom. With podman here, the same workflow in containers (--pod-runtime container, or the
// workflow's workflows.loom.dev/pod-runtime annotation) from `loom image build`'s loom:latest, each
// pod node saying which runtime ran it.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "core/file.h"
#include "core/json.h"
#include "test_util/subprocess.h"
#include "test_util/test_env.h"

namespace loom {
namespace {

using testing::ProcessResult;

class PodsCliTest : public ::testing::Test {
 protected:
  ProcessResult Loom(std::vector<std::string> args) {
    args.insert(args.begin(), testing::LoomBinary());
    return testing::Run(args, logs_.path(), {"LOOM_HOME=" + home_.path(), "AWS_SECRET_ACCESS_KEY=engine-only-key"});
  }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = work_.Join(name);
    EXPECT_TRUE(WriteFileAtomic(path, text).ok());
    return path;
  }
  // The podRuntime of each pod node of `workflow`, in start order, space-separated.
  std::string PodRuntimes(const std::string& workflow) {
    auto doc = ParseJson(Loom({"wf", "get", workflow, "-o", "json"}).out, "loom wf get");
    if (!doc.ok()) return doc.status().ToString();
    std::vector<std::pair<std::string, std::string>> pods;
    for (const auto& [id, node] : (*doc)["status"]["nodes"].items()) {
      if (node["type"] == "Pod") pods.emplace_back(node.value("startedAt", ""), node.value("podRuntime", "-"));
    }
    std::sort(pods.begin(), pods.end());
    std::string out;
    for (const auto& [started, runtime] : pods) out += (out.empty() ? "" : " ") + runtime;
    return out;
  }
  testing::ScratchDir home_, work_, logs_;
};

TEST_F(PodsCliTest, SecretsAreKeptPrivateAndNeverPrinted) {
  ProcessResult r = Loom({"secret", "create", "s3-creds", "--from-literal", "accessKey=AKIAEXAMPLE",
                          "--from-literal=secretKey=very-secret-value"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "secret/s3-creds created\n");
  struct stat st;
  ASSERT_EQ(stat(home_.Join("objects/secrets/s3-creds.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  r = Loom({"secret", "create", "s3-creds", "--from-literal", "a=b"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "loom secret create: secrets \"s3-creds\" already exists\n");
  const std::string file = Write("db.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: hunter2}\n");
  r = Loom({"secret", "create", "-f", file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "secret/db created\n");

  r = Loom({"secret", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("NAME", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("s3-creds"), std::string::npos);
  EXPECT_NE(r.out.find("Opaque"), std::string::npos);
  r = Loom({"secret", "get", "s3-creds"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("secretKey:  17 bytes"), std::string::npos) << r.out;
  for (const char* value : {"AKIAEXAMPLE", "very-secret-value", "hunter2"}) {
    EXPECT_EQ(Loom({"secret", "list"}).out.find(value), std::string::npos);
    EXPECT_EQ(Loom({"secret", "get", "s3-creds"}).out.find(value), std::string::npos);
    EXPECT_EQ(Loom({"secret", "get", "db"}).out.find(value), std::string::npos);
  }
  r = Loom({"secret", "create", "x", "--from-literal", "novalue"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "loom secret create: --from-literal: \"novalue\": expected key=value\n");
  r = Loom({"secret", "delete", "db"});
  EXPECT_EQ(r.out, "secret \"db\" deleted\n");
  EXPECT_EQ(Loom({"secret", "get", "db"}).err, "loom secret get: secret \"db\" not found\n");
}

TEST_F(PodsCliTest, APodGetsTheSecretItAsksForAndNotTheEnginesEnvironment) {
  ASSERT_EQ(Loom({"secret", "create", "s3-creds", "--from-literal", "secretKey=from-the-secret"}).exit_code, 0);
  const std::string wf = Write("wf.yaml", R"(apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: secrets}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: asks, template: asks}
      - {name: does-not-ask, template: does-not-ask}
  - name: asks
    container:
      image: alpine
      command: [sh, -c, 'echo "asks: key=$AWS_SECRET_ACCESS_KEY from=$FROM_ENVFROM_secretKey"']
      env: [{name: AWS_SECRET_ACCESS_KEY, valueFrom: {secretKeyRef: {name: s3-creds, key: secretKey}}}]
      envFrom: [{prefix: FROM_ENVFROM_, secretRef: {name: s3-creds}}]
  - name: does-not-ask
    container:
      image: alpine
      command: [sh, -c, 'echo "does-not-ask: key=$AWS_SECRET_ACCESS_KEY"']
)");
  ProcessResult r = Loom({"wf", "submit", wf, "--wait"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string logs = Loom({"wf", "logs", "secrets"}).out;
  EXPECT_NE(logs.find("asks: key=from-the-secret from=from-the-secret"), std::string::npos) << logs;
  EXPECT_NE(logs.find("does-not-ask: key=\n"), std::string::npos) << logs;
  EXPECT_EQ(logs.find("engine-only-key"), std::string::npos) << logs;
}

// `loom image build` makes an image of this build offline; a workflow run with --pod-runtime
// container runs its steps in it: `loom` and sh there, the Secret asked for, not the engine's env.
TEST_F(PodsCliTest, AWorkflowInContainersOfTheImageLoomBuilds) {
  const std::string tag = "localhost/loom-pods-cli-test:" + std::to_string(getpid());
  ProcessResult built = Loom({"image", "build", "--tag", tag});
  ASSERT_EQ(built.exit_code, 0) << built.err;
  EXPECT_NE(built.err.find("/usr/local/bin/loom ("), std::string::npos) << built.err;
  ASSERT_EQ(Loom({"secret", "create", "s3-creds", "--from-literal", "secretKey=from-the-secret"}).exit_code, 0);
  const std::string wf = Write("wf.yaml", R"Y(apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: in-containers}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: version, template: version}
    - - {name: shell, template: shell}
  - name: version
    container:
      image: )Y" + tag + R"Y(
      command: [loom, version]
  - name: shell
    script:
      image: )Y" + tag + R"Y(
      env: [{name: KEY, valueFrom: {secretKeyRef: {name: s3-creds, key: secretKey}}}]
      source: |
        echo "key=$KEY engine=$AWS_SECRET_ACCESS_KEY uid=$(id -u)"
)Y");
  ProcessResult r = Loom({"wf", "submit", wf, "--wait", "--pod-runtime", "container"});
  const std::string logs = Loom({"wf", "logs", "in-containers"}).out;
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << logs << Loom({"wf", "get", "in-containers"}).out;
  EXPECT_NE(logs.find("loom: v"), std::string::npos) << logs;
  EXPECT_NE(logs.find("key=from-the-secret engine= uid=0"), std::string::npos) << logs;
  EXPECT_EQ(Loom({"wf", "submit", wf, "--pod-runtime", "vm"}).err,
            "loom workflow submit: --pod-runtime: \"vm\" is not auto, container or process\n");
  // Each pod node says which runtime ran it: -o json (podRuntime), -o wide (RUNTIME).
  EXPECT_EQ(PodRuntimes("in-containers"), "container container") << Loom({"wf", "get", "in-containers"}).out;
  const std::string wide = Loom({"wf", "get", "in-containers", "-o", "wide"}).out;
  EXPECT_NE(wide.find("RUNTIME"), std::string::npos) << wide;
  EXPECT_NE(wide.find("  container\n"), std::string::npos) << wide;

  // The workflow's annotation chooses for it, over the engine's default (process); an unknown
  // value is refused by name before anything runs.
  std::string annotated = ReadFile(wf).value();
  annotated.replace(annotated.find("metadata: {name: in-containers}"), 31,
                    "metadata: {name: annotated, annotations: {workflows.loom.dev/pod-runtime: container}}");
  ProcessResult a = Loom({"wf", "submit", Write("annotated.yaml", annotated), "--wait"});
  (void)testing::Run({"podman", "rmi", tag}, logs_.path());
  ASSERT_EQ(a.exit_code, 0) << a.out << a.err << Loom({"wf", "logs", "annotated"}).out;
  EXPECT_EQ(PodRuntimes("annotated"), "container container");
  annotated.replace(annotated.find("pod-runtime: container"), 22, "pod-runtime: vm");
  ProcessResult bad = Loom({"wf", "submit", Write("bad.yaml", annotated)});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("metadata.annotations.workflows.loom.dev/pod-runtime: \"vm\" is not auto, container or process"),
            std::string::npos) << bad.err;
}

}  // namespace
}  // namespace loom
