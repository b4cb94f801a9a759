// Helpers shared by tests: a scratch directory per test, and where the MNIST files are.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>

#include "core/file.h"

namespace loom::testing {

// A fresh directory under $TMPDIR (or /tmp), removed when the object goes away.
class ScratchDir {
 public:
  ScratchDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/loom_test_XXXXXX";
    char* made = mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr);
    path_ = pattern;
  }
  ~ScratchDir() { (void)RemoveAll(path_); }
  const std::string& path() const { return path_; }
  std::string Join(const std::string& name) const { return JoinPath(path_, name); }

 private:
  std::string path_;
};

// Where the four MNIST IDX files are: $LOOM_MNIST_DIR, else <source>/data/mnist.
inline std::string MnistDir() {
  if (const char* env = std::getenv("LOOM_MNIST_DIR"); env && *env) return env;
  const char* src = std::getenv("LOOM_SOURCE_DIR");
  return JoinPath(src ? src : ".", "data/mnist");
}

inline std::string SourceDir() {
  const char* src = std::getenv("LOOM_SOURCE_DIR");
  return src ? src : ".";
}

// The loom executable under test.
inline std::string LoomBinary() {
  const char* bin = std::getenv("LOOM_BINARY");
  return bin ? bin : "loom";
}

// Data-driven cases: each file of `dir` ending in `ext` goes through `describe` (its text and
// name to what the case prints), compared with the .expected file beside it; with
// LOOM_UPDATE_EXPECTED set, the .expected files are rewritten instead (review the diff).
// Returns how many cases ran.
inline int CheckCases(const std::string& dir, const std::string& ext,
                      const std::function<std::string(const std::string& text, const std::string& name)>& describe) {
  auto names = ListDir(dir);
  EXPECT_TRUE(names.ok()) << names.status().ToString();
  if (!names.ok()) return 0;
  std::sort(names->begin(), names->end());
  const bool update = std::getenv("LOOM_UPDATE_EXPECTED") != nullptr;
  int count = 0;
  for (const std::string& name : *names) {
    if (name.size() <= ext.size() || name.substr(name.size() - ext.size()) != ext) continue;
    auto text = ReadFile(JoinPath(dir, name));
    EXPECT_TRUE(text.ok()) << text.status().ToString();
    if (!text.ok()) continue;
    const std::string actual = describe(*text, name);
    const std::string expected_path = JoinPath(dir, name.substr(0, name.size() - ext.size()) + ".expected");
    if (update) {
      EXPECT_TRUE(WriteFileAtomic(expected_path, actual).ok());
    } else {
      auto expected = ReadFile(expected_path);
      EXPECT_TRUE(expected.ok()) << expected_path << ": " << expected.status().ToString();
      if (expected.ok()) EXPECT_EQ(actual, *expected) << "case " << name;
    }
    ++count;
  }
  return count;
}

// The variables of a file that `env > file` wrote (NAME=value per line); empty, with a test
// failure, when it cannot be read.
inline std::map<std::string, std::string> ReadEnvDump(const std::string& path) {
  std::map<std::string, std::string> vars;
  auto text = ReadFile(path);
  EXPECT_TRUE(text.ok()) << path;
  if (!text.ok()) return vars;
  size_t at = 0;
  while (at < text->size()) {
    size_t end = text->find('\n', at);
    if (end == std::string::npos) end = text->size();
    const std::string line = text->substr(at, end - at);
    const size_t eq = line.find('=');
    if (eq != std::string::npos) vars[line.substr(0, eq)] = line.substr(eq + 1);
    at = end + 1;
  }
  return vars;
}

}  // namespace loom::testing
