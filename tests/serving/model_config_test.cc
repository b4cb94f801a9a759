#include "serving/model_config.h"

#include <gtest/gtest.h>

#include "core/file.h"
#include "test_util/test_env.h"

namespace loom::serving {
namespace {

// The example from TF Serving's documentation (serving_config.md), two models.
constexpr char kTextConfig[] = R"(
# comment
model_config_list {
  config {
    name: 'mnist'
    base_path: '/models/mnist'
    model_platform: 'tensorflow'
    model_version_policy {
      specific {
        versions: 1
        versions: 2
      }
    }
    version_labels {
      key: 'stable'
      value: 1
    }
    version_labels {
      key: 'canary'
      value: 2
    }
  }
  config {
    name: "other"
    base_path: "file:///models/other"
    model_version_policy { latest { num_versions: 3 } }
  }
}
)";

constexpr char kYamlConfig[] = R"(
model_config_list:
  config:
    - name: mnist
      base_path: /models/mnist
      model_version_policy: {specific: {versions: [1, 2]}}
      version_labels: {stable: 1, canary: 2}
    - name: other
      base_path: file:///models/other
      model_version_policy: {latest: {num_versions: 3}}
)";

void ExpectTheTwoModels(const std::vector<ModelConfig>& models) {
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].name, "mnist");
  EXPECT_EQ(models[0].base_path, "/models/mnist");
  EXPECT_EQ(models[0].policy.kind, VersionPolicy::Kind::kSpecific);
  EXPECT_EQ(models[0].policy.versions, std::vector<int64_t>({1, 2}));
  EXPECT_EQ(models[0].version_labels, (std::map<std::string, int64_t>{{"canary", 2}, {"stable", 1}}));
  EXPECT_EQ(models[1].name, "other");
  EXPECT_EQ(models[1].base_path, "file:///models/other");
  EXPECT_EQ(models[1].policy.kind, VersionPolicy::Kind::kLatest);
  EXPECT_EQ(models[1].policy.num_versions, 3);
  EXPECT_TRUE(models[1].version_labels.empty());
}

TEST(ModelConfigTest, TfServingTextFormatAndYamlGiveTheSameModels) {
  loom::testing::ScratchDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.Join("models.config"), kTextConfig).ok());
  ASSERT_TRUE(WriteFileAtomic(dir.Join("models.yaml"), kYamlConfig).ok());
  auto text = ReadModelConfigFile(dir.Join("models.config"));
  ASSERT_TRUE(text.ok()) << text.status().message();
  ExpectTheTwoModels(*text);
  auto yaml = ReadModelConfigFile(dir.Join("models.yaml"));
  ASSERT_TRUE(yaml.ok()) << yaml.status().message();
  ExpectTheTwoModels(*yaml);
}

TEST(ModelConfigTest, ErrorsNameTheFieldOrTheLine) {
  struct Case { std::string text, part; };
  std::vector<Case> cases = {
      {"model_config_list { config { name: 'a' } }", "c: model_config_list.config[0].base_path: must be set"},
      {"model_config_list { config { base_path: '/x' } }", "config[0].name: must be set"},
      {"model_config_list { config { name: 'a' base_path: '/x' } config { name: 'a' base_path: '/y' } }",
       "config[1].name: \"a\" is configured twice"},
      {"model_config_list { config { name: 'a' base_path: '/x' model_version_policy { } } }",
       "config[0].model_version_policy: must hold one of latest, all, specific"},
      {"model_config_list { config { name: 'a' base_path: '/x' model_version_policy { specific { versions: 0 } } } }",
       "specific.versions[0]: 0 is not a positive integer"},
      {"model_config_list { config { name: 'a' base_path: '/x' model_platform: 'pytorch' } }", "model_platform"},
      {"model_config_list { config { name: 'a' base_path: '/x' version_labels { key: 'l' value: -1 } } }",
       "config[0].version_labels.l: -1 is not a positive integer"},
      {"# nothing but a comment\n", "c: model_config_list: missing"},
      // Syntax and unknown fields: protobuf's TextFormat, with file:line:column.
      {"model_config_list { config { name: 'a'\n base_path: '/x' ", "c:2:"},
      {"model_config_list { config { name 'a' } }", "c:1:"},
      {"model_config_list {\n  config {\n    name: 'a' base_path: '/x'\n    model_version_policy { newest {} }\n  }\n}",
       "c:4:35: Message type \"tensorflow.serving.FileSystemStoragePathSourceConfig.ServableVersionPolicy\" "
       "has no field named \"newest\"."},
      {"model_config_list { config { name: 'a' base_path: '/x' logging_config { } } }",
       "has no field named \"logging_config\""},
      {"model_config_list { config { name: 'a' base_path: 7 } }", "c:1:"},
  };
  for (const Case& c : cases) {
    auto models = ParseModelConfig(c.text, "c");
    ASSERT_FALSE(models.ok()) << c.text;
    EXPECT_NE(models.status().message().find(c.part), std::string::npos)
        << models.status().message() << "\nwant: " << c.part;
  }
}

TEST(ModelConfigTest, YamlErrorsNameTheFileAndField) {
  loom::testing::ScratchDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.Join("m.yaml"), "model_config_list:\n  config:\n    - name: a\n      base_paht: /x\n").ok());
  auto models = ReadModelConfigFile(dir.Join("m.yaml"));
  ASSERT_FALSE(models.ok());
  EXPECT_NE(models.status().message().find("m.yaml: "), std::string::npos) << models.status().message();
  EXPECT_NE(models.status().message().find("base_paht"), std::string::npos) << models.status().message();
}

}  // namespace
}  // namespace loom::serving
