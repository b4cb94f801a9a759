// The settings of the Swift (s3api) server that the CTest fixture starts (scripts/swift/start.sh):
// it writes them to $LOOM_SWIFT_DIR/env as KEY=VALUE items separated by whitespace
// (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION). One reader for every
// S3 integration test.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/file.h"

namespace loom::testing {

// The items as written, "KEY=VALUE", ready to hand to a subprocess as its environment. When
// LOOM_SWIFT_DIR is unset or its env file unreadable: a test failure and an empty list.
inline std::vector<std::string> SwiftEnvItems() {
  std::vector<std::string> items;
  const char* dir = std::getenv("LOOM_SWIFT_DIR");
  EXPECT_NE(dir, nullptr) << "LOOM_SWIFT_DIR is not set (run through ctest: the swift fixture sets it)";
  if (dir == nullptr) return items;
  auto text = ReadFile(JoinPath(dir, "env"));
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  if (!text.ok()) return items;
  std::istringstream in(*text);
  std::string item;
  while (in >> item) items.push_back(item);
  return items;
}

// The same settings as KEY -> VALUE (items without '=' are skipped).
inline std::map<std::string, std::string> SwiftEnv() {
  std::map<std::string, std::string> env;
  for (const std::string& item : SwiftEnvItems()) {
    const size_t eq = item.find('=');
    if (eq != std::string::npos) env[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return env;
}

}  // namespace loom::testing
