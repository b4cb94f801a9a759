#include "core/json.h"
#include "core/yaml_lines.h"

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

// "Billion laughs": 9 anchors each repeating the one before 9 times, 9^9 strings from 1 KB.
TEST(JsonTest, YamlAliasExpansionIsLimited) {
  std::string text = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  for (char c = 'b'; c <= 'i'; ++c) {
    const std::string p = std::string("*") + static_cast<char>(c - 1);
    text += std::string(1, c) + ": &" + c + " [" + p;
    for (int k = 0; k < 8; ++k) text += "," + p;
    text += "]\n";
  }
  auto j = ParseYaml(text, "bomb.yaml");
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().message().rfind("bomb.yaml: line ", 0), 0u) << j.status().message();
  EXPECT_NE(j.status().message().find("more than 200000 values (YAML aliases"), std::string::npos) << j.status().message();
  // A long string repeated through an alias: few values, much text.
  std::string wide = "a: &a \"" + std::string(1 << 20, 'x') + "\"\nb: [";
  for (int k = 0; k < 100; ++k) wide += std::string(k ? "," : "") + "*a";
  wide += "]\n";
  auto w = ParseYaml(wide, "wide.yaml");
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("more than 64 MiB of text"), std::string::npos) << w.status().message();
  // Aliases within the limits are expanded as before.
  auto ok = ParseYaml("base: &b {image: alpine}\nuse: *b\n", "ok.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ((*ok)["use"]["image"], "alpine");
}

TEST(JsonTest, NestingIsLimited) {
  auto y = ParseYaml(std::string(200, '[') + std::string(200, ']'), "deep.yaml");
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("nested more than 128 levels deep"), std::string::npos) << y.status().message();
  auto j = ParseJson("{\"a\": \"[[[\",\n \"b\": " + std::string(200, '[') + std::string(200, ']') + "}", "deep.json");
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().message(), "deep.json: line 2, column 134: nested more than 128 levels deep");
  EXPECT_TRUE(ParseJson(std::string(100, '[') + std::string(100, ']'), "ok.json").ok());
}

// Found by tests/security/fuzz: a stray byte went through yaml-cpp and threw from dump() later.
TEST(JsonTest, YamlMustBeUtf8) {
  auto y = ParseYaml("kind: TFJob\nmetadata: {name: \"a\x98" "b\"}\n", "job.yaml");
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().message(), "job.yaml: line 2, column 20: not UTF-8 text");
  for (const char* bad : {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"}) {
    EXPECT_FALSE(ParseYaml(std::string("a: ") + bad, "x.yaml").ok()) << bad;
  }
  auto ok = ParseYaml("name: \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82\"\n", "ok.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
}

TEST(JsonTest, YamlTextSizeIsLimited) {
  auto y = ParseYaml(std::string((16 << 20) + 1, '#'), "big.yaml");
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().message(), "big.yaml: 16777217 bytes, more than the limit of 16 MiB");
}

// Objects are built with a key index once they pass a few members (nlohmann's own insert scans
// them all): the members keep document order, a repeated key keeps its first place and its last
// value, as nlohmann's reader does, in small and large objects, from YAML and from JSON.
TEST(JsonTest, ObjectsKeepOrderAndTheLastValueOfARepeatedKey) {
  for (int members : {3, 40, 5000}) {
    std::string yaml, json = "{";
    for (int i = 0; i < members; ++i) {
      const std::string key = "k" + std::to_string(members - i);  // not in sorted order
      yaml += key + ": " + std::to_string(i) + "\n";
      json += (i ? "," : "") + ("\"" + key + "\": " + std::to_string(i));
    }
    yaml += "k1: last\nk2: again\n";
    json += ", \"k1\": \"last\", \"k2\": \"again\"}";
    for (auto doc : {ParseYaml(yaml, "x.yaml"), ParseJson(json, "x.json")}) {
      ASSERT_TRUE(doc.ok()) << doc.status().ToString();
      ASSERT_EQ(doc->size(), static_cast<size_t>(members)) << members;
      int i = 0;
      for (const auto& [key, value] : doc->items()) {
        EXPECT_EQ(key, "k" + std::to_string(members - i)) << members;
        if (key == "k1") EXPECT_EQ(value, "last");
        else if (key == "k2") EXPECT_EQ(value, "again");
        else EXPECT_EQ(value, i);
        ++i;
      }
    }
  }
  // Nested objects and arrays around them are placed where they belong.
  auto j = ParseJson(R"({"a": [{"x": 1}, [2, {"y": [3]}]], "b": {"c": {"d": null}}, "e": true})", "n.json");
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ(j->dump(), R"({"a":[{"x":1},[2,{"y":[3]}]],"b":{"c":{"d":null}},"e":true})");
}

TEST(JsonTest, JoinField) {
  EXPECT_EQ(JoinField(JoinField("", "layers"), 2), "layers[2]");
  EXPECT_EQ(JoinField("layers[2]", "units"), "layers[2].units");
}

}  // namespace
}  // namespace loom

namespace loom {
namespace {

TEST(YamlDocumentsTest, SplitKeepsEveryDocumentsLines) {
  const std::string text =
      "# a comment\n"        // 1
      "a: 1\n"               // 2
      "---\n"                // 3
      "# only a comment\n"   // 4
      "---\n"                // 5
      "b:\n"                 // 6
      "  c: 2\n"             // 7
      "--- {d: 3}\n"         // 8
      "...\n"                // 9
      "---\n";               // 10
  const std::vector<std::string> docs = SplitYamlDocuments(text);
  ASSERT_EQ(docs.size(), 3u);
  auto lines = YamlFieldLines(docs[1]);
  ASSERT_TRUE(lines.ok());
  EXPECT_EQ(lines->at("b.c"), 7);
  auto third = ParseYaml(docs[2], "x");
  ASSERT_TRUE(third.ok()) << third.status().message();
  EXPECT_EQ((*third)["d"], 3);
  EXPECT_EQ(YamlFieldLines(docs[2])->at("d"), 8);
  EXPECT_EQ(YamlFieldLines(docs[0])->at("a"), 2);
}

TEST(YamlDocumentsTest, WithFieldLineNamesTheFieldOrItsParent) {
  const std::string text = "spec:\n  replicas:\n    worker: {count: 2}\n";
  EXPECT_EQ(WithFieldLine(InvalidArgument("f.yaml: spec.replicas.worker.count: bad"), "f.yaml", text).message(),
            "f.yaml:3: spec.replicas.worker.count: bad");
  EXPECT_EQ(WithFieldLine(InvalidArgument("f.yaml: spec.replicas.chief: missing"), "f.yaml", text).message(),
            "f.yaml:2: spec.replicas.chief: missing");
  EXPECT_EQ(WithFieldLine(InvalidArgument("other: spec: x"), "f.yaml", text).message(), "other: spec: x");
}

}  // namespace
}  // namespace loom
