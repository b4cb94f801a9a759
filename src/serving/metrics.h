// ServingMetrics: request counts and latency histograms in Prometheus text format, under TF
// Serving's metric names (:tensorflow:serving:request_count, :tensorflow:serving:request_latency)
// so existing dashboards read them; with batching on, the sizes of the batches run and the
// examples waiting for one under Loom's own names (:loom:serving:batching:...). Thread-safe;
// Record is one short mutex hold, the batching ones are atomic adds.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace loom::serving {

class ServingMetrics {
 public:
  // One request: model (empty for an unknown one), api ("predict", "infer", ...), entrypoint
  // ("REST" or "GRPC", TF Serving's values), status (TF Serving's code name: "OK",
  // "NOT_FOUND", ...), latency in microseconds.
  void Record(const std::string& model, const std::string& api, const std::string& entrypoint,
              const std::string& status, int64_t latency_us);
  // Adds the batching metrics to the text (the server batches).
  void EnableBatching() { batching_.store(true); }
  // One batch of `examples` run by a BatchingServable.
  void RecordBatch(int64_t examples);
  // Examples queued (delta > 0) or taken into a batch (delta < 0).
  void AddQueuedExamples(int64_t delta) { queued_examples_.fetch_add(delta, std::memory_order_relaxed); }
  // The Prometheus text exposition (version 0.0.4).
  std::string PrometheusText() const;

  // Upper bounds of the batch size histogram's buckets (examples).
  static constexpr std::array<int64_t, 11> kBatchSizeBuckets = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};

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
  // model, api, entrypoint, status
  std::map<std::tuple<std::string, std::string, std::string, std::string>, int64_t> counts_;
  std::map<std::tuple<std::string, std::string, std::string>, Histogram> latency_;  // model, api, entrypoint
  // Batching: batches per size bucket (not cumulative; the last one is +Inf), their count and
  // total examples, and the examples waiting now.
  std::array<std::atomic<int64_t>, kBatchSizeBuckets.size() + 1> batch_buckets_{};
  std::atomic<int64_t> batches_{0};
  std::atomic<int64_t> batched_examples_{0};
  std::atomic<int64_t> queued_examples_{0};
  std::atomic<bool> batching_{false};
};

}  // namespace loom::serving
