// ConfigStore: Secrets and ConfigMaps on disk (0600 files in 0700 directories), manifests in
// and out (base64 data, stringData), names that cannot leave the directory.
#include "container/config_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/file.h"
#include "test_util/test_env.h"

namespace loom::container {
namespace {

int Mode(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(ConfigStoreTest, PutGetListDeleteAndPermissions) {
  testing::ScratchDir dir;
  ConfigStore store(dir.Join("objects"));
  ConfigObject s;
  s.name = "s3-creds";
  s.data = {{"accessKey", "AKIA"}, {"secretKey", "line1\nline2"}};
  ASSERT_TRUE(store.Put(s, false).ok());
  EXPECT_EQ(Mode(dir.Join("objects")), 0700);
  EXPECT_EQ(Mode(dir.Join("objects/secrets")), 0700);
  EXPECT_EQ(Mode(dir.Join("objects/secrets/s3-creds.json")), 0600);
  const std::string text = ReadFile(dir.Join("objects/secrets/s3-creds.json")).value();
  EXPECT_EQ(text.find("AKIA"), std::string::npos) << "a Secret's data is kept base64, as Kubernetes keeps it";
  EXPECT_NE(text.find("QUtJQQ=="), std::string::npos) << text;

  Status again = store.Put(s, false);
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(again.message(), "secrets \"s3-creds\" already exists");
  auto got = store.Get(ConfigKind::kSecret, "s3-creds");
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->data, s.data);
  EXPECT_FALSE(got->creation_timestamp.empty());
  EXPECT_EQ(store.Get(ConfigKind::kConfigMap, "s3-creds").status().message(), "configmap \"s3-creds\" not found");
  EXPECT_EQ(store.Get(ConfigKind::kSecret, "../objects/secrets/s3-creds").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store.List(ConfigKind::kSecret).value().size(), 1u);
  ASSERT_TRUE(store.Delete(ConfigKind::kSecret, "s3-creds").ok());
  EXPECT_EQ(store.Delete(ConfigKind::kSecret, "s3-creds").message(), "secrets \"s3-creds\" not found");
}

TEST(ConfigStoreTest, ManifestsAsKubernetesWritesThem) {
  auto secret = ConfigObjectFromManifest(ParseYaml(R"(
apiVersion: v1
kind: Secret
metadata: {name: creds}
type: Opaque
data: {user: YWRtaW4=}
stringData: {password: "p w"}
)", "s.yaml").value(), "s.yaml");
  ASSERT_TRUE(secret.ok()) << secret.status().message();
  EXPECT_EQ(secret->data.at("user"), "admin");
  EXPECT_EQ(secret->data.at("password"), "p w");
  Json back = ConfigObjectToManifest(*secret);
  EXPECT_EQ(back["data"]["password"], "cCB3");

  auto map = ConfigObjectFromManifest(ParseYaml("{apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {a: '1'}}", "c").value(), "c.yaml");
  ASSERT_TRUE(map.ok()) << map.status().message();
  EXPECT_EQ(map->kind, ConfigKind::kConfigMap);

  const std::pair<const char*, const char*> bad[] = {
      {"{apiVersion: v1, kind: Secret, metadata: {name: Bad_Name}}", "f.yaml: metadata.name: Invalid value: \"Bad_Name\""},
      {"{apiVersion: v1, kind: Secret, metadata: {name: x}, data: {k: 'not base64!'}}", "f.yaml: data.k: illegal base64 data"},
      {"{apiVersion: v1, kind: Secret, metadata: {name: x}, data: {'../k': YQ==}}", "f.yaml: data.../k: Invalid value"},
      {"{apiVersion: v1, kind: Secret, metadata: {name: x}, immutable: true}", "f.yaml: immutable: not supported on one machine"},
      {"{apiVersion: v1, kind: Pod, metadata: {name: x}}", "f.yaml: kind: expected Secret or ConfigMap"},
  };
  for (const auto& [yaml, want] : bad) {
    auto r = ConfigObjectFromManifest(ParseYaml(yaml, "f").value(), "f.yaml");
    ASSERT_FALSE(r.ok()) << yaml;
    EXPECT_EQ(r.status().message().rfind(want, 0), 0u) << r.status().message();
  }
}

}  // namespace
// metadata.namespace, labels and annotations are kept and printed; each namespace is its own
// set of names (a store sees one), so the same name lives in two.
TEST(ConfigStoreTest, NamespacesLabelsAnnotations) {
  testing::ScratchDir dir;
  auto parsed = ConfigObjectFromManifest(ParseYaml(R"(
apiVersion: v1
kind: ConfigMap
metadata:
  name: limits
  namespace: team
  labels: {workflows.argoproj.io/configmap-type: Parameter}
  annotations: {owner: data}
data: {workflow: "2"}
)", "m").value(), "m.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->namespace_name, "team");
  ConfigStore team(dir.Join("objects"), "team"), other(dir.Join("objects"));
  EXPECT_NE(other.Put(*parsed, false).message().find("the object is in \"team\""), std::string::npos);
  ASSERT_TRUE(team.Put(*parsed, false).ok());
  ConfigObject same = *parsed;
  same.namespace_name = "default";
  same.data = {{"workflow", "5"}};
  ASSERT_TRUE(other.Put(same, false).ok());
  EXPECT_EQ(team.Get(ConfigKind::kConfigMap, "limits").value().data.at("workflow"), "2");
  EXPECT_EQ(other.Get(ConfigKind::kConfigMap, "limits").value().data.at("workflow"), "5");
  EXPECT_EQ(other.List(ConfigKind::kConfigMap).value().size(), 1u);
  const Json back = ConfigObjectToManifest(team.Get(ConfigKind::kConfigMap, "limits").value());
  EXPECT_EQ(back["metadata"]["namespace"], "team");
  EXPECT_EQ(back["metadata"]["labels"]["workflows.argoproj.io/configmap-type"], "Parameter");
  EXPECT_EQ(back["metadata"]["annotations"]["owner"], "data");
  ASSERT_TRUE(team.Delete(ConfigKind::kConfigMap, "limits").ok());
  EXPECT_TRUE(other.Get(ConfigKind::kConfigMap, "limits").ok());
  auto bad = ConfigObjectFromManifest(ParseYaml("{apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: Team_1}}", "b").value(), "b.yaml");
  EXPECT_NE(bad.status().message().find("b.yaml: metadata.namespace: Invalid value: \"Team_1\""), std::string::npos)
      << bad.status().message();
}

}  // namespace loom::container
