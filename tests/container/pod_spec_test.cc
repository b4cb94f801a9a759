// The typed container fields: quantities as Kubernetes reads them, securityContext merged pod
// then container, resources, and env from the ConfigStore; anything else refused by name.
#include "container/pod_spec.h"

#include <gtest/gtest.h>

#include "test_util/test_env.h"

namespace loom::container {
namespace {

TEST(PodSpecTest, Quantities) {
  EXPECT_EQ(ParseMemoryQuantity("10Mi", "m").value(), 10 << 20);
  EXPECT_EQ(ParseMemoryQuantity("1G", "m").value(), 1000000000);
  EXPECT_EQ(ParseMemoryQuantity("1.5Ki", "m").value(), 1536);
  EXPECT_EQ(ParseMemoryQuantity(Json(1024), "m").value(), 1024);
  EXPECT_EQ(ParseMemoryQuantity("1e3", "m").value(), 1000);
  EXPECT_DOUBLE_EQ(ParseCpuQuantity("500m", "c").value(), 0.5);
  EXPECT_DOUBLE_EQ(ParseCpuQuantity("2", "c").value(), 2);
  EXPECT_EQ(ParseMemoryQuantity("10MB", "limits.memory").status().message().rfind("limits.memory: quantities must match", 0), 0u);
  EXPECT_FALSE(ParseCpuQuantity("", "c").ok());
}

TEST(PodSpecTest, ResourcesAndSecurityContext) {
  auto r = ParseResources(ParseYaml("{limits: {memory: 64Mi, cpu: '1'}, requests: {cpu: 250m}}", "r").value(), "container.resources");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->memory_limit, 64 << 20);
  EXPECT_DOUBLE_EQ(r->cpu_request, 0.25);
  EXPECT_EQ(ParseResources(ParseYaml("{requests: {memory: 2Gi}, limits: {memory: 1Gi}}", "r").value(), "c.resources").status().message(),
            "c.resources.requests.memory: must be less than or equal to memory limit");

  auto sc = ParseSecurityContext(ParseYaml("{runAsUser: 1000, runAsNonRoot: true, supplementalGroups: [5]}", "p").value(),
                                 ParseYaml("{runAsUser: 2000, readOnlyRootFilesystem: true, capabilities: {drop: [ALL], add: [CAP_NET_ADMIN]}}", "c").value(),
                                 "securityContext", "container.securityContext");
  ASSERT_TRUE(sc.ok()) << sc.status().message();
  EXPECT_EQ(*sc->run_as_user, 2000);  // the container's over the pod's
  EXPECT_TRUE(sc->run_as_non_root);
  EXPECT_TRUE(sc->read_only_root_filesystem);
  EXPECT_EQ(sc->capabilities_add, std::vector<std::string>{"NET_ADMIN"});
  EXPECT_EQ(sc->supplemental_groups, std::vector<int64_t>{5});
  EXPECT_EQ(ParseSecurityContext(ParseYaml("{fsGroup: 3}", "p").value(), Json(), "securityContext", "c").status().message(),
            "securityContext.fsGroup: not supported on one machine");
  EXPECT_EQ(ParseSecurityContext(Json(), ParseYaml("{runAsUser: -1}", "c").value(), "p", "container.securityContext").status().message(),
            "container.securityContext.runAsUser: expected an integer from 0 to 2147483647");
}

TEST(PodSpecTest, EnvResolvesFromTheStoreInKubernetesOrder) {
  testing::ScratchDir dir;
  ConfigStore store(dir.Join("objects"));
  ConfigObject s;
  s.name = "db";
  s.data = {{"user", "u"}, {"password", "p"}};
  ASSERT_TRUE(store.Put(s, false).ok());
  auto env = ResolveEnv(ParseYaml(R"({envFrom: [{secretRef: {name: db}, prefix: DB_}],
      env: [{name: DB_user, value: override}, {name: A, value: 1},
            {name: P, valueFrom: {secretKeyRef: {name: db, key: password}}},
            {name: N, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]})", "c").value(),
                        &store, {{"metadata.name", "pod-1"}}, "container");
  ASSERT_TRUE(env.ok()) << env.status().message();
  std::vector<std::string> flat;
  for (const EnvVar& e : *env) flat.push_back(e.name + "=" + e.value);
  EXPECT_EQ(flat, (std::vector<std::string>{"DB_password=p", "DB_user=override", "A=1", "P=p", "N=pod-1"}));
  EXPECT_EQ(ResolveEnv(ParseYaml("{env: [{name: X, valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}}]}", "c").value(),
                       &store, {}, "container").status().message(),
            "container.env[0].valueFrom.fieldRef.fieldPath: \"spec.serviceAccountName\": not supported on one machine");
  EXPECT_EQ(ResolveEnv(ParseYaml("{env: [{name: X, valueFrom: {secretKeyRef: {name: gone, key: k}}}]}", "c").value(),
                       &store, {}, "container").status().message(),
            "container.env[0].valueFrom.secretKeyRef: secret \"gone\" not found");
}

}  // namespace
}  // namespace loom::container
