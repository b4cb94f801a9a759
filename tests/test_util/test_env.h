// Helpers shared by tests: a scratch directory per test, and where the MNIST files are.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
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

}  // namespace loom::testing
