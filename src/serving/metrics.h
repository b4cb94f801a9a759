// ServingMetrics: request counts and latency histograms in Prometheus text format, under TF
// Serving's metric names (:tensorflow:serving:request_count, :tensorflow:serving:request_latency)
// so existing dashboards read them. Thread-safe; Record is one short mutex hold.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace loom::serving {

class ServingMetrics {
 public:
  // One request: model (empty for an unknown one), api ("predict", "infer"), entrypoint
  // ("REST"), status (TF Serving's code name: "OK", "NOT_FOUND", ...), latency in microseconds.
  void Record(const std::string& model, const std::string& api, const std::string& status,
              int64_t latency_us);
  // The Prometheus text exposition (version 0.0.4).
  std::string PrometheusText() const;

  // Bucket upper bounds in microseconds (TF Serving's request_latency uses exponential buckets).
  static constexpr std::array<int64_t, 14> kBucketsUs = {
      10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000, 300000, 1000000, 3000000, 10000000, 30000000};

 private:
  struct Histogram {
    std::array<int64_t, kBucketsUs.size()> buckets{};  // counts per bucket (not cumulative)
    int64_t count = 0;
    double sum_us = 0;
  };
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, std::string>, int64_t> counts_;  // model, api, status
  std::map<std::pair<std::string, std::string>, Histogram> latency_;           // model, api
};

}  // namespace loom::serving
