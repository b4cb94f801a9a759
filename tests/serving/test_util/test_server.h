// The in-process model server of the REST and gRPC API tests: its options, and reading its
// Prometheus metrics.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "core/file.h"
#include "serving/model_server.h"
#include "test_util/test_env.h"

namespace loom::serving::testing {

// A server of `base` as model "mnist" on free ports (REST and gRPC), polling with `clock`,
// serving metrics at metrics_path (empty: none), batching when batching_parameters (TF Serving's
// text format, written to dir/batching.config) is not empty.
inline ModelServerOptions TestServerOptions(const loom::testing::ScratchDir& dir, const std::string& base,
                                            Clock* clock, const std::string& metrics_path,
                                            const std::string& batching_parameters) {
  ModelServerOptions options;
  options.rest_api_port = 0;
  options.grpc_port = 0;
  options.model_name = "mnist";
  options.model_base_path = base;
  options.clock = clock;
  options.metrics_path = metrics_path;
  options.enable_batching = !batching_parameters.empty();
  if (options.enable_batching) {
    options.batching_parameters_file = dir.Join("batching.config");
    EXPECT_TRUE(WriteFileAtomic(options.batching_parameters_file, batching_parameters).ok());
  }
  return options;
}

// The value of a metric line "<name> <value>" in Prometheus text, or -1.
inline int64_t MetricValue(const std::string& text, const std::string& name) {
  size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(text.substr(at + name.size() + 2));
}

}  // namespace loom::serving::testing
