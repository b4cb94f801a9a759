// Helpers for tests that run `loom serve` and `loom train` as processes.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <string>
#include <thread>

#include "test_util/subprocess.h"
#include "test_util/test_env.h"

namespace loom::serving::testing {

// The port from "Exporting HTTP/REST API at:127.0.0.1:<port> ...", waiting up to a minute for
// the line; -1 if it never comes.
inline int WaitForPort(loom::testing::Process& server) {
  std::regex line("Exporting HTTP/REST API at:127\\.0\\.0\\.1:([0-9]+)");
  for (int i = 0; i < 6000; ++i) {
    std::smatch m;
    std::string out = server.OutSoFar();
    if (std::regex_search(out, m, line)) return std::stoi(m[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

// `loom train` for 200 steps on MNIST, exported as version 1 under `base`.
inline void TrainAndExport(const loom::testing::ScratchDir& dir, const std::string& base) {
  auto train = loom::testing::Run({loom::testing::LoomBinary(), "train", "--train_dir=" + dir.Join("train"),
                                   "--train_steps=200", "--data_dir=" + loom::testing::MnistDir(),
                                   "--export_dir=" + base},
                                  dir.path());
  ASSERT_EQ(train.exit_code, 0) << train.err;
}

}  // namespace loom::serving::testing
