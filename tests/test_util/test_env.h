// Helpers shared by tests: a scratch directory per test, and where the MNIST files are.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
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
